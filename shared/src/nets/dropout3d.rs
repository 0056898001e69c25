//! Channel dropout for 5D tensors (PyTorch `Dropout3d`; spec C): whole channels are zeroed with
//! probability `p` and the rest scaled by `1/(1-p)`. Active only on an autodiff backend (training),
//! like burn's own `Dropout`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{backend::Backend, Distribution, Tensor};

/// Configuration of [`Dropout3d`].
#[derive(Config, Debug)]
pub struct Dropout3dConfig {
    /// Probability of zeroing a channel (V-Net: 0.5, spec B2).
    pub prob: f64,
}

/// Channel dropout: a Bernoulli mask of shape `[B, C, 1, 1, 1]`.
#[derive(Module, Clone, Debug)]
pub struct Dropout3d {
    pub prob: f64,
}

impl Dropout3dConfig {
    pub fn init(&self) -> Dropout3d {
        Dropout3d { prob: self.prob }
    }
}

impl Dropout3d {
    /// `x`: `[B, C, X, Y, Z]` -> same shape.
    pub fn forward<B: Backend>(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        if !B::ad_enabled(&x.device()) || self.prob == 0.0 {
            return x;
        }
        let [b, c, ..] = x.dims();
        let keep = 1.0 - self.prob;
        let mask =
            Tensor::<B, 5>::random([b, c, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
        x * mask / keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    #[test]
    fn zeroes_whole_channels_and_rescales() {
        let dev = Default::default();
        let x = Tensor::<Autodiff<Flex>, 5>::ones([2, 64, 2, 2, 2], &dev);
        let y = Dropout3dConfig::new(0.5).init().forward(x);
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        let mut zero_channels = 0;
        for ch in v.chunks(8) {
            // a channel is all 0 or all 2
            assert!(ch.iter().all(|&a| a == ch[0]) && (ch[0] == 0.0 || ch[0] == 2.0));
            zero_channels += (ch[0] == 0.0) as usize;
        }
        assert!((20..108).contains(&zero_channels), "{zero_channels} of 128");
        // inference: identity
        let x = Tensor::<Flex, 5>::ones([1, 4, 1, 1, 1], &dev);
        let y = Dropout3dConfig::new(0.5).init().forward(x.clone());
        assert_eq!(y.into_data(), x.into_data());
    }
}
