//! L2 normalisation along the last dimension (PyTorch `F.normalize(x, dim=-1)`, eps 1e-12), used by
//! every embedding head in SimCVD (B4) and AMVLM (A2).

use burn::tensor::{backend::Backend, Tensor};

/// `x / max(‖x‖₂, 1e-12)` over the last dimension.
///
/// Computed as `x / sqrt(max(Σx², 1e-24))`: the same values, but the clamp comes before the square
/// root, so a zero row (an x5 voxel whose channels are all dropped or below the ReLU) gets a finite
/// gradient. Clamping after the root gives `0 / 0 = NaN` there, which once turned a LA SimCVD run's
/// bottleneck weights into NaN at step 804 (docs/results.md).
pub fn l2_normalize<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let norm = x.clone().square().sum_dim(D - 1).clamp_min(1e-24).sqrt();
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::TensorData;

    #[test]
    fn rows_become_unit_and_zero_stays_zero() {
        let x = Tensor::<Flex, 2>::from_data(
            TensorData::from([[3.0f32, 4.0], [0.0, 0.0]]),
            &Default::default(),
        );
        let y = l2_normalize(x).into_data().to_vec::<f32>().unwrap();
        assert_eq!(y, vec![0.6, 0.8, 0.0, 0.0]);
    }

    #[test]
    fn the_gradient_is_the_projection_and_finite_at_a_zero_row() {
        let _one = crate::testing::one_backward_at_a_time();
        type A = Autodiff<Flex>;
        let x = Tensor::<A, 2>::from_data(
            TensorData::from([[3.0f32, 4.0], [0.0, 0.0]]),
            &Default::default(),
        )
        .require_grad();
        let w = Tensor::<A, 2>::from_data(
            TensorData::from([[1.0f32, 0.0], [1.0, 0.0]]),
            &Default::default(),
        );
        let grads = (l2_normalize(x.clone()) * w).sum().backward();
        let g = x.grad(&grads).unwrap().to_data().to_vec::<f32>().unwrap();
        // row 1: (w − (w·u)u)/‖x‖ with u = (0.6, 0.8), w·u = 0.6 -> (0.128, −0.096)
        assert!(
            (g[0] - 0.128).abs() < 1e-6 && (g[1] + 0.096).abs() < 1e-6,
            "{g:?}"
        );
        // row 2: x / 1e-12 near zero, so w / 1e-12 (PyTorch's F.normalize gives the same); finite
        assert!(g[2..].iter().all(|v| v.is_finite()), "{g:?}");
        assert!((g[2] / 1e12 - 1.0).abs() < 1e-3 && g[3] == 0.0, "{g:?}");
    }
}
