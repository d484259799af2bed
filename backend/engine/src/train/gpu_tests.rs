//! Training on the GPU backend agrees with the CPU: the same seed gives the same model, the
//! same losses step after step, and a save made on one device resumes on the other.
//! Runs on `wgpu:0` (lavapipe, Mesa's Vulkan driver on the CPU, where there is no GPU).

use super::model::{ModelKind, SwapModelConfig};
use super::session::{resume, save, TrainProgress, TrainingSettings};
use super::step::{Batch, OptimizerSettings, StepLoss, Trainer};
use super::testdata::identity_batch;
use crate::device::{test_gpu, ComputeDevice, Device};

const ITERATIONS: usize = 20;

fn cpu() -> Device {
    ComputeDevice::Cpu.to_burn().unwrap()
}

fn batches() -> (Batch, Batch) {
    (identity_batch("amy", 2, 64), identity_batch("raj", 2, 64))
}

fn settings() -> OptimizerSettings {
    OptimizerSettings { learning_rate: 5e-5, ..OptimizerSettings::default() }
}

/// The model's architecture (layers, kernels, strides, 64 px in and out) at a quarter of its
/// widths: lavapipe emulates a GPU on the CPU's two cores, and 20 iterations of the full
/// Original took 18 minutes there. What is compared is every operation, not the width.
fn narrow(kind: ModelKind) -> SwapModelConfig {
    let mut c = kind.config();
    let quarter = |v: &mut usize| *v = (*v / 4).max(8);
    c.encoder.filters.iter_mut().for_each(quarter);
    for v in [&mut c.encoder.dense, &mut c.encoder.channels, &mut c.encoder.upscale, &mut c.decoder.input] {
        quarter(v);
    }
    c.decoder.filters.iter_mut().for_each(quarter);
    c
}

fn losses(kind: ModelKind, device: &Device) -> Vec<StepLoss> {
    let (a, b) = batches();
    let mut trainer = Trainer::new(&narrow(kind), settings(), device, 11);
    (0..ITERATIONS).map(|_| trainer.step(&a, &b)).collect()
}

fn relative(got: f32, want: f32) -> f32 {
    (got - want).abs() / want.abs().max(1e-12)
}

/// The first loss within 1e-3 (relative) of the CPU run's, every later one within 1%.
fn agrees(kind: ModelKind) {
    let on_cpu = losses(kind, &cpu());
    let on_gpu = losses(kind, &test_gpu());
    let mut worst = 0.0f32;
    for (i, (g, c)) in on_gpu.iter().zip(&on_cpu).enumerate() {
        let bound = if i == 0 { 1e-3 } else { 1e-2 };
        for (side, got, want) in [("A", g.a, c.a), ("B", g.b, c.b)] {
            let r = relative(got, want);
            worst = worst.max(r);
            assert!(r <= bound, "{} iteration {} loss {side}: wgpu {got} vs cpu {want} ({r:.2e} > {bound})", kind.name(), i + 1);
        }
    }
    let first_drop = on_cpu[ITERATIONS - 1].a < on_cpu[0].a;
    println!("{}: {ITERATIONS} iterations, worst relative loss difference wgpu vs cpu {worst:.2e}; first {:?} last {:?}", kind.name(), on_gpu[0], on_gpu[ITERATIONS - 1]);
    assert!(first_drop, "the runs must train, or agreeing proves little: {on_cpu:?}");
}

#[test]
fn original_trains_the_same_on_wgpu_and_cpu() {
    agrees(ModelKind::Original);
}

#[test]
fn lightweight_trains_the_same_on_wgpu_and_cpu() {
    agrees(ModelKind::Lightweight);
}

/// A save made on `from` resumes on `to` and goes on as the run would have on `from`.
fn resumes_across(from: &Device, to: &Device, tag: &str) {
    let dir = std::env::temp_dir().join(format!("doppel-gpu-resume-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (a, b) = batches();
    let mut trainer = Trainer::new(&narrow(ModelKind::Lightweight), settings(), from, 3);
    let mut progress = TrainProgress::default();
    for _ in 0..3 {
        progress.record(trainer.step(&a, &b));
    }
    save(&trainer, &progress, &TrainingSettings::default(), &dir).unwrap();
    let going_on: Vec<StepLoss> = (0..2).map(|_| trainer.step(&a, &b)).collect();
    let (mut resumed, p) = resume(&dir, to).unwrap();
    assert_eq!(p, progress);
    let after: Vec<StepLoss> = (0..2).map(|_| resumed.step(&a, &b)).collect();
    for (x, y) in after.iter().zip(&going_on) {
        assert!(relative(x.a, y.a) < 1e-2 && relative(x.b, y.b) < 1e-2, "{tag}: resumed {after:?} vs going on {going_on:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_save_made_on_wgpu_resumes_on_the_cpu() {
    resumes_across(&test_gpu(), &cpu(), "gpu-to-cpu");
}

#[test]
fn a_save_made_on_the_cpu_resumes_on_wgpu() {
    resumes_across(&cpu(), &test_gpu(), "cpu-to-gpu");
}
