//! Training through libtorch: only with `--features torch`.
#![cfg(feature = "torch")]

use robofish_host::checkpoint::{Checkpoint, CheckpointMeta};
use robofish_host::norm::{measure_normalisation, normalise_tile};
use robofish_host::onnx::{onnx_bytes, TractModel};
use robofish_host::sim::{preset, Codebook, Simulator, Split, Tile};
use robofish_host::train::loss::{loss, reference_loss, BarcodeTarget};
use robofish_host::train::net::{Net, WeightInit};
use robofish_host::train::optim::{clip_grad_norm, AdamW, AdamWConfig};
use robofish_host::train::trainer::{self, TensorSet, TrainConfig};
use robofish_shared::codebook::BitOrder;
use robofish_shared::model::ArchConfig;
use tch::{Device, Kind, Tensor};

fn tiles(split: Split, n: usize) -> Vec<Tile> {
    preset_tiles("seed", split, n)
}

fn preset_tiles(name: &str, split: Split, n: usize) -> Vec<Tile> {
    let config = preset(name).unwrap();
    let codebook = Codebook::mhd4(config.real_genes);
    let sim = Simulator::new(config, codebook, 11).unwrap();
    (0..n).map(|i| sim.tile(split, i)).collect()
}

fn narrow() -> ArchConfig {
    ArchConfig::seed().scaled(0.125)
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.to_device(Device::Cpu).contiguous().view([-1])).unwrap()
}

#[test]
fn vectorised_loss_equals_the_per_pixel_reference() {
    tch::manual_seed(3);
    let shapes = [(3i64, 8i64, 8i64), (2, 4, 12)];
    for ((n, h, w), rule) in shapes
        .into_iter()
        .flat_map(|s| [(s, BarcodeTarget::Pixel), (s, BarcodeTarget::Neighbourhood)])
    {
        let pl = Tensor::randn([n, 1, h, w], (Kind::Float, Device::Cpu)) * 3.0;
        let bl = Tensor::randn([n, 16, h, w], (Kind::Float, Device::Cpu)) * 3.0;
        let pt = Tensor::rand([n, 1, h, w], (Kind::Float, Device::Cpu))
            .gt(0.8)
            .to_kind(Kind::Float);
        let bt = Tensor::rand([n, 16, h, w], (Kind::Float, Device::Cpu))
            .gt(0.75)
            .to_kind(Kind::Float)
            * &pt;
        let l = loss(&pl, &bl, &pt, &bt, rule).unwrap();
        let (total, pos, bc) = reference_loss(
            n as usize,
            16,
            h as usize,
            w as usize,
            &to_vec(&pl),
            &to_vec(&bl),
            &to_vec(&pt),
            &to_vec(&bt),
            rule,
        );
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
        assert!(
            close(l.position.double_value(&[]), pos),
            "{rule:?}: {} {pos}",
            l.position.double_value(&[])
        );
        assert!(
            close(l.barcode.double_value(&[]), bc),
            "{rule:?}: {} {bc}",
            l.barcode.double_value(&[])
        );
        assert!(close(l.total.double_value(&[]), total));
    }
    // No emitters at all: the barcode loss is the plain mean.
    let z = Tensor::zeros([1, 1, 4, 4], (Kind::Float, Device::Cpu));
    let zb = Tensor::zeros([1, 16, 4, 4], (Kind::Float, Device::Cpu));
    let l = loss(&z, &zb, &z, &zb, BarcodeTarget::Pixel).unwrap();
    let (_, _, bc) = reference_loss(
        1,
        16,
        4,
        4,
        &[0.0; 16],
        &[0.0; 256],
        &[0.0; 16],
        &[0.0; 256],
        BarcodeTarget::Pixel,
    );
    assert!((l.barcode.double_value(&[]) - bc).abs() < 1e-6);
    assert!((bc - std::f64::consts::LN_2).abs() < 1e-6);
}

#[test]
fn narrow_model_loss_falls_well_below_its_start() {
    tch::set_num_threads(1);
    // The `easy` preset: bright sparse spots, so a 1/8-width network gets
    // past the constant-prediction plateau (total loss about 24.5) within a
    // few dozen steps.
    let train = preset_tiles("easy", Split::Train, 32);
    let norm = measure_normalisation(&train);
    let set = TensorSet::new(
        &train,
        robofish_shared::input_stage::InputStage::Fixed,
        &norm,
        Device::Cpu,
    )
    .unwrap();
    let net = Net::new(&narrow(), Device::Cpu, 1, WeightInit::Uniform).unwrap();
    let params = net.trainable();
    // A narrow model takes a larger step than the full network's 1e-3.
    let mut optim = AdamW::new(AdamWConfig::new(3e-3), &params);
    let mut losses = Vec::new();
    for step in 0..60i64 {
        let start = (step * 8) % 32;
        let x = set.input.narrow(0, start, 8);
        let (pl, bl) = net.forward_logits(&x).unwrap();
        let l = loss(
            &pl,
            &bl,
            &set.position.narrow(0, start, 8),
            &set.barcode.narrow(0, start, 8),
            BarcodeTarget::Pixel,
        )
        .unwrap();
        for p in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        l.total.backward();
        clip_grad_norm(&params, 0.01);
        optim.step(&params);
        losses.push(l.total.double_value(&[]));
    }
    let first = losses[..4].iter().sum::<f64>() / 4.0;
    let last = losses[losses.len() - 4..].iter().sum::<f64>() / 4.0;
    // The claim is "past the plateau": 22 is 10 % under it. The ratio only
    // guards against a start that was already low; at 0.7 it failed once
    // (28.1 -> 20.1, after a loss spike at step 21: the trajectory depends
    // on libtorch's thread count, which tests running beside this one set).
    assert!(
        last < 0.8 * first && last < 22.0,
        "loss {first:.4} -> {last:.4}: {losses:?}"
    );
}

/// How much of the input reaches the heads at initialisation: the spread
/// over pixels of the barcode logits for one tile of unit-variance noise.
fn head_spread(init: WeightInit) -> f64 {
    let arch = ArchConfig::seed().scaled(0.25);
    let net = Net::new(&arch, Device::Cpu, 4, init).unwrap();
    tch::manual_seed(8);
    let x = Tensor::randn([1, 16, 32, 32], (Kind::Float, Device::Cpu));
    let (pos, bits) = tch::no_grad(|| net.forward_logits(&x).unwrap());
    if init == WeightInit::He {
        // The heads start biased towards background.
        let mean = |t: &Tensor| t.mean(Kind::Double).double_value(&[]);
        assert!(
            (mean(&pos) + 4.0).abs() < 1.0,
            "position logits {}",
            mean(&pos)
        );
        assert!(
            (mean(&bits) + 2.0).abs() < 1.0,
            "bit logits {}",
            mean(&bits)
        );
    }
    // Spread over pixels per bit (not between bits, which the biases set).
    bits.std_dim(&[2i64, 3][..], true, false)
        .mean(Kind::Double)
        .double_value(&[])
}

#[test]
fn he_init_carries_the_input_to_the_heads() {
    let (uniform, he) = (
        head_spread(WeightInit::Uniform),
        head_spread(WeightInit::He),
    );
    println!("barcode logits' spread over pixels at init: uniform {uniform:.2e}, he {he:.3}");
    // Measured: uniform 8-9e-5 (the input is lost among the biases), he 2.15.
    assert!(he > 0.2 && he < 5.0, "he: barcode logits spread {he}");
    assert!(uniform < 0.1 * he, "uniform {uniform} vs he {he}");
}

#[test]
fn batch_norm_folds_into_the_checkpoint_exactly_enough() {
    let arch = narrow();
    let net = Net::new(&arch, Device::Cpu, 6, WeightInit::He)
        .unwrap()
        .with_batch_norm();
    // Statistics and scales away from the identity, as after training
    // (but not so far that ~14 layers blow the logits up: the check is
    // relative to their size).
    tch::manual_seed(12);
    tch::no_grad(|| {
        for p in &net.params {
            if let Some(bn) = &p.batch_norm {
                let n = bn.gamma.size()[0];
                let opts = (Kind::Float, Device::Cpu);
                let set = |t: &Tensor, v: Tensor| t.shallow_clone().copy_(&v);
                set(&bn.gamma, Tensor::rand([n], opts) * 0.6 + 0.7);
                set(&bn.beta, Tensor::randn([n], opts) * 0.2);
                set(&bn.mean, Tensor::randn([n], opts) * 0.2);
                set(&bn.var, Tensor::rand([n], opts) * 0.6 + 0.7);
            }
        }
    });
    let folded = net.to_tensors().unwrap();
    assert!(
        folded.keys().all(|k| !k.contains(".bn.")),
        "{:?}",
        folded.keys()
    );
    let mut plain = Net::new(&arch, Device::Cpu, 7, WeightInit::Uniform).unwrap();
    plain.load_tensors(&folded).unwrap();
    let x = Tensor::randn([2, 16, 16, 16], (Kind::Float, Device::Cpu));
    let (p, b) = tch::no_grad(|| net.forward_logits(&x).unwrap());
    let (q, c) = tch::no_grad(|| plain.forward_logits(&x).unwrap());
    let worst = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    let scale = |a: &Tensor| a.abs().max().double_value(&[]).max(1.0);
    let (dp, db) = (worst(&p, &q) / scale(&p), worst(&b, &c) / scale(&b));
    println!(
        "folded vs batch-normalised logits: largest difference {dp:.1e} (position), {db:.1e} \
         (bits) of the largest logit ({:.1}, {:.1})",
        scale(&p),
        scale(&b)
    );
    // Measured 9.3e-6 / 2.6e-6: f32 rounding of the folded weights, which
    // libtorch's thread count moves; a wrong fold is off by O(1).
    assert!(dp < 1e-4 && db < 1e-4, "{dp} {db}");
    // Training-mode statistics differ from the running ones: the flag is live.
    net.batch_statistics.set(true);
    let (r, _) = tch::no_grad(|| net.forward_logits(&x).unwrap());
    net.batch_statistics.set(false);
    assert!(worst(&p, &r) > 1e-2, "batch statistics had no effect");
    assert_eq!(net.parameter_count(), plain.parameter_count());
}

#[test]
fn checkpoint_round_trip_is_exact_and_tract_agrees_with_tch() {
    let mut arch = narrow();
    arch.shared_first_stage = true;
    let net = Net::new(&arch, Device::Cpu, 5, WeightInit::Uniform).unwrap();
    let test = tiles(Split::Test, 2);
    let norm = measure_normalisation(&test);
    let ckpt = Checkpoint {
        meta: CheckpointMeta {
            arch: arch.clone(),
            normalisation: norm.clone(),
            input_stage: robofish_shared::input_stage::InputStage::Fixed,
            bit_order: BitOrder::Blocked,
            epoch: 1,
            val_loss: 0.5,
        },
        tensors: net.to_tensors().unwrap(),
    };
    let back = Checkpoint::from_bytes(&ckpt.to_bytes().unwrap()).unwrap();
    assert_eq!(back, ckpt);
    let mut other = Net::new(&arch, Device::Cpu, 99, WeightInit::Uniform).unwrap();
    other.load_tensors(&back.tensors).unwrap();
    assert_eq!(other.to_tensors().unwrap(), ckpt.tensors);

    let model = back.to_float_model().unwrap();
    let bytes = onnx_bytes(&model, "test");
    let tile = &test[0];
    let tract = TractModel::load(&bytes, 1, tile.height, tile.width).unwrap();
    let raw: Vec<f32> = tile.images.iter().map(|&v| v as f32).collect();
    let (tp, tb) = tract.run(&raw, None).unwrap();
    let x = Tensor::from_slice(&normalise_tile(tile, &norm)).view([1, 16, 40, 40]);
    let (p, b) = tch::no_grad(|| other.forward(&x).unwrap());
    let (a, c) = tch::no_grad(|| net.forward(&x).unwrap());
    assert_eq!(
        to_vec(&p),
        to_vec(&a),
        "loaded net differs from the saved one"
    );
    let diff = |x: &[f32], y: &[f32]| {
        assert_eq!(x.len(), y.len());
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    };
    assert!(
        diff(&tp, &to_vec(&p)) < 1e-4,
        "position {}",
        diff(&tp, &to_vec(&p))
    );
    assert!(
        diff(&tb, &to_vec(&b)) < 1e-4,
        "barcode {}",
        diff(&tb, &to_vec(&b))
    );
    assert_eq!(to_vec(&c).len(), 16 * 1600);
}

/// A short run of the narrow network on CPU: per-image input, the
/// neighbourhood barcode target, augmentation.
fn run_config(epochs: usize, lr_schedule: trainer::LrSchedule, seed: u64) -> TrainConfig {
    TrainConfig {
        arch: narrow(),
        epochs,
        batch_size: 8,
        lr: 1e-3,
        lr_schedule,
        grad_clip: 0.01,
        barcode_target: BarcodeTarget::Neighbourhood,
        init: WeightInit::He,
        batch_norm: false,
        seed,
        augment: true,
        print_every: 0,
        data: "test".into(),
        bit_order: BitOrder::Blocked,
        normalisation: None,
        input_stage: robofish_shared::input_stage::InputStage::PerImage,
        device: "cpu".into(),
        qat: None,
    }
}

#[test]
fn trainer_writes_a_run_and_resumes() {
    let dir = std::env::temp_dir().join(format!("robofish-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let train = tiles(Split::Train, 16);
    let val = tiles(Split::Val, 4);
    let config = |epochs| run_config(epochs, trainer::LrSchedule::Cosine, 2);
    let first = trainer::train(config(2), &train, &val, &dir, Device::Cpu, false).unwrap();
    assert_eq!(first.epochs.len(), 2);
    for f in [
        "config.json",
        "best.safetensors",
        "last.safetensors",
        "last.optim.safetensors",
        "metrics.csv",
        "loss.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let resumed = trainer::train(config(3), &train, &val, &dir, Device::Cpu, true).unwrap();
    assert_eq!(resumed.epochs.len(), 3);
    assert_eq!(trainer::read_metrics(&dir).unwrap().len(), 3);
    let last = Checkpoint::read(&dir.join("last.safetensors")).unwrap();
    assert_eq!(
        last.meta.input_stage,
        robofish_shared::input_stage::InputStage::PerImage
    );
    assert_eq!(last.meta.epoch, 3);
    assert!(last.to_float_model().is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Batches, augmentation and the learning rate depend on `(seed, epoch)`
/// and the optimiser's state is saved, so two epochs, a stop and a resume
/// to three must give the weights of three epochs in one go.
#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let base = std::env::temp_dir().join(format!("robofish-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (once, twice) = (base.join("once"), base.join("twice"));
    let train = tiles(Split::Train, 16);
    let val = tiles(Split::Val, 4);
    // Cosine would depend on the planned total, which a resume to more
    // epochs changes by design.
    // With batch normalisation: its running statistics must survive the
    // resume too (last.train.safetensors).
    let config = |epochs| TrainConfig {
        batch_norm: true,
        ..run_config(epochs, trainer::LrSchedule::Constant, 3)
    };
    trainer::train(config(3), &train, &val, &once, Device::Cpu, false).unwrap();
    trainer::train(config(2), &train, &val, &twice, Device::Cpu, false).unwrap();
    trainer::train(config(3), &train, &val, &twice, Device::Cpu, true).unwrap();
    let a = Checkpoint::read(&once.join("last.safetensors")).unwrap();
    let b = Checkpoint::read(&twice.join("last.safetensors")).unwrap();
    assert_eq!(a.meta.epoch, 3);
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    let mut worst = 0f32;
    for (name, t) in &a.tensors {
        let u = &b.tensors[name];
        assert_eq!(t.shape, u.shape, "{name}");
        for (x, y) in t.data.iter().zip(&u.data) {
            worst = worst.max((x - y).abs());
        }
    }
    println!("resumed vs uninterrupted: largest weight difference {worst:e}");
    assert_eq!(
        worst, 0.0,
        "the resumed run drifted from the uninterrupted one"
    );
    let metrics = |dir: &std::path::Path| std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    // Same losses and validation figures, epoch by epoch (the last
    // column, seconds, aside).
    let losses = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(rest, _)| rest).to_string())
            .collect()
    };
    assert_eq!(losses(metrics(&once)), losses(metrics(&twice)));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn cosine_schedule_runs_from_peak_to_a_fiftieth() {
    let s = trainer::LrSchedule::Cosine;
    assert_eq!(s.lr_at(1e-3, 0, 100), 1e-3);
    assert!((s.lr_at(1e-3, 100, 100) - 2e-5).abs() < 1e-12);
    let mid = s.lr_at(1e-3, 50, 100);
    assert!((mid - (1e-3 + 2e-5) / 2.0).abs() < 1e-12);
    assert!(s.lr_at(1e-3, 30, 100) > s.lr_at(1e-3, 31, 100));
    assert_eq!(trainer::LrSchedule::Constant.lr_at(1e-3, 99, 100), 1e-3);
}
