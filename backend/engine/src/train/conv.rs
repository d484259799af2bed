//! The training models' 2-D convolution, with a faster weight gradient on the CPU.
//!
//! Burn 0.22's default weight gradient is a convolution over swapped batch and channel axes,
//! which on Flex runs as many thin matrix products (`doppel bench train --layers` showed the
//! upscale blocks' backward at 3.3x their forward). Here the gradient of a layer is one im2col
//! GEMM, chunked over the batch: dW[co, (c, kh, kw)] = sum over (n, oh, ow) of
//! dY[n, co, oh, ow] * X[n, c, oh*s + kh*d - p, ow*s + kw*d - p].
//! The op is a Burn backend extension: Flex gets the GEMM, other backends (CUDA) keep Burn's
//! own gradient, and autodiff records it like Burn's conv2d (input and weight checkpointed).
//! Flex's forward is the engine's tiled convolution ([`crate::kernels`]); outside a training
//! graph [`forward_act`] runs that with the activation fused.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use crate::kernels::{self, conv_options, Activation, InferConv};
use burn::tensor::{DType, Tensor, TensorData};

/// Most floats of the im2col matrix built at once (64 MB).
const CHUNK_FLOATS: usize = 16 << 20;

#[backend_extension(Flex, Autodiff)]
pub trait TrainConv: Backend {
    /// A convolution without bias whose weight gradient is [`TrainConv::conv2d_weight_grad`].
    fn train_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient of the convolution's weight.
    fn conv2d_weight_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }
}

impl TrainConv for Flex {
    fn train_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let channels: [usize; 4] = weight.shape().dims();
        let bias = Self::float_zeros([channels[0]].into(), &Default::default(), weight.dtype().into());
        <Flex as InferConv>::conv2d_act(x, weight, bias, options, 1.0, f32::INFINITY)
    }

    fn conv2d_weight_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || output_grad.dtype() != DType::F32 || options.groups != 1 {
            return Self::conv2d_weight_backward(x, weight, output_grad, options);
        }
        let w_shape: [usize; 4] = weight.shape().dims();
        let x_shape: [usize; 4] = x.shape().dims();
        let g_shape: [usize; 4] = output_grad.shape().dims();
        let (x, g) = (x.to_contiguous(), output_grad.to_contiguous());
        let (Some(xs), Some(gs)) = (x.as_slice::<f32>(), g.as_slice::<f32>()) else {
            return Self::conv2d_weight_backward(x, weight, g, options);
        };
        let dw = weight_grad(xs, x_shape, gs, g_shape, w_shape, &options);
        Self::float_from_data(TensorData::new(dw, w_shape), &Default::default())
    }
}

impl<B: TrainConv, C: CheckpointStrategy> TrainConv for Autodiff<B, C> {
    fn train_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl<B: TrainConv> Backward<B, 2> for ConvBackward {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                if let Some(node) = node_x {
                    let dx = B::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_weight {
                    let dw = B::conv2d_weight_grad(x, weight, grad, options);
                    grads.register::<B>(node.id, dw);
                }
            }
        }

        match ConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                prep.finish((x_state, weight_state, options.clone()), B::train_conv2d(x.into_primitive(), weight.into_primitive(), options))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::train_conv2d(x.into_primitive(), weight.into_primitive(), options)),
        }
    }
}

/// `conv.forward(x)`, with the fast weight gradient when `x` is on the CPU backend (Burn's own
/// convolution elsewhere).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !on_flex(&x.device()) {
        return conv.forward(x);
    }
    let [_, _, h, w] = x.dims();
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), conv_options(conv, h, w))
}

/// `act(conv.forward(x))`: in a training graph [`forward`] then the activation, outside one
/// (previews, conversion) the fused kernel.
pub fn forward_act(conv: &Conv2d, x: Tensor<4>, act: Activation) -> Tensor<4> {
    if kernels::plain_cpu(conv, &x) {
        kernels::conv2d(conv, x, act)
    } else {
        act.apply_to(forward(conv, x))
    }
}

fn on_flex(device: &burn::tensor::Device) -> bool {
    device.clone().inner() == burn::tensor::Device::flex()
}

/// `conv2d(x, weight) + bias` with the fast weight gradient.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let y = Tensor::<4>::from_dispatch(<Dispatch as TrainConv>::train_conv2d(x.into_dispatch(), weight.into_dispatch(), options));
    match bias {
        Some(b) => {
            let channels = b.dims()[0];
            y + b.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// dW of a convolution, f32 row-major: `x` [N, C, H, W], `g` [N, CO, OH, OW], weight [CO, C, KH, KW].
fn weight_grad(x: &[f32], [n, c, h, w]: [usize; 4], g: &[f32], [_, co, oh, ow]: [usize; 4], [_, _, kh, kw]: [usize; 4], o: &ConvOptions<2>) -> Vec<f32> {
    use rayon::prelude::*;
    let k = c * kh * kw;
    let p = oh * ow;
    let mut dw = vec![0.0f32; co * k];
    if p == 0 || k == 0 {
        return dw;
    }
    let per_chunk = (CHUNK_FLOATS / (p * k)).clamp(1, n);
    let mut col = Vec::new();
    let mut lhs = Vec::new();
    let mut first = true;
    for n0 in (0..n).step_by(per_chunk) {
        let nb = per_chunk.min(n - n0);
        im2col(x, [n, c, h, w], n0, nb, [oh, ow], [kh, kw], o, &mut col);
        // dY of the chunk as [CO, nb * P].
        lhs.clear();
        lhs.resize(co * nb * p, 0.0f32);
        lhs.par_chunks_mut(nb * p).enumerate().for_each(|(oc, out)| {
            for j in 0..nb {
                let src = &g[((n0 + j) * co + oc) * p..((n0 + j) * co + oc + 1) * p];
                out[j * p..(j + 1) * p].copy_from_slice(src);
            }
        });
        // SAFETY: the slices are as long as the shapes and strides describe.
        unsafe {
            gemm::gemm(
                co, k, nb * p,
                dw.as_mut_ptr(), 1, k as isize,
                !first,
                lhs.as_ptr(), 1, (nb * p) as isize,
                col.as_ptr(), 1, k as isize,
                1.0, 1.0,
                false, false, false,
                gemm::Parallelism::Rayon(0),
            );
        }
        first = false;
    }
    dw
}

/// Rows (image, oh, ow) of images `n0..n0 + nb`, columns (c, kh, kw): the input values each
/// output position sees (0 in the padding), into `col` ([nb * OH * OW, C * KH * KW]).
#[allow(clippy::too_many_arguments)]
fn im2col(x: &[f32], [_, c, h, w]: [usize; 4], n0: usize, nb: usize, [oh, ow]: [usize; 2], [kh, kw]: [usize; 2], o: &ConvOptions<2>, col: &mut Vec<f32>) {
    use rayon::prelude::*;
    let (k, p) = (c * kh * kw, oh * ow);
    let (sh, sw, dh, dwl) = (o.stride[0], o.stride[1], o.dilation[0], o.dilation[1]);
    let (ph, pw) = (o.padding[0].0 as isize, o.padding[1].0 as isize);
    col.clear();
    col.resize(nb * p * k, 0.0f32);
    col.par_chunks_mut(k).enumerate().for_each(|(r, row)| {
        let (i, q) = (n0 + r / p, r % p);
        let (y0, x0) = ((q / ow * sh) as isize - ph, (q % ow * sw) as isize - pw);
        let image = &x[i * c * h * w..(i + 1) * c * h * w];
        for ci in 0..c {
            let plane = &image[ci * h * w..(ci + 1) * h * w];
            for a in 0..kh {
                let y = y0 + (a * dh) as isize;
                if y < 0 || y >= h as isize {
                    continue;
                }
                let line = &plane[y as usize * w..(y as usize + 1) * w];
                let out = &mut row[(ci * kh + a) * kw..(ci * kh + a + 1) * kw];
                for (b, v) in out.iter_mut().enumerate() {
                    let xx = x0 + (b * dwl) as isize;
                    if xx >= 0 && xx < w as isize {
                        *v = line[xx as usize];
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::PaddingConfig2d;
    use burn::tensor::{Device, Distribution};

    /// The output and every gradient (input, weight, bias) of [`forward`] are Burn's own.
    #[test]
    fn gradients_match_burns_convolution() {
        let device = Device::flex().autodiff();
        for (c_in, c_out, k, stride, side, batch) in [(3, 8, 5, 2, 16, 3), (8, 16, 3, 1, 8, 2), (4, 4, 5, 1, 6, 1)] {
            let conv = Conv2dConfig::new([c_in, c_out], [k, k]).with_stride([stride, stride]).with_padding(PaddingConfig2d::Same).init(&device);
            let x = Tensor::<4>::random([batch, c_in, side, side], Distribution::Normal(0.0, 1.0), &device);
            let out_side = side.div_ceil(stride);
            let r = Tensor::<4>::random([batch, c_out, out_side, out_side], Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool| {
                let x = x.clone().detach().require_grad();
                let y = if ours { forward(&conv, x.clone()) } else { conv.forward(x.clone()) };
                let grads = (y.clone() * r.clone()).sum().backward();
                let data = |t: Option<Tensor<4>>| t.unwrap().into_data().try_to_vec::<f32>().unwrap();
                let bias = conv.bias.as_ref().unwrap().val().grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
                (y.into_data().try_to_vec::<f32>().unwrap(), data(x.grad(&grads)), data(conv.weight.val().grad(&grads)), bias)
            };
            let (ours, burns) = (run(true), run(false));
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len());
                let scale = b.iter().map(|v| v.abs()).fold(1e-3f32, f32::max);
                let worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
                assert!(worst <= 1e-4 * scale.max(1.0), "{what} ({c_in}->{c_out}, {k}x{k}/{stride}): off by {worst} (scale {scale})");
            };
            close(&ours.0, &burns.0, "output");
            close(&ours.1, &burns.1, "input gradient");
            close(&ours.2, &burns.2, "weight gradient");
            close(&ours.3, &burns.3, "bias gradient");
        }
    }
}
