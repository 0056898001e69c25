//! SimCVD's projection head (spec B4 step 2): each axial slice (an X×Y plane) of a boundary-aware
//! volume `X + SDM` becomes an L2-normalised vector: AlphaDropout -> AdaptiveAvgPool2d(pool×pool)
//! -> flatten -> MLP (ReLU between layers) -> L2 norm. Widths 16384→512→256→128 are our choice [P].

use crate::nets::{AlphaDropout, AlphaDropoutConfig};
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{activation::relu, backend::Backend, module::adaptive_avg_pool2d, Tensor};

/// Configuration of [`ProjectionHead`] (defaults: spec B4).
#[derive(Config, Debug)]
pub struct ProjectionHeadConfig {
    /// Side of the pooled slice (128; the paper's ablation found 128² best).
    #[config(default = 128)]
    pub pool: usize,
    /// Hidden widths of the MLP.
    #[config(default = "vec![512, 256]")]
    pub hidden: Vec<usize>,
    /// Output width D_h.
    #[config(default = 128)]
    pub out: usize,
    /// AlphaDropout probability (0.1 best in the paper's ablation).
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// The head: one vector per slice.
#[derive(Module, Debug)]
pub struct ProjectionHead<B: Backend> {
    layers: Vec<Linear<B>>,
    dropout: AlphaDropout,
    pool: usize,
}

impl ProjectionHeadConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ProjectionHead<B> {
        let mut widths = vec![self.pool * self.pool];
        widths.extend(&self.hidden);
        widths.push(self.out);
        ProjectionHead {
            layers: widths
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            dropout: AlphaDropoutConfig::new(self.dropout).init(),
            pool: self.pool,
        }
    }
}

impl<B: Backend> ProjectionHead<B> {
    /// `x`: `[N, 1, X, Y, Z]` -> `[N, Z, out]`, unit vectors.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 3> {
        let [n, c, sx, sy, sz] = x.dims();
        let x = self.dropout.forward(x);
        let slices = x.permute([0, 4, 1, 2, 3]).reshape([n * sz, c, sx, sy]);
        let pooled = adaptive_avg_pool2d(slices, [self.pool, self.pool]);
        let mut h = pooled.reshape([n * sz, c * self.pool * self.pool]);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        let out = h.dims()[1];
        crate::nets::l2_normalize(h).reshape([n, sz, out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn one_unit_vector_per_slice() {
        let dev = Default::default();
        let head: ProjectionHead<Flex> = ProjectionHeadConfig::new()
            .with_pool(8)
            .with_hidden(vec![16])
            .with_out(4)
            .init(&dev);
        let x =
            Tensor::<Flex, 5>::random([2, 1, 6, 7, 3], burn::tensor::Distribution::Default, &dev);
        let h = head.forward(x);
        assert_eq!(h.dims(), [2, 3, 4]);
        let norms: Vec<f32> = h.square().sum_dim(2).sqrt().into_data().to_vec().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    }

    #[test]
    fn adaptive_pool_upsamples_like_pytorch() {
        // PyTorch bins: start = floor(i·H/O), end = ceil((i+1)·H/O); H = 3 -> O = 4:
        // bins [0,1) [0,2) [1,3) [2,3) -> means a, (a+b)/2, (b+c)/2, c
        let dev = Default::default();
        let x = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![1.0f32, 3.0, 7.0], [1, 1, 1, 3]),
            &dev,
        );
        let y = adaptive_avg_pool2d(x, [1, 4]);
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        assert_eq!(v, vec![1.0, 2.0, 5.0, 7.0]);
    }
}
