//! Softmax and log-softmax over the class axis (dim 1) of `[B, K, ...]` logits, the form every
//! SimCVD loss (spec B4) and the sliding window (B6) use.
//!
//! With two classes, `softmax(z)₁ = σ(z₁ − z₀)` and `softmax(z)₀ = σ(z₀ − z₁)` exactly, and
//! `log softmax(z)ₖ = log σ(±(z₁ − z₀))`. That is what is computed for K = 2: two contiguous
//! slices, one subtraction and one element-wise sigmoid, instead of a reduction across the class
//! axis, which burn-flex 0.21 runs by transposing the tensor so the two classes are its last axis
//! and walking 2-element rows. Any other K goes to burn's softmax.

use burn::tensor::{activation, backend::Backend, Tensor};

/// `z₁ − z₀` as `[B, 1, ...]`, or `None` unless there are exactly two classes.
fn margin<B: Backend, const D: usize>(logits: &Tensor<B, D>) -> Option<Tensor<B, D>> {
    (logits.dims()[1] == 2).then(|| logits.clone().narrow(1, 1, 1) - logits.clone().narrow(1, 0, 1))
}

/// Softmax over dim 1 (the classes).
pub fn class_softmax<B: Backend, const D: usize>(logits: Tensor<B, D>) -> Tensor<B, D> {
    match margin(&logits) {
        Some(m) => Tensor::cat(
            vec![activation::sigmoid(m.clone().neg()), activation::sigmoid(m)],
            1,
        ),
        None => activation::softmax(logits, 1),
    }
}

/// Log-softmax over dim 1 (the classes).
pub fn class_log_softmax<B: Backend, const D: usize>(logits: Tensor<B, D>) -> Tensor<B, D> {
    match margin(&logits) {
        Some(m) => Tensor::cat(
            vec![
                activation::log_sigmoid(m.clone().neg()),
                activation::log_sigmoid(m),
            ],
            1,
        ),
        None => activation::log_softmax(logits, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Distribution, TensorData};

    type Ad = Autodiff<Flex>;

    fn close(a: Vec<f32>, b: Vec<f32>, tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn two_classes_by_hand() {
        // z = (0, 1) at one voxel, (3, -2) at another: softmax = (1−p, p) with p = e/(1+e), and
        // (e⁵/(1+e⁵), 1/(1+e⁵))
        let dev = Default::default();
        let z = Tensor::<Flex, 3>::from_data(
            TensorData::new(vec![0.0f32, 3.0, 1.0, -2.0], [1, 2, 2]),
            &dev,
        );
        let p = 1f64.exp() / (1.0 + 1f64.exp());
        let q = 5f64.exp() / (1.0 + 5f64.exp());
        let want = [1.0 - p, q, p, 1.0 - q].map(|v| v as f32).to_vec();
        close(
            class_softmax(z.clone()).into_data().to_vec().unwrap(),
            want.clone(),
            1e-6,
        );
        let logs = want.iter().map(|v| v.ln()).collect();
        close(
            class_log_softmax(z).into_data().to_vec().unwrap(),
            logs,
            1e-5,
        );
    }

    #[test]
    fn values_and_gradients_equal_burns_softmax() {
        let dev = Default::default();
        for k in [2, 3] {
            let z = Tensor::<Ad, 5>::random([2, k, 3, 4, 5], Distribution::Normal(0.0, 4.0), &dev);
            let w =
                Tensor::<Ad, 5>::random([2, k, 3, 4, 5], Distribution::Uniform(-1.0, 1.0), &dev);
            let grad_of = |f: &dyn Fn(Tensor<Ad, 5>) -> Tensor<Ad, 5>| {
                let _one = crate::testing::one_backward_at_a_time();
                let x = z.clone().detach().require_grad();
                let y = f(x.clone());
                let g = (y.clone() * w.clone()).sum().backward();
                let gx = x.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap();
                (y.into_data().to_vec::<f32>().unwrap(), gx)
            };
            let (ours, g_ours) = grad_of(&|x| class_softmax(x));
            let (burn, g_burn) = grad_of(&|x| activation::softmax(x, 1));
            close(ours, burn, 1e-6);
            close(g_ours, g_burn, 1e-5);
            let (ours, g_ours) = grad_of(&|x| class_log_softmax(x));
            let (burn, g_burn) = grad_of(&|x| activation::log_softmax(x, 1));
            close(ours, burn, 1e-5);
            close(g_ours, g_burn, 1e-5);
        }
    }
}
