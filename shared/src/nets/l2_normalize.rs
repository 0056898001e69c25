//! L2 normalisation along the last dimension (PyTorch `F.normalize(x, dim=-1)`, eps 1e-12), used by
//! every embedding head in SimCVD (B4) and AMVLM (A2).

use burn::tensor::{backend::Backend, Tensor};

/// `x / max(‖x‖₂, 1e-12)` over the last dimension.
pub fn l2_normalize<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let norm = x.clone().square().sum_dim(D - 1).sqrt().clamp_min(1e-12);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
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
}
