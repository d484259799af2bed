//! Where a training step's time goes: each block of a model's encoder and decoder timed on
//! its own, forward and backward (gradients of its weights and of its input), at the shapes
//! the model gives it. For `doppel bench train --layers`.

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor};

use super::blocks::{DownConfig, ResidualConfig, UpscaleConfig};
use super::model::SwapModelConfig;

/// One block's timing, in milliseconds per call (the median of the repeats).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTiming {
    pub name: String,
    /// Input shape, NCHW (or N x features).
    pub input: Vec<usize>,
    pub params: usize,
    pub forward_ms: f64,
    pub backward_ms: f64,
}

/// Times every block of `config` at batch `batch` (the decoder once: both are alike).
pub fn layer_timings(config: &SwapModelConfig, batch: usize, repeats: usize, device: &Device) -> Vec<LayerTiming> {
    let ad = device.clone().autodiff();
    let mut out = Vec::new();
    let enc = &config.encoder;
    let (mut side, mut c) = (enc.input, 3);
    for (i, &f) in enc.filters.iter().enumerate() {
        let block = DownConfig::new([c, f]).init(&ad);
        out.push(time(format!("encoder conv {} (5x5/2, {c}->{f})", i + 1), [batch, c, side, side], block.num_params(), repeats, &ad, |x| block.forward(x)));
        (side, c) = (side / 2, f);
    }
    let flat = c * side * side;
    let dense = LinearConfig::new(flat, enc.dense).init(&ad);
    out.push(time(format!("encoder dense ({flat}->{})", enc.dense), [batch, flat], dense.num_params(), repeats, &ad, |x| super::dense::forward(&dense, x)));
    let wide = enc.channels * enc.side * enc.side;
    let expand = LinearConfig::new(enc.dense, wide).init(&ad);
    out.push(time(format!("encoder dense ({}->{wide})", enc.dense), [batch, enc.dense], expand.num_params(), repeats, &ad, |x| super::dense::forward(&expand, x)));
    let up = UpscaleConfig::new([enc.channels, enc.upscale]).init(&ad);
    out.push(time(format!("encoder upscale ({}->{})", enc.channels, enc.upscale), [batch, enc.channels, enc.side, enc.side], up.num_params(), repeats, &ad, |x| up.forward(x)));
    let dec = &config.decoder;
    let (mut side, mut c) = (2 * enc.side, dec.input);
    for (i, &f) in dec.filters.iter().enumerate() {
        let block = UpscaleConfig::new([c, f]).init(&ad);
        out.push(time(format!("decoder upscale {} ({c}->{f})", i + 1), [batch, c, side, side], block.num_params(), repeats, &ad, |x| block.forward(x)));
        (side, c) = (side * 2, f);
        if dec.residual && i + 1 < dec.filters.len() {
            let r = ResidualConfig::new(c).init(&ad);
            out.push(time(format!("decoder residual {} ({c})", i + 1), [batch, c, side, side], r.num_params(), repeats, &ad, |x| r.forward(x)));
        }
    }
    let conv = Conv2dConfig::new([c, 3], [5, 5]).with_padding(PaddingConfig2d::Same).init(&ad);
    out.push(time(format!("decoder output (5x5, {c}->3)"), [batch, c, side, side], conv.num_params(), repeats, &ad, |x| super::conv::forward(&conv, x)));
    out
}

fn time<const D: usize>(name: String, shape: [usize; D], params: usize, repeats: usize, device: &Device, f: impl Fn(Tensor<D>) -> Tensor<D>) -> LayerTiming {
    measure(name, &shape, params, repeats, || {
        let x = Tensor::<D>::random(shape, Distribution::Uniform(0.0, 1.0), device).require_grad();
        let t = Instant::now();
        let y = f(x);
        let forward = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _grads = y.sum().backward();
        (forward, t.elapsed().as_secs_f64())
    })
}

/// One untimed run, then the median of `repeats`.
fn measure(name: String, shape: &[usize], params: usize, repeats: usize, mut run: impl FnMut() -> (f64, f64)) -> LayerTiming {
    run();
    let mut f = Vec::new();
    let mut b = Vec::new();
    for _ in 0..repeats.max(1) {
        let (x, y) = run();
        f.push(x);
        b.push(y);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1000.0
    };
    LayerTiming { name, input: shape.to_vec(), params, forward_ms: median(&mut f), backward_ms: median(&mut b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::ModelKind;

    #[test]
    fn every_block_is_timed_with_its_parameters() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let config = ModelKind::Lightweight.config();
        let t = layer_timings(&config, 1, 1, &device);
        // 3 convolutions, 2 dense, the encoder's upscale, 3 decoder upscales, the output.
        assert_eq!(t.len(), 10);
        let params: usize = t.iter().map(|l| l.params).sum();
        let model = config.init(&device);
        // The encoder once and one decoder: the model minus the other decoder.
        assert_eq!(params, model.encoder.num_params() + model.decoder_a.num_params());
        assert!(t.iter().all(|l| l.forward_ms > 0.0 && l.backward_ms > 0.0));
    }
}
