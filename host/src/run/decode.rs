//! The two ways `run` decodes a FOV, behind one call: the network on a
//! device (`--device`, default the in-process one, the same client path as
//! `robofish stream`), or the host-side classical decoder. Both give
//! [`Detection`]s against the same codebook.

use std::path::Path;

use anyhow::{bail, Context, Result};
use robofish_device::DeviceConfig;
use robofish_shared::classical::{ClassicalDecoder, Params};
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::model::decode_model;
use robofish_shared::protocol::WireSpot;

use super::parts::fingerprint;
use crate::link::{Link, LinkOptions};
use crate::sim::{BitOrder, Codebook, Tile, IMAGE_COUNT};

/// How FOVs are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The int8 network on `--device`.
    Network,
    /// The classical decoder on the host.
    Classical,
}

impl Method {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Method::Network => "network",
            Method::Classical => "classical",
        }
    }
}

/// One spot found in a FOV.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Row, pixels, pixel centres at integers (the post-processing convention).
    pub y: f32,
    /// Column, pixels.
    pub x: f32,
    /// The called word's index in the codebook and its Hamming distance;
    /// `None` when unassigned.
    pub call: Option<(u16, u8)>,
    /// The call's confidence, 0 ..= 1.
    pub confidence: f32,
}

impl Detection {
    /// A spot as a device reports it.
    pub fn from_wire(spot: &WireSpot) -> Detection {
        Detection {
            y: spot.y(),
            x: spot.x(),
            call: spot.is_assigned().then_some((spot.gene, spot.distance)),
            confidence: f32::from(spot.confidence) / 255.0,
        }
    }
}

/// A ready decoder.
pub enum Backend {
    /// A device with the model flashed and the codebook loaded.
    Network(Box<Link>),
    /// The classical decoder's settings.
    Classical {
        /// Its parameters.
        params: Params,
        /// The codebook's words and blank flags.
        words: Vec<u16>,
        /// Blank flag per word.
        blank: Vec<bool>,
        /// Bit layout of the images.
        bit_order: BitOrder,
    },
}

/// What a backend set up: itself, the codebook it calls against and the
/// model identity for the parts.
pub struct Prepared {
    /// The decoder.
    pub backend: Backend,
    /// The codebook the calls index.
    pub codebook: Codebook,
    /// The model's (or parameters') identity.
    pub model: String,
}

/// Sets up `method`. `experiment` is the experiment's codebook; without
/// one the network falls back to its model's.
pub fn prepare(
    method: Method,
    device: &str,
    model: Option<&Path>,
    threads: Option<usize>,
    link_options: &LinkOptions,
    experiment: Option<&Codebook>,
    bit_order: BitOrder,
) -> Result<Prepared> {
    match method {
        Method::Classical => {
            let codebook = experiment
                .cloned()
                .context("the classical decoder needs the experiment's codebook: pass --codebook FILE or put codebook.csv in the data folder")?;
            let params = Params::default();
            let (words, blank) = (codebook.words(), codebook.blank_flags());
            ClassicalDecoder::new(params, &words, &blank, bit_order)
                .context("cannot set up the classical decoder")?;
            Ok(Prepared {
                model: format!(
                    "classical-{}",
                    fingerprint(format!("{params:?}").as_bytes())
                ),
                backend: Backend::Classical {
                    params,
                    words,
                    blank,
                    bit_order,
                },
                codebook,
            })
        }
        Method::Network => prepare_network(device, model, threads, link_options, experiment),
    }
}

fn prepare_network(
    device: &str,
    model: Option<&Path>,
    threads: Option<usize>,
    link_options: &LinkOptions,
    experiment: Option<&Codebook>,
) -> Result<Prepared> {
    let mut config = DeviceConfig::default();
    if let Some(t) = threads {
        config.threads = t.max(1);
    }
    let mut link = Link::open(device, config, link_options)?;
    let ack = link.ack.clone();
    let (info, model_codebook) = match model {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let info = link
                .client
                .flash(&bytes)
                .with_context(|| format!("flashing {} to {device}", path.display()))?;
            let entries = decode_model(&bytes).ok().and_then(|m| m.metadata.codebook);
            (info, entries)
        }
        None => match ack.model {
            Some(info) => (info, None),
            None => bail!("device {device} has no model: pass --model FILE"),
        },
    };
    let codebook = match (experiment, model_codebook) {
        (Some(c), _) => {
            link.client
                .send_codebook(c)
                .with_context(|| format!("sending the codebook to {device}"))?;
            c.clone()
        }
        (None, Some(entries)) if !entries.is_empty() => {
            link.client.reset_codebook()?;
            let entries = entries
                .into_iter()
                .map(|e| robofish_shared::codebook::CodebookEntry {
                    id: e.name.clone(),
                    name: e.name,
                    word: e.word,
                })
                .collect();
            Codebook::from_entries(entries).context("the model's codebook")?
        }
        (None, _) => bail!(
            "no codebook to name the genes: pass --codebook FILE (or --model with a stored codebook)"
        ),
    };
    Ok(Prepared {
        backend: Backend::Network(Box::new(link)),
        codebook,
        model: format!("{:016x}", info.hash),
    })
}

impl Backend {
    /// Decodes FOV `fov`.
    pub fn decode(&mut self, fov: u32, tile: &Tile) -> Result<Vec<Detection>> {
        match self {
            Backend::Network(link) => {
                let frame = crate::streaming::tile_fov(tile);
                link.client.send_fov(fov, &frame)?;
                let result = link.client.collect(fov)?;
                if let Some(e) = result.error {
                    bail!("the device failed on FOV {fov}: {e}");
                }
                Ok(result.spots.iter().map(Detection::from_wire).collect())
            }
            Backend::Classical {
                params,
                words,
                blank,
                bit_order,
            } => {
                let decoder = ClassicalDecoder::new(*params, words, blank, *bit_order)?;
                let pixels = Pixels::U16(&tile.images);
                let image = InputImage::planar(pixels, IMAGE_COUNT, tile.height, tile.width)?;
                Ok(decoder
                    .decode(&image)?
                    .iter()
                    .map(|s| Detection {
                        y: s.y,
                        x: s.x,
                        call: s.call().map(|c| (c.codeword, c.distance)),
                        confidence: s.call().map_or(0.0, |c| c.confidence),
                    })
                    .collect())
            }
        }
    }

    /// Closes a device link.
    pub fn close(self) -> Result<()> {
        match self {
            Backend::Network(link) => link.close(),
            Backend::Classical { .. } => Ok(()),
        }
    }
}
