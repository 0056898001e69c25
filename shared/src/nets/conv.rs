//! The models' convolutions: the V-Net's (spec B2: 3³ stride 1 pad 1, 2³ stride 2 down, 2³
//! stride 2 up, 1³ heads) and the 2D ones of the LViT UNet and the Text Mask Generator (3×3 pad 1,
//! 2×2 stride 2 up, 1×1), a 2D convolution being a 3D one of depth 1. On the CPU backend
//! (burn-flex, plain or under autodiff) they run the kernels of [`super::cpu_conv`], with their own
//! backward pass; on every other backend, and for shapes those kernels do not cover, burn's own
//! `conv3d` / `conv_transpose3d` / `conv2d` / `conv_transpose2d`. The modules and their records
//! stay burn's `Conv3d` / `ConvTranspose3d` / `Conv2d` / `ConvTranspose2d`.
//!
//! The backend is recognised by its type (`TypeId`), so models stay generic over `Backend`.

use super::cpu_conv::{self, ConvGeometry};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::{Autodiff, Flex};
use burn::nn::conv::{Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d};
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, DType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;
use std::any::{Any, TypeId};
use std::borrow::Cow;

/// burn-flex's tensor under autodiff (burn-autodiff's `AutodiffTensor`, not exported by name).
type AutodiffTensor = FloatTensor<Autodiff<Flex>>;

/// `conv.forward(x)`, on the CPU kernels where they apply.
pub fn conv3d<B: Backend>(conv: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let [batch, cin, d, h, w] = x.dims();
    let [cout, _, kd, kh, kw] = conv.weight.dims();
    let pad = match conv.padding {
        PaddingConfig3d::Valid => Some([0, 0, 0]),
        PaddingConfig3d::Explicit(a, b, c) => Some([a, b, c]),
        PaddingConfig3d::Same => None,
    };
    let op = pad.map(|pad| CpuConv {
        transposed: false,
        g: ConvGeometry {
            batch,
            cin,
            cout,
            input: [d, h, w],
            kernel: [kd, kh, kw],
            stride: conv.stride,
            pad,
        },
    });
    let plain = conv.dilation == [1, 1, 1] && conv.groups == 1;
    match (op, &conv.bias) {
        (Some(op), Some(bias)) if plain && op.applies(&x, &conv.weight.val(), &bias.val()) => {
            op.run(x, conv.weight.val(), bias.val())
        }
        _ => conv.forward(x),
    }
}

/// `conv.forward(x)` of a 2D convolution `[B, C, H, W]`, on the CPU kernels where they apply (as a
/// 3D convolution of depth 1; symmetric padding).
pub fn conv2d<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [batch, cin, h, w] = x.dims();
    let [cout, _, kh, kw] = conv.weight.dims();
    let pad = match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([0, top, left])
        }
        _ => None,
    };
    let op = pad.map(|pad| CpuConv {
        transposed: false,
        g: ConvGeometry {
            batch,
            cin,
            cout,
            input: [1, h, w],
            kernel: [1, kh, kw],
            stride: [1, conv.stride[0], conv.stride[1]],
            pad,
        },
    });
    let plain = conv.dilation == [1, 1] && conv.groups == 1;
    match (op, &conv.bias) {
        (Some(op), Some(bias)) => {
            let weight = conv.weight.val().unsqueeze_dim::<5>(2);
            if plain && op.applies(&x, &weight, &bias.val()) {
                op.run(x.unsqueeze_dim(2), weight, bias.val())
                    .squeeze_dim(2)
            } else {
                conv.forward(x)
            }
        }
        _ => conv.forward(x),
    }
}

/// `conv.forward(x)` of a 2D transposed convolution, on the CPU kernels where they apply
/// (kernel = stride, no padding).
pub fn conv_transpose2d<B: Backend>(conv: &ConvTranspose2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [batch, cin, h, w] = x.dims();
    let [_, cout, kh, kw] = conv.weight.dims();
    let op = CpuConv {
        transposed: true,
        g: ConvGeometry {
            batch,
            cin: cout,
            cout: cin,
            input: [1, h * kh, w * kw],
            kernel: [1, kh, kw],
            stride: [1, conv.stride[0], conv.stride[1]],
            pad: [0, 0, 0],
        },
    };
    let plain = conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.padding_out == [0, 0]
        && conv.stride == [kh, kw]
        && conv.padding == [0, 0];
    match &conv.bias {
        Some(bias) if plain => {
            let weight = conv.weight.val().unsqueeze_dim::<5>(2);
            if op.applies(&x, &weight, &bias.val()) {
                op.run(x.unsqueeze_dim(2), weight, bias.val())
                    .squeeze_dim(2)
            } else {
                conv.forward(x)
            }
        }
        _ => conv.forward(x),
    }
}

/// `conv.forward(x)` of a transposed convolution, on the CPU kernels where they apply
/// (kernel = stride, no padding).
pub fn conv_transpose3d<B: Backend>(conv: &ConvTranspose3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let [batch, cin, d, h, w] = x.dims();
    let [_, cout, kd, kh, kw] = conv.weight.dims();
    let k = [kd, kh, kw];
    // as the forward convolution y -> x it transposes: y has `cout` channels and k·x's size
    let op = CpuConv {
        transposed: true,
        g: ConvGeometry {
            batch,
            cin: cout,
            cout: cin,
            input: [d * kd, h * kh, w * kw],
            kernel: k,
            stride: conv.stride,
            pad: conv.padding,
        },
    };
    let plain = conv.dilation == [1, 1, 1]
        && conv.groups == 1
        && conv.padding_out == [0, 0, 0]
        && conv.stride == k
        && conv.padding == [0, 0, 0];
    match &conv.bias {
        Some(bias) if plain && op.applies(&x, &conv.weight.val(), &bias.val()) => {
            op.run(x, conv.weight.val(), bias.val())
        }
        _ => conv.forward(x),
    }
}

/// One convolution on the CPU kernels; `g` is the geometry of the (forward) convolution, for a
/// transposed one that of the convolution it transposes.
#[derive(Debug, Clone, Copy)]
struct CpuConv {
    transposed: bool,
    g: ConvGeometry,
}

/// Is `B` burn-flex, plain or under (non-checkpointing) autodiff?
fn on_cpu<B: Backend>() -> bool {
    let b = TypeId::of::<B>();
    b == TypeId::of::<Flex>() || b == TypeId::of::<Autodiff<Flex>>()
}

/// Move a value whose type is known (by `TypeId`) to be `U`.
fn cast<T: 'static, U: 'static>(t: T) -> U {
    *(Box::new(t) as Box<dyn Any>)
        .downcast::<U>()
        .expect("TypeId checked by the caller")
}

/// The values of a float tensor of the CPU backend, row-major (`None` unless f32).
fn host(t: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    match t.as_slice::<f32>() {
        Some(s) => Some(Cow::Borrowed(s)),
        None => Some(Cow::Owned(t.to_contiguous().as_slice::<f32>()?.to_vec())),
    }
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 5]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl CpuConv {
    /// Do the kernels take this call: burn-flex, f32 tensors, a supported shape?
    fn applies<B: Backend, const D: usize>(
        &self,
        x: &Tensor<B, D>,
        w: &Tensor<B, 5>,
        b: &Tensor<B, 1>,
    ) -> bool {
        on_cpu::<B>()
            && x.dtype() == DType::F32
            && w.dtype() == DType::F32
            && b.dtype() == DType::F32
            && self.g.supported()
    }

    fn out_shape(&self) -> [usize; 5] {
        let g = &self.g;
        let s = if self.transposed {
            g.input
        } else {
            g.output().expect("supported geometry")
        };
        let channels = if self.transposed { g.cin } else { g.cout };
        [g.batch, channels, s[0], s[1], s[2]]
    }

    fn in_shape(&self) -> [usize; 5] {
        let g = &self.g;
        let s = if self.transposed {
            g.output().expect("supported geometry")
        } else {
            g.input
        };
        let channels = if self.transposed { g.cout } else { g.cin };
        [g.batch, channels, s[0], s[1], s[2]]
    }

    fn forward(&self, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        if self.transposed {
            cpu_conv::conv_transpose_forward(x, w, Some(bias), &self.g)
        } else {
            cpu_conv::conv_forward(x, w, Some(bias), &self.g)
        }
    }

    /// The gradient with respect to the input, from the output gradient `dy`.
    fn input_grad(&self, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let g = &self.g;
        if self.transposed {
            // transposed conv: its input gradient is the convolution it transposes
            cpu_conv::conv_forward(dy, w, None, g)
        } else if g.stride == [1, 1, 1] {
            let back = ConvGeometry {
                cin: g.cout,
                cout: g.cin,
                input: g.output().expect("supported geometry"),
                pad: [0, 1, 2].map(|a| g.kernel[a] - 1 - g.pad[a]),
                ..*g
            };
            let flipped = cpu_conv::flip_transpose(w, g.cout, g.cin, g.kernel);
            cpu_conv::conv_forward(dy, &flipped, None, &back)
        } else {
            cpu_conv::conv_transpose_forward(dy, w, None, g)
        }
    }

    fn weight_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        if self.transposed {
            // roles swap: the convolution y -> x sees dy as its input and x as its output
            cpu_conv::conv_weight_grad(dy, x, &self.g)
        } else {
            cpu_conv::conv_weight_grad(x, dy, &self.g)
        }
    }

    /// Run on burn-flex, plain or under autodiff (the callers check the backend).
    fn run<B: Backend>(self, x: Tensor<B, 5>, w: Tensor<B, 5>, b: Tensor<B, 1>) -> Tensor<B, 5> {
        let prim = |t: Tensor<B, 5>| t.into_primitive().tensor();
        if TypeId::of::<B>() == TypeId::of::<Flex>() {
            let (x, w, b): (FlexTensor, FlexTensor, FlexTensor) = (
                cast(prim(x)),
                cast(prim(w)),
                cast(b.into_primitive().tensor()),
            );
            let y = self.on_flex(&x, &w, &b);
            return Tensor::from_primitive(TensorPrimitive::Float(cast(y)));
        }
        if TypeId::of::<B>() == TypeId::of::<Autodiff<Flex>>() {
            let x: AutodiffTensor = cast(prim(x));
            let w: AutodiffTensor = cast(prim(w));
            let b: AutodiffTensor = cast(b.into_primitive().tensor());
            let y = self.on_autodiff(x, w, b);
            return Tensor::from_primitive(TensorPrimitive::Float(cast(y)));
        }
        unreachable!("only called when on_cpu::<B>()")
    }

    fn on_flex(&self, x: &FlexTensor, w: &FlexTensor, b: &FlexTensor) -> FlexTensor {
        let (xs, ws, bs) = (host(x), host(w), host(b));
        let (Some(xs), Some(ws), Some(bs)) = (xs, ws, bs) else {
            panic!("the V-Net's CPU convolution takes f32 tensors");
        };
        flex_tensor(self.forward(&xs, &ws, &bs), self.out_shape())
    }

    fn on_autodiff(
        self,
        x: AutodiffTensor,
        w: AutodiffTensor,
        b: AutodiffTensor,
    ) -> AutodiffTensor {
        let y = self.on_flex(&x.primitive, &w.primitive, &b.primitive);
        match self
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&w));
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

impl Backward<Flex, 3> for CpuConv {
    /// The input and the weight, for the gradients.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let x: FlexTensor = checkpointer.retrieve_node_output(ops.state.0);
        let w: FlexTensor = checkpointer.retrieve_node_output(ops.state.1);
        let (dys, xs, ws) = (host(&dy), host(&x), host(&w));
        let (Some(dys), Some(xs), Some(ws)) = (dys, xs, ws) else {
            panic!("the V-Net's CPU convolution takes f32 tensors");
        };
        if let Some(node) = node_x {
            let dx = flex_tensor(self.input_grad(&dys, &ws), self.in_shape());
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_w {
            // [Co, Ci, k..] (transposed: [Ci, Co, k..]); either way [g.cout, g.cin, k..]
            let [k0, k1, k2] = self.g.kernel;
            let shape = [self.g.cout, self.g.cin, k0, k1, k2];
            grads.register::<Flex>(node.id, flex_tensor(self.weight_grad(&xs, &dys), shape));
        }
        if let Some(node) = node_b {
            let channels = self.out_shape()[1];
            let db = cpu_conv::channel_sums(&dys, self.g.batch, channels);
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(db, [channels])),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::{Conv3dConfig, ConvTranspose3dConfig};
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), String> {
        if a.len() != b.len() {
            return Err(format!("lengths {} and {}", a.len(), b.len()));
        }
        match a
            .iter()
            .zip(b)
            .position(|(x, y)| (x - y).abs() > tol * (1.0 + y.abs()))
        {
            Some(i) => Err(format!("element {i}: {} vs {}", a[i], b[i])),
            None => Ok(()),
        }
    }

    /// Output and all three gradients of our CPU path against burn-flex's own convolution, for
    /// the four layer kinds of the V-Net.
    #[test]
    fn matches_burn_flex_forward_and_backward() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let pad = PaddingConfig3d::Explicit(1, 1, 1);
        let convs = [
            Conv3dConfig::new([3, 4], [3, 3, 3])
                .with_padding(pad)
                .init::<A>(&dev),
            Conv3dConfig::new([3, 5], [2, 2, 2])
                .with_stride([2, 2, 2])
                .init(&dev),
            Conv3dConfig::new([3, 2], [1, 1, 1]).init(&dev),
        ];
        for (i, conv) in convs.iter().enumerate() {
            let x =
                Tensor::<A, 5>::random([2, 3, 6, 4, 8], Distribution::Default, &dev).require_grad();
            let ours = conv3d(conv, x.clone());
            let theirs = conv.forward(x.clone());
            let probe = Tensor::<A, 5>::random(ours.dims(), Distribution::Default, &dev);
            close(&values(ours.clone()), &values(theirs.clone()), 1e-5)
                .unwrap_or_else(|e| panic!("conv {i} forward: {e}"));
            let g1 = (ours * probe.clone()).sum().backward();
            let g2 = (theirs * probe).sum().backward();
            let pairs = [
                ("x", x.grad(&g1), x.grad(&g2)),
                (
                    "w",
                    conv.weight.val().grad(&g1),
                    conv.weight.val().grad(&g2),
                ),
            ];
            for (what, a, b) in pairs {
                close(&values(a.unwrap()), &values(b.unwrap()), 1e-4)
                    .unwrap_or_else(|e| panic!("conv {i} d{what}: {e}"));
            }
            let bias = conv.bias.as_ref().unwrap().val();
            close(
                &values(bias.grad(&g1).unwrap()),
                &values(bias.grad(&g2).unwrap()),
                1e-4,
            )
            .unwrap_or_else(|e| panic!("conv {i} dbias: {e}"));
        }
        let up = ConvTranspose3dConfig::new([5, 3], [2, 2, 2])
            .with_stride([2, 2, 2])
            .init::<A>(&dev);
        let x = Tensor::<A, 5>::random([2, 5, 3, 2, 4], Distribution::Default, &dev).require_grad();
        let (ours, theirs) = (conv_transpose3d(&up, x.clone()), up.forward(x.clone()));
        assert_eq!(ours.dims(), [2, 3, 6, 4, 8]);
        close(&values(ours.clone()), &values(theirs.clone()), 1e-5).unwrap();
        let probe = Tensor::<A, 5>::random(ours.dims(), Distribution::Default, &dev);
        let g1 = (ours * probe.clone()).sum().backward();
        let g2 = (theirs * probe).sum().backward();
        close(
            &values(x.grad(&g1).unwrap()),
            &values(x.grad(&g2).unwrap()),
            1e-4,
        )
        .unwrap();
        let (w, b) = (up.weight.val(), up.bias.as_ref().unwrap().val());
        close(
            &values(w.grad(&g1).unwrap()),
            &values(w.grad(&g2).unwrap()),
            1e-4,
        )
        .unwrap();
        close(
            &values(b.grad(&g1).unwrap()),
            &values(b.grad(&g2).unwrap()),
            1e-4,
        )
        .unwrap();
    }

    /// The 2D entry points (a 3D convolution of depth 1) against burn-flex's `conv2d` and
    /// `conv_transpose2d`: the UNet's 3×3 pad 1, 1×1, the ViT's 16×16 stride 16 patch embedding
    /// (here 4×4 stride 4) and the 2×2 stride 2 up-convolution; output and the three gradients.
    #[test]
    fn two_d_matches_burn_flex_forward_and_backward() {
        use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let convs = [
            Conv2dConfig::new([3, 4], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init::<A>(&dev),
            Conv2dConfig::new([3, 2], [1, 1]).init(&dev),
            Conv2dConfig::new([3, 5], [4, 4])
                .with_stride([4, 4])
                .init(&dev),
        ];
        let check = |name: &str,
                     ours: Tensor<A, 4>,
                     theirs: Tensor<A, 4>,
                     x: &Tensor<A, 4>,
                     w: Tensor<A, 4>,
                     b: Tensor<A, 1>| {
            close(&values(ours.clone()), &values(theirs.clone()), 1e-5)
                .unwrap_or_else(|e| panic!("{name} forward: {e}"));
            let probe = Tensor::<A, 4>::random(ours.dims(), Distribution::Default, &dev);
            let g1 = (ours * probe.clone()).sum().backward();
            let g2 = (theirs * probe).sum().backward();
            close(
                &values(x.grad(&g1).unwrap()),
                &values(x.grad(&g2).unwrap()),
                1e-4,
            )
            .unwrap_or_else(|e| panic!("{name} dx: {e}"));
            close(
                &values(w.grad(&g1).unwrap()),
                &values(w.grad(&g2).unwrap()),
                1e-4,
            )
            .unwrap_or_else(|e| panic!("{name} dw: {e}"));
            close(
                &values(b.grad(&g1).unwrap()),
                &values(b.grad(&g2).unwrap()),
                1e-4,
            )
            .unwrap_or_else(|e| panic!("{name} db: {e}"));
        };
        for (i, conv) in convs.iter().enumerate() {
            let x =
                Tensor::<A, 4>::random([2, 3, 8, 12], Distribution::Default, &dev).require_grad();
            let (ours, theirs) = (conv2d(conv, x.clone()), conv.forward(x.clone()));
            assert_eq!(ours.dims(), theirs.dims());
            let b = conv.bias.as_ref().unwrap().val();
            check(&format!("conv {i}"), ours, theirs, &x, conv.weight.val(), b);
        }
        let up = ConvTranspose2dConfig::new([5, 3], [2, 2])
            .with_stride([2, 2])
            .init::<A>(&dev);
        let x = Tensor::<A, 4>::random([2, 5, 3, 4], Distribution::Default, &dev).require_grad();
        let (ours, theirs) = (conv_transpose2d(&up, x.clone()), up.forward(x.clone()));
        assert_eq!(ours.dims(), [2, 3, 6, 8]);
        let b = up.bias.as_ref().unwrap().val();
        check("up", ours, theirs, &x, up.weight.val(), b);
        // asymmetric padding is burn's own op
        let odd = Conv2dConfig::new([3, 2], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 0, 1, 2))
            .init::<Flex>(&dev);
        let x = Tensor::<Flex, 4>::random([1, 3, 5, 5], Distribution::Default, &dev);
        close(
            &values(conv2d(&odd, x.clone())),
            &values(odd.forward(x)),
            1e-6,
        )
        .unwrap();
    }

    /// Inference (plain burn-flex) takes the same path; other shapes and other backends (here
    /// autodiff with checkpointing, a different type) fall back to burn's op.
    #[test]
    fn inference_and_fallback() {
        let dev = Default::default();
        let conv = Conv3dConfig::new([2, 3], [3, 3, 3])
            .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
            .init::<Flex>(&dev);
        let x = Tensor::<Flex, 5>::random([1, 2, 5, 5, 5], Distribution::Default, &dev);
        close(
            &values(conv3d(&conv, x.clone())),
            &values(conv.forward(x.clone())),
            1e-5,
        )
        .unwrap();
        // stride 2 with a 3-kernel (overlapping windows) is burn's
        let strided = Conv3dConfig::new([2, 3], [3, 3, 3])
            .with_stride([2, 2, 2])
            .init::<Flex>(&dev);
        let y = conv3d(&strided, x.clone());
        assert_eq!(y.dims(), [1, 3, 2, 2, 2]);
        close(&values(y), &values(strided.forward(x)), 1e-6).unwrap();
        type Other =
            Autodiff<Flex, burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing>;
        assert!(on_cpu::<Flex>() && on_cpu::<A>() && !on_cpu::<Other>());
        let conv = Conv3dConfig::new([2, 3], [3, 3, 3]).init::<Other>(&dev);
        let x = Tensor::<Other, 5>::random([1, 2, 5, 5, 5], Distribution::Default, &dev);
        close(
            &values(conv3d(&conv, x.clone())),
            &values(conv.forward(x)),
            1e-6,
        )
        .unwrap();
        let up = ConvTranspose3dConfig::new([2, 3], [2, 2, 2])
            .with_stride([2, 2, 2])
            .init::<Other>(&dev);
        let x = Tensor::<Other, 5>::random([1, 2, 2, 2, 2], Distribution::Default, &dev);
        close(
            &values(conv_transpose3d(&up, x.clone())),
            &values(up.forward(x)),
            1e-6,
        )
        .unwrap();
    }
}
