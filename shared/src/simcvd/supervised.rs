//! SimCVD's supervised loss (spec B4, Eq. 1): `L_seg + α·MSE(SDM)`, with `L_seg` in the UA-MT form
//! `0.5·(CE + (1 − Dice_fg))` and Dice `(2Σpg + 1e-5)/(Σp² + Σg² + 1e-5)` over the whole batch.

use crate::nets::{class_log_softmax, class_softmax};
use burn::tensor::{backend::Backend, Tensor};

/// Smoothing of UA-MT's `dice_loss`.
pub const DICE_SMOOTH: f64 = 1e-5;

/// `0.5·(CE + DiceLoss_fg)` for two-class logits `[B, 2, X, Y, Z]` against a 0/1 mask
/// `[B, 1, X, Y, Z]`. Returns a scalar `[1]`.
pub fn seg_loss<B: Backend>(logits: Tensor<B, 5>, mask: Tensor<B, 5>) -> Tensor<B, 1> {
    0.5 * (cross_entropy(logits.clone(), mask.clone()) + dice_loss(logits, mask))
}

/// Voxel-mean cross-entropy of two-class logits against a 0/1 mask.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 5>, mask: Tensor<B, 5>) -> Tensor<B, 1> {
    let logp = class_log_softmax(logits);
    let lp0 = logp.clone().narrow(1, 0, 1);
    let lp1 = logp.narrow(1, 1, 1);
    let bg = mask.clone().neg().add_scalar(1.0);
    (mask * lp1 + bg * lp0).mean().neg()
}

/// UA-MT `dice_loss` on the foreground softmax probability: `1 − (2Σpg + s)/(Σp² + Σg² + s)`.
pub fn dice_loss<B: Backend>(logits: Tensor<B, 5>, mask: Tensor<B, 5>) -> Tensor<B, 1> {
    let p = class_softmax(logits).narrow(1, 1, 1);
    let inter = (p.clone() * mask.clone()).sum();
    let denom = p.square().sum() + mask.square().sum();
    (inter * 2.0 + DICE_SMOOTH)
        .div(denom + DICE_SMOOTH)
        .neg()
        .add_scalar(1.0)
}

/// Mean squared error between the predicted and the target SDM (any equal shapes).
pub fn sdm_loss<B: Backend, const D: usize>(
    pred: Tensor<B, D>,
    target: Tensor<B, D>,
) -> Tensor<B, 1> {
    (pred - target).square().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_a_float64_reference() {
        let dev = Default::default();
        // 2 voxels, logits (bg, fg): (0, 1) with g=1 and (2, -1) with g=0; 1x2x1x1x2 layout
        let logits = Tensor::<Flex, 5>::from_data(
            TensorData::new(vec![0.0f32, 2.0, 1.0, -1.0], [1, 2, 1, 1, 2]),
            &dev,
        );
        let mask =
            Tensor::<Flex, 5>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 1, 1, 2]), &dev);
        let sm = |a: f64, b: f64| (b.exp() / (a.exp() + b.exp()), a.exp() / (a.exp() + b.exp()));
        let (p1, _) = sm(0.0, 1.0); // foreground prob of voxel 1
        let (q1, q0) = sm(2.0, -1.0); // voxel 2: fg prob q1, bg prob q0
        let ce = -(p1.ln() + q0.ln()) / 2.0;
        let dice = 1.0 - (2.0 * p1 + 1e-5) / (p1 * p1 + q1 * q1 + 1.0 + 1e-5);
        let got: f32 = seg_loss(logits.clone(), mask.clone()).into_scalar();
        assert!((got as f64 - 0.5 * (ce + dice)).abs() < 1e-6, "{got}");
        let got_ce: f32 = cross_entropy(logits, mask).into_scalar();
        assert!((got_ce as f64 - ce).abs() < 1e-6);
        let a = Tensor::<Flex, 1>::from_floats([1.0, -1.0, 0.5], &dev);
        let b = Tensor::<Flex, 1>::from_floats([0.0, 0.0, 0.0], &dev);
        assert!((sdm_loss(a, b).into_scalar() - 0.75).abs() < 1e-6);
    }
}
