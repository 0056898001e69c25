//! Projection heads (spec A2): `Linear(in→2048), BN, ReLU, Linear(2048→128), BN(affine=False)`,
//! then L2 normalisation. The global head maps one vector per sample; the local head is the same
//! stack applied to every token (the released code's 1×1 Conv1d), with BatchNorm statistics over
//! all tokens of the batch.

use crate::nets::l2_normalize;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{activation::relu, backend::Backend, Tensor};

/// Configuration of [`ProjectionHead`].
#[derive(Config, Debug)]
pub struct ProjectionHeadConfig {
    /// Input width (the encoder's).
    pub input: usize,
    /// Hidden width.
    #[config(default = 2048)]
    pub hidden: usize,
    /// Output width D.
    #[config(default = 128)]
    pub output: usize,
}

/// A projection head; [`forward`](ProjectionHead::forward) for `[B, in]`,
/// [`forward_tokens`](ProjectionHead::forward_tokens) for `[B, N, in]`.
#[derive(Module, Debug)]
pub struct ProjectionHead<B: Backend> {
    pub fc1: Linear<B>,
    pub bn1: BatchNorm<B>,
    pub fc2: Linear<B>,
    pub bn2: BatchNorm<B>,
}

impl ProjectionHeadConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ProjectionHead<B> {
        let mut bn2 = BatchNormConfig::new(self.output).init(device);
        // affine=False: the scale and shift stay 1 and 0 (no gradient, never optimised).
        bn2.gamma = Param::from_tensor(bn2.gamma.val()).set_require_grad(false);
        bn2.beta = Param::from_tensor(bn2.beta.val()).set_require_grad(false);
        ProjectionHead {
            fc1: LinearConfig::new(self.input, self.hidden).init(device),
            bn1: BatchNormConfig::new(self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.output).init(device),
            bn2,
        }
    }
}

impl<B: Backend> ProjectionHead<B> {
    /// `[B, in]` -> unit vectors `[B, out]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = relu(self.bn1.forward(self.fc1.forward(x)));
        l2_normalize(self.bn2.forward(self.fc2.forward(h)))
    }

    /// `[B, N, in]` -> unit vectors `[B, N, out]` (one BatchNorm over all B·N tokens).
    pub fn forward_tokens(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, c] = x.dims();
        let y = self.forward(x.reshape([b * n, c]));
        let out = y.dims()[1];
        y.reshape([b, n, out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::Distribution;

    type B = Autodiff<Flex>;

    #[test]
    fn unit_outputs_and_affine_free_last_norm() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let head = ProjectionHeadConfig::new(6)
            .with_hidden(8)
            .with_output(4)
            .init::<B>(&dev);
        let x = Tensor::<B, 3>::random([3, 5, 6], Distribution::Default, &dev);
        let y = head.forward_tokens(x.clone());
        assert_eq!(y.dims(), [3, 5, 4]);
        let norms = y
            .clone()
            .square()
            .sum_dim(2)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5));
        // One Adam step: the first layer moves, the affine-free norm's scale and shift do not.
        let loss = y.slice([0..3, 0..5, 0..1]).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &head);
        let before = head.fc1.weight.val().into_data();
        let head = AdamConfig::new().init().step(0.1, head, grads);
        assert_ne!(head.fc1.weight.val().into_data(), before);
        let g = head.bn2.gamma.val().into_data().to_vec::<f32>().unwrap();
        let b = head.bn2.beta.val().into_data().to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 1.0) && b.iter().all(|v| *v == 0.0));
    }
}
