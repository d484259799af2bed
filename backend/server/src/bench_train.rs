//! `doppel bench train`: training and inference speed of a swap model next to the same model
//! in TensorFlow (scripts/bench/original_tf.py), in one run so the ratio is taken under the
//! same load.

use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use doppel_engine::train::{Batch, ModelKind, OptimizerSettings, Trainer};
use rand::{Rng, SeedableRng};

use crate::bench::BenchTrainArgs;

/// What the reference prints.
#[derive(Debug, serde::Deserialize)]
struct Reference {
    framework: String,
    train_examples_per_s: f64,
    infer_faces_per_s: f64,
}

pub fn run(args: BenchTrainArgs) -> anyhow::Result<()> {
    let kind = args.model.kind();
    let config = kind.config();
    let (side, out) = (config.input_size(), config.output_size());
    let compute = crate::cli::to_device(args.device);
    let device = compute.to_burn()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut batch = |n: usize| {
        let mut b = Batch::empty(n, side, out);
        b.input = (0..n * 3 * side * side).map(|_| rng.gen()).collect();
        b.target = (0..n * 3 * out * out).map(|_| rng.gen()).collect();
        b.mask = vec![1.0; n * out * out];
        b.eyes = vec![0.0; n * out * out];
        b.mouth = vec![0.0; n * out * out];
        b.size = n;
        b
    };
    if args.layers {
        print_layers(&doppel_engine::train::profile::layer_timings(&config, args.batch_size, 3, &device));
    }
    let (a, b) = (batch(args.batch_size), batch(args.batch_size));
    let mut trainer = Trainer::new(&config, OptimizerSettings::default(), &device, 0);
    println!("doppel bench train: {} ({} parameters), batch {}, {} iterations after {} warm-up, {compute}", kind.name(), trainer.num_params(), args.batch_size, args.iterations, args.warmup);
    for _ in 0..args.warmup {
        trainer.step(&a, &b);
    }
    let clock = Instant::now();
    for _ in 0..args.iterations {
        trainer.step(&a, &b);
    }
    let train = 2.0 * (args.batch_size * args.iterations) as f64 / clock.elapsed().as_secs_f64();

    let faces = batch(args.infer_batch);
    trainer.swap_to_b(&faces);
    let clock = Instant::now();
    let runs = 3;
    for _ in 0..runs {
        trainer.swap_to_b(&faces);
    }
    let infer = (args.infer_batch * runs) as f64 / clock.elapsed().as_secs_f64();
    println!("doppel:    train {train:.2} examples/s, inference {infer:.1} faces/s (batch {})", args.infer_batch);

    if args.no_reference || kind != ModelKind::Original {
        println!("reference: skipped ({})", if args.no_reference { "--no-reference" } else { "the reference implements Original only" });
        return Ok(());
    }
    let reference = reference(&args)?;
    println!("reference: train {:.2} examples/s, inference {:.1} faces/s ({})", reference.train_examples_per_s, reference.infer_faces_per_s, reference.framework);
    println!("inference ratio: {:.2}", infer / reference.infer_faces_per_s);
    println!("ratio: {:.2}", train / reference.train_examples_per_s);
    Ok(())
}

/// Per-block forward and backward times, and each block's share of a step (the encoder runs
/// for both sides and so do their decoders: twice each).
fn print_layers(timings: &[doppel_engine::train::profile::LayerTiming]) {
    let total: f64 = timings.iter().map(|t| t.forward_ms + t.backward_ms).sum();
    println!("{:<40} {:>22} {:>12} {:>10} {:>10} {:>6}", "block", "input", "params", "fwd ms", "bwd ms", "share");
    for t in timings {
        let shape = t.input.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
        println!("{:<40} {:>22} {:>12} {:>10.1} {:>10.1} {:>5.1}%", t.name, shape, t.params, t.forward_ms, t.backward_ms, 100.0 * (t.forward_ms + t.backward_ms) / total);
    }
    println!("{:<40} {:>22} {:>12} {:>10.1} {:>10.1}", "sum (one side)", "", "", timings.iter().map(|t| t.forward_ms).sum::<f64>(), timings.iter().map(|t| t.backward_ms).sum::<f64>());
}

fn reference(args: &BenchTrainArgs) -> anyhow::Result<Reference> {
    anyhow::ensure!(args.reference.is_file(), "the reference {} is missing: run from the repository root, or pass --reference (or --no-reference)", args.reference.display());
    let setup = args.reference.with_file_name("setup-tf.sh");
    let out = Command::new("bash").arg(&setup).output().with_context(|| format!("running {}", setup.display()))?;
    anyhow::ensure!(out.status.success(), "{} failed: {}", setup.display(), String::from_utf8_lossy(&out.stderr).trim());
    let python = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let out = Command::new(&python)
        .arg(&args.reference)
        .args(["--batch", &args.batch_size.to_string(), "--iterations", &args.iterations.to_string(), "--warmup", &args.warmup.to_string()])
        .args(["--threads", &threads.to_string(), "--infer-batch", &args.infer_batch.to_string()])
        .output()
        .with_context(|| format!("running the reference with {python}"))?;
    anyhow::ensure!(out.status.success(), "the reference failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the reference printed no JSON")?;
    serde_json::from_str(json).with_context(|| format!("unexpected reference output: {json}"))
}
