//! The training models' 2-D convolution, with faster gradients on the CPU.
//!
//! Burn 0.22's default gradients of a convolution (a convolution over swapped batch and
//! channel axes for the weight, a transposed convolution for the input) run on Flex as many
//! thin matrix products (`doppel bench train --layers` showed the upscale blocks' backward at
//! 3.3x their forward). Here they are the engine's kernels where those measured faster
//! ([`super::conv_grad::kernel_for`]): im2col GEMMs ([`super::conv_grad`]) and, for the
//! stride-1 layers of few filters, the flipped forward and row dot products
//! ([`super::stride1_grad`]). The op is a Burn backend extension: Flex gets the kernels, other
//! backends (CUDA) keep Burn's own gradients, and autodiff records it like Burn's conv2d
//! (input and weight checkpointed). Flex's forward is the engine's tiled convolution
//! ([`crate::kernels`]); outside a training graph [`forward_act`] runs that with the
//! activation fused.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use super::conv_grad::{self, GradKernel, GradShape, Gradient};
use super::stride1_grad;
use crate::kernels::{self, conv_options, Activation, InferConv};
use burn::tensor::{DType, Tensor, TensorData};

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

    /// The gradient of the convolution's input.
    fn conv2d_input_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }
}

impl TrainConv for Flex {
    fn train_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let channels: [usize; 4] = weight.shape().dims();
        let bias = Self::float_zeros([channels[0]].into(), &Default::default(), weight.dtype().into());
        <Flex as InferConv>::conv2d_act(x, weight, bias, options, 1.0, f32::INFINITY)
    }

    fn conv2d_weight_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let shape = grad_shape(&x, &weight, &output_grad);
        cpu_grad(&x, &output_grad, &options, &shape, Gradient::Weight).unwrap_or_else(|| Self::conv2d_weight_backward(x, weight, output_grad, options))
    }

    fn conv2d_input_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let shape = grad_shape(&x, &weight, &output_grad);
        cpu_grad(&weight, &output_grad, &options, &shape, Gradient::Input).unwrap_or_else(|| Self::conv2d_x_backward(x, weight, output_grad, options))
    }
}

fn grad_shape(x: &FloatTensor<Flex>, weight: &FloatTensor<Flex>, output_grad: &FloatTensor<Flex>) -> GradShape {
    GradShape { x: x.shape().dims(), y: output_grad.shape().dims(), w: weight.shape().dims() }
}

/// The gradient `which` by the engine's kernel for it ([`conv_grad::kernel_for`]) from
/// `operand` (the input for the weight's gradient, the filters for the input's) and the
/// output's gradient, or `None` where Burn's is the one to use: other float types, or shapes
/// where Burn's measured faster.
fn cpu_grad(operand: &FloatTensor<Flex>, output_grad: &FloatTensor<Flex>, options: &ConvOptions<2>, shape: &GradShape, which: Gradient) -> Option<FloatTensor<Flex>> {
    if operand.dtype() != DType::F32 || output_grad.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let kernel = conv_grad::kernel_for(shape, options, which)?;
    let (a, g) = (operand.clone().to_contiguous(), output_grad.clone().to_contiguous());
    let (a, g) = (a.as_slice::<f32>()?, g.as_slice::<f32>()?);
    let values = match kernel {
        GradKernel::WeightGemm => conv_grad::weight_grad(a, g, shape, options),
        GradKernel::WeightFewFilters => stride1_grad::weight_grad_few(a, g, shape, options)?,
        GradKernel::InputGemm => conv_grad::input_grad(a, g, shape, options),
        GradKernel::InputFlipped => stride1_grad::input_grad(a, g, shape, options),
    };
    let dims = match which {
        Gradient::Weight => shape.w,
        Gradient::Input => shape.x,
    };
    Some(Flex::float_from_data(TensorData::new(values, dims), &Default::default()))
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
                    let dx = B::conv2d_input_grad(x.clone(), weight.clone(), grad.clone(), options.clone());
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

pub(super) fn on_flex(device: &burn::tensor::Device) -> bool {
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
        for (c_in, c_out, k, stride, side, batch) in [(3, 8, 5, 2, 16, 3), (8, 16, 3, 1, 8, 2), (4, 4, 5, 1, 6, 1), (8, 16, 5, 2, 8, 2)] {
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
