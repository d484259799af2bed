//! The swap autoencoder: one shared encoder, one decoder per identity. A face of A through
//! the encoder and decoder B comes out as B with A's pose and expression.
//!
//! One configurable family; [`ModelKind`] names the presets users know from faceswap.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::blocks::{Down, DownConfig, Residual, ResidualConfig, Upscale, UpscaleConfig};

/// Strided convolutions down to a small map, two dense layers (the bottleneck), one upscale.
#[derive(Config, Debug)]
pub struct EncoderConfig {
    /// Side of the square input.
    pub input: usize,
    /// Output channels of each stride-2 convolution.
    pub filters: Vec<usize>,
    /// Width of the bottleneck.
    pub dense: usize,
    /// Side and channels of the map the bottleneck is reshaped to.
    pub side: usize,
    pub channels: usize,
    /// Channels after the encoder's upscale (what the decoders get).
    pub upscale: usize,
}

#[derive(Module, Debug)]
pub struct Encoder {
    downs: Vec<Down>,
    dense: Linear,
    expand: Linear,
    upscale: Upscale,
    side: usize,
    channels: usize,
}

impl EncoderConfig {
    pub fn init(&self, device: &Device) -> Encoder {
        let mut c_in = 3;
        let downs = self
            .filters
            .iter()
            .map(|&c| {
                let d = DownConfig::new([c_in, c]).init(device);
                c_in = c;
                d
            })
            .collect();
        let flat_side = self.input >> self.filters.len();
        Encoder {
            downs,
            dense: LinearConfig::new(c_in * flat_side * flat_side, self.dense).init(device),
            expand: LinearConfig::new(self.dense, self.channels * self.side * self.side).init(device),
            upscale: UpscaleConfig::new([self.channels, self.upscale]).init(device),
            side: self.side,
            channels: self.channels,
        }
    }
}

impl Encoder {
    /// `[b, 3, input, input]` in `[0, 1]` -> `[b, upscale, 2 side, 2 side]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.downs.iter().fold(x, |x, d| d.forward(x));
        let [b, _, _, _] = x.dims();
        let x = super::dense::forward(&self.expand, super::dense::forward(&self.dense, x.flatten::<2>(1, 3)));
        self.upscale.forward(x.reshape([b, self.channels, self.side, self.side]))
    }
}

/// Upscales back to the face, then a 5x5 convolution to RGB and a sigmoid; optionally a
/// residual block after each upscale but the last, and a second branch of upscales that
/// learns the face's mask.
#[derive(Config, Debug)]
pub struct DecoderConfig {
    /// Channels of the encoder's output.
    pub input: usize,
    /// Output channels of each upscale.
    pub filters: Vec<usize>,
    /// A residual block after each upscale but the last (Dfaker).
    #[config(default = false)]
    pub residual: bool,
    /// Learn a mask: a branch of the same upscales ending in one sigmoid channel.
    #[config(default = false)]
    pub learn_mask: bool,
}

#[derive(Module, Debug)]
pub struct Decoder {
    upscales: Vec<Upscale>,
    residuals: Vec<Residual>,
    output: Conv2d,
    mask: Option<MaskBranch>,
}

/// The learned mask's own upscales and output.
#[derive(Module, Debug)]
pub struct MaskBranch {
    upscales: Vec<Upscale>,
    output: Conv2d,
}

/// What a decoder makes: the face, and its mask when the model learns one.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub face: Tensor<4>,
    pub mask: Option<Tensor<4>>,
}

fn upscales(input: usize, filters: &[usize], device: &Device) -> (Vec<Upscale>, usize) {
    let mut c_in = input;
    let ups = filters
        .iter()
        .map(|&c| {
            let u = UpscaleConfig::new([c_in, c]).init(device);
            c_in = c;
            u
        })
        .collect();
    (ups, c_in)
}

fn output_conv(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [5, 5]).with_padding(PaddingConfig2d::Same).init(device)
}

impl DecoderConfig {
    pub fn init(&self, device: &Device) -> Decoder {
        let (ups, c_out) = upscales(self.input, &self.filters, device);
        let residuals = if self.residual { self.filters.iter().take(self.filters.len().saturating_sub(1)).map(|&c| ResidualConfig::new(c).init(device)).collect() } else { Vec::new() };
        let mask = self.learn_mask.then(|| {
            let (ups, c) = upscales(self.input, &self.filters, device);
            MaskBranch { upscales: ups, output: output_conv(c, 1, device) }
        });
        Decoder { upscales: ups, residuals, output: output_conv(c_out, 3, device), mask }
    }
}

impl Decoder {
    /// Encoder output -> `[b, 3, side, side]` in `[0, 1]`, and the mask `[b, 1, side, side]`.
    pub fn forward(&self, x: Tensor<4>) -> Decoded {
        let mask = self.mask.as_ref().map(|m| sigmoid(super::conv::forward(&m.output, m.upscales.iter().fold(x.clone(), |x, u| u.forward(x)))));
        let mut y = x;
        for (i, up) in self.upscales.iter().enumerate() {
            y = up.forward(y);
            if let Some(r) = self.residuals.get(i) {
                y = r.forward(y);
            }
        }
        Decoded { face: sigmoid(super::conv::forward(&self.output, y)), mask }
    }
}

/// The models users pick by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// faceswap's Original: 64 px, four 5x5 convolutions 128..1024, dense 1024, 4x4x1024.
    Original,
    /// A smaller Original for low memory: three convolutions 128..512, dense 512, 4x4x512.
    Lightweight,
    /// Dfaker: Original's encoder (to 8x8x512), 64 px in, 128 px out through a residual
    /// decoder.
    Dfaker,
    /// DeepFaceLab's H128: 128 px in and out, dense 512, 8x8x512.
    DflH128,
}

impl ModelKind {
    pub const ALL: [ModelKind; 4] = [ModelKind::Original, ModelKind::Lightweight, ModelKind::Dfaker, ModelKind::DflH128];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Original => "original",
            ModelKind::Lightweight => "lightweight",
            ModelKind::Dfaker => "dfaker",
            ModelKind::DflH128 => "dfl-h128",
        }
    }

    /// The preset, without a learned mask.
    pub fn config(self) -> SwapModelConfig {
        match self {
            ModelKind::Original => SwapModelConfig::new(
                self,
                EncoderConfig::new(64, vec![128, 256, 512, 1024], 1024, 4, 1024, 512),
                DecoderConfig::new(512, vec![256, 128, 64]),
            ),
            ModelKind::Lightweight => SwapModelConfig::new(
                self,
                EncoderConfig::new(64, vec![128, 256, 512], 512, 4, 512, 256),
                DecoderConfig::new(256, vec![128, 64, 32]),
            ),
            ModelKind::Dfaker => SwapModelConfig::new(
                self,
                EncoderConfig::new(64, vec![128, 256, 512, 1024], 1024, 4, 1024, 512),
                DecoderConfig::new(512, vec![512, 256, 128, 64]).with_residual(true),
            ),
            ModelKind::DflH128 => SwapModelConfig::new(
                self,
                EncoderConfig::new(128, vec![128, 256, 512, 1024], 512, 8, 512, 512),
                DecoderConfig::new(512, vec![512, 256, 128]),
            ),
        }
    }

    /// The preset, with or without a learned mask.
    pub fn config_with_mask(self, learn_mask: bool) -> SwapModelConfig {
        let mut c = self.config();
        c.decoder.learn_mask = learn_mask;
        c
    }
}

/// A whole model: what `config.json` beside the weights holds.
#[derive(Config, Debug)]
pub struct SwapModelConfig {
    pub kind: ModelKind,
    pub encoder: EncoderConfig,
    pub decoder: DecoderConfig,
}

#[derive(Module, Debug)]
pub struct SwapModel {
    pub encoder: Encoder,
    pub decoder_a: Decoder,
    pub decoder_b: Decoder,
}

impl SwapModelConfig {
    pub fn init(&self, device: &Device) -> SwapModel {
        SwapModel { encoder: self.encoder.init(device), decoder_a: self.decoder.init(device), decoder_b: self.decoder.init(device) }
    }

    /// Side of the faces the model takes.
    pub fn input_size(&self) -> usize {
        self.encoder.input
    }

    /// Side of the faces the model makes.
    pub fn output_size(&self) -> usize {
        (2 * self.encoder.side) << self.decoder.filters.len()
    }
}

impl SwapModel {
    /// Faces through the encoder and decoder A.
    pub fn forward_a(&self, x: Tensor<4>) -> Tensor<4> {
        self.decode_a(x).face
    }

    /// Faces through the encoder and decoder B (A -> B is the swap).
    pub fn forward_b(&self, x: Tensor<4>) -> Tensor<4> {
        self.decode_b(x).face
    }

    /// Faces and learned masks through the encoder and decoder A.
    pub fn decode_a(&self, x: Tensor<4>) -> Decoded {
        self.decoder_a.forward(self.encoder.forward(x))
    }

    /// Faces and learned masks through the encoder and decoder B.
    pub fn decode_b(&self, x: Tensor<4>) -> Decoded {
        self.decoder_b.forward(self.encoder.forward(x))
    }

    /// Whether the decoders learn a mask.
    pub fn learns_mask(&self) -> bool {
        self.decoder_a.mask.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_documented_shapes_and_sizes() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let sizes = [(ModelKind::Original, 64, 64), (ModelKind::Lightweight, 64, 64), (ModelKind::Dfaker, 64, 128), (ModelKind::DflH128, 128, 128)];
        for (kind, input, output) in sizes {
            let config = kind.config_with_mask(kind == ModelKind::Lightweight);
            assert_eq!((config.input_size(), config.output_size()), (input, output), "{kind:?}");
            let model = config.init(&device);
            let x = Tensor::<4>::zeros([1, 3, input, input], &device);
            let out = model.decode_a(x.clone());
            assert_eq!(out.face.dims(), [1, 3, output, output]);
            assert_eq!(out.mask.map(|m| m.dims()), (kind == ModelKind::Lightweight).then_some([1, 1, output, output]));
            assert_eq!(model.forward_b(x).dims(), [1, 3, output, output]);
            let params = model.num_params();
            println!("{kind:?}: {params} parameters");
            // bench.md: Original has ~82 M parameters (encoder 69.7 M, decoders 6.2 M each).
            if kind == ModelKind::Original {
                assert!((80_000_000..84_000_000).contains(&params), "{params}");
            }
        }
    }

    #[test]
    fn config_round_trips_as_json() {
        let config = ModelKind::Original.config();
        let json = serde_json::to_string(&config).unwrap();
        let back: SwapModelConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.kind, ModelKind::Original);
        assert_eq!(back.encoder.filters, vec![128, 256, 512, 1024]);
    }
}
