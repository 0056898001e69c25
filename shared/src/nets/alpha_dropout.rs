//! Alpha dropout (Klambauer et al. 2017, PyTorch `AlphaDropout`; spec C), used by SimCVD's
//! projection head (B4): dropped units are set to the SELU saturation value `α'` and an affine map
//! keeps mean and variance: `y = a·(x·m + α'(1−m)) + b`, `a = ((1−p)(1 + p·α'²))^{-1/2}`,
//! `b = −a·α'·p`. Active only on an autodiff backend (training).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{backend::Backend, Distribution, Tensor};

/// SELU's negative saturation `-λ·α`.
pub const ALPHA_PRIME: f64 = -1.758_099_340_847_376_6;

/// Configuration of [`AlphaDropout`].
#[derive(Config, Debug)]
pub struct AlphaDropoutConfig {
    /// Drop probability (SimCVD: 0.1, spec B4).
    pub prob: f64,
}

#[derive(Module, Clone, Debug)]
pub struct AlphaDropout {
    pub prob: f64,
}

impl AlphaDropoutConfig {
    pub fn init(&self) -> AlphaDropout {
        AlphaDropout { prob: self.prob }
    }
}

impl AlphaDropout {
    /// The affine coefficients `(a, b)` for drop probability `p`.
    pub fn coefficients(p: f64) -> (f64, f64) {
        let a = ((1.0 - p) * (1.0 + p * ALPHA_PRIME * ALPHA_PRIME)).powf(-0.5);
        (a, -a * ALPHA_PRIME * p)
    }

    /// Any shape -> same shape.
    pub fn forward<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        if !B::ad_enabled(&x.device()) || self.prob == 0.0 {
            return x;
        }
        let (a, b) = Self::coefficients(self.prob);
        let keep = x.random_like(Distribution::Bernoulli(1.0 - self.prob));
        let dropped = keep.clone().neg().add_scalar(1.0);
        (x * keep + dropped * ALPHA_PRIME) * a + b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    #[test]
    fn coefficients_match_pytorch() {
        // torch: for p=0.1, a = 0.9229..., b = 0.1622...
        let (a, b) = AlphaDropout::coefficients(0.1);
        let want_a = 1.0 / (0.9f64 * (1.0 + 0.1 * ALPHA_PRIME * ALPHA_PRIME)).sqrt();
        assert!((a - want_a).abs() < 1e-12);
        assert!((b + want_a * ALPHA_PRIME * 0.1).abs() < 1e-12);
    }

    #[test]
    fn keeps_zero_mean_unit_variance() {
        let dev = Default::default();
        let x =
            Tensor::<Autodiff<Flex>, 1>::random([200_000], Distribution::Normal(0.0, 1.0), &dev);
        let y = AlphaDropoutConfig::new(0.2).init().forward(x);
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&a| a as f64).sum::<f64>() / n;
        let var = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }
}
