//! `robofish demo`: the main job with the shipped model.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

/// Stream a short simulated acquisition through a device running the
/// shipped int8 model and print the accuracy and timing table.
#[derive(Args, Debug)]
pub struct Demo {
    /// Folder with the shipped models.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

impl Demo {
    pub fn run(self) -> Result<()> {
        let shipped = shipped_models(&self.models);
        if shipped.is_empty() {
            println!(
                "robofish demo: no trained model is shipped yet ({} holds no .rfm file).\n\
                 The trained int8 models arrive with the quantisation work; until then you can\n\
                 exercise every stage that exists today:\n\
                 \n  cargo run --release -p robofish-host -- simulate --preset seed --out scratch/seed --train 0 --val 0 --test 8\n  \
                 cargo run --release -p robofish-host -- render --data scratch/seed --split test --tile 1 --out scratch/tile.png\n  \
                 cargo run --release -p robofish-host -- init --out scratch/untrained.rfm\n  \
                 cargo run --release -p robofish-host -- inspect scratch/untrained.rfm\n  \
                 cargo run --release -p robofish-host -- bench scratch/untrained.rfm --tile 40x40",
                self.models.display()
            );
            return Ok(());
        }
        anyhow::bail!(
            "found {} model file(s) in {}, but streaming to a device is not built yet",
            shipped.len(),
            self.models.display()
        )
    }
}

fn shipped_models(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rfm"))
        .collect();
    found.sort();
    found
}
