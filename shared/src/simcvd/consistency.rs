//! Consistency under noise (spec B4, Eq. 5): MSE between the student's and the (stop-gradient)
//! teacher's softmax probabilities, voxel mean (UA-MT `softmax_mse_loss`).

use crate::nets::class_softmax;
use burn::tensor::{backend::Backend, Tensor};

/// `mean((softmax(z_s) − softmax(z_t))²)` for logits `[B, K, X, Y, Z]`.
pub fn softmax_mse<B: Backend>(student: Tensor<B, 5>, teacher: Tensor<B, 5>) -> Tensor<B, 1> {
    let p_s = class_softmax(student);
    let p_t = class_softmax(teacher.detach());
    (p_s - p_t).square().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_a_float64_reference() {
        let dev = Default::default();
        let s =
            Tensor::<Flex, 5>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2, 1, 1, 1]), &dev);
        let t =
            Tensor::<Flex, 5>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2, 1, 1, 1]), &dev);
        let p = 1.0f64.exp() / (1.0 + 1.0f64.exp()); // softmax of (0, 1) -> (1-p, p)
        let want = ((1.0 - p) - p).powi(2); // both channels differ by the same amount
        let got: f32 = softmax_mse(s, t).into_scalar();
        assert!((got as f64 - want).abs() < 1e-6);
    }
}
