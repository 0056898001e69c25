//! The global gradient norm `sqrt(Σ_params Σ g²)` of one step: logged per step by the trainers so
//! that an unstable run shows itself, and checked before the optimiser applies the gradients, since a
//! NaN gradient under a finite loss would otherwise corrupt the weights silently (a NaN weight
//! before a ReLU reads as 0 on the CPU backend, so the loss stays finite).

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

/// `‖g‖₂` over every float parameter of `module` that has a gradient in `grads` (one scalar tensor
/// on the inner backend; reading it is the caller's single synchronisation).
pub fn grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Tensor<B::InnerBackend, 1> {
    struct SumSquares<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for SumSquares<'_, B> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(p.id) {
                let s = g.square().sum();
                self.sum = Some(match self.sum.take() {
                    Some(a) => a + s,
                    None => s,
                });
            }
        }
    }
    let mut v = SumSquares::<B> { grads, sum: None };
    module.visit(&mut v);
    match v.sum {
        Some(s) => s.sqrt(),
        None => Tensor::zeros([1], &Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::TensorData;

    #[derive(Module, Debug)]
    struct Two<B: burn::tensor::backend::Backend> {
        a: Linear<B>,
        b: Linear<B>,
    }

    #[test]
    fn is_the_norm_over_all_parameters() {
        let _one = crate::testing::one_backward_at_a_time();
        type A = Autodiff<Flex>;
        let dev = Default::default();
        let m = Two::<A> {
            a: LinearConfig::new(2, 1).init(&dev),
            b: LinearConfig::new(1, 1).with_bias(false).init(&dev),
        };
        let x = Tensor::<A, 2>::from_data(TensorData::from([[1.0f32, 2.0]]), &dev);
        // loss = a(x) + 3·b(1): d/dW_a = x = (1, 2), d/db_a = 1, d/dW_b = 3
        let one = Tensor::<A, 2>::ones([1, 1], &dev);
        let loss = m.a.forward(x).sum() + m.b.forward(one).sum() * 3.0;
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let got: f32 = grad_norm(&m, &grads).into_scalar();
        let want = (1.0f32 + 4.0 + 1.0 + 9.0).sqrt();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
