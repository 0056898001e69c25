//! Probability Distribution Transformer, PDT (spec A3; `DisTrans(dim=128, heads=8)` of the AMVLM
//! and MAP code): turns each token of `X [B, N, D]` into a diagonal Gaussian `(μ, log σ)`.
//!
//! 1. `X' = LN1(GELU(Linear(X)))`
//! 2. `O = softmax(QKᵀ/√d + mask)·V` over `heads` heads (QKV from X', no bias; attention dropout)
//! 3. `μ_a = Drop(Linear(O_μ))`, `s_a = Drop(Linear(O_σ))` on the two channel halves of O
//! 4. `μ = X + μ_a;  μ = μ + MLP_μ(LN2(μ))`
//! 5. `log σ = s_a + MLP_σ(LN3(s_a))` (no residual from X)

use crate::nets::attention::{attend, merge_heads, split_heads};
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{activation::gelu, backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// How σ is obtained from the PDT's second output (spec A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SigmaMode {
    /// `σ = exp(clamp(log σ, −10, 10))`, as MAP does (our default).
    #[default]
    Exp,
    /// The raw second output used as σ, as the released AMVLM code does.
    Raw,
}

/// Configuration of [`Pdt`] (spec A3 defaults).
#[derive(Config, Debug)]
pub struct PdtConfig {
    /// Token width D.
    #[config(default = 128)]
    pub dim: usize,
    /// Attention heads.
    #[config(default = 8)]
    pub heads: usize,
    /// MLP hidden width (4·D).
    #[config(default = 512)]
    pub mlp_width: usize,
    /// Dropout on attention, projections and MLPs.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// One MLP branch: `Linear(D→4D), GELU, Drop, Linear(4D→D), Drop`.
#[derive(Module, Debug)]
pub struct PdtMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    drop: Dropout,
}

impl<B: Backend> PdtMlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.drop.forward(gelu(self.fc1.forward(x)));
        self.drop.forward(self.fc2.forward(h))
    }
}

/// The PDT.
#[derive(Module, Debug)]
pub struct Pdt<B: Backend> {
    pub embed: Linear<B>,
    pub norm1: LayerNorm<B>,
    pub qkv: Linear<B>,
    pub proj_mu: Linear<B>,
    pub proj_sigma: Linear<B>,
    pub norm2: LayerNorm<B>,
    pub mlp_mu: PdtMlp<B>,
    pub norm3: LayerNorm<B>,
    pub mlp_sigma: PdtMlp<B>,
    drop: Dropout,
    heads: usize,
}

/// A diagonal Gaussian per token.
#[derive(Debug, Clone)]
pub struct Gaussians<B: Backend> {
    /// Means `[B, N, D]`.
    pub mu: Tensor<B, 3>,
    /// Standard deviations `[B, N, D]` (see [`SigmaMode`]).
    pub sigma: Tensor<B, 3>,
}

impl<B: Backend> Gaussians<B> {
    /// Tokens `range` of every sample.
    pub fn tokens(&self, range: std::ops::Range<usize>) -> Gaussians<B> {
        let [b, _, d] = self.mu.dims();
        Gaussians {
            mu: self.mu.clone().slice([0..b, range.clone(), 0..d]),
            sigma: self.sigma.clone().slice([0..b, range, 0..d]),
        }
    }
}

/// Linear layer with N(0, 0.02) weights and zero bias (spec A3 step 6).
fn linear<B: Backend>(i: usize, o: usize, bias: bool, device: &B::Device) -> Linear<B> {
    LinearConfig::new(i, o)
        .with_bias(bias)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device)
        .map_bias_zero()
}

trait ZeroBias {
    fn map_bias_zero(self) -> Self;
}

impl<B: Backend> ZeroBias for Linear<B> {
    fn map_bias_zero(mut self) -> Self {
        if let Some(bias) = self.bias.take() {
            self.bias = Some(bias.map(|b| b.zeros_like()));
        }
        self
    }
}

impl PdtConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Pdt<B> {
        let d = self.dim;
        assert!(
            d.is_multiple_of(2) && d.is_multiple_of(self.heads),
            "PDT width must split into heads and halves"
        );
        let mlp = || PdtMlp {
            fc1: linear(d, self.mlp_width, true, device),
            fc2: linear(self.mlp_width, d, true, device),
            drop: DropoutConfig::new(self.dropout).init(),
        };
        Pdt {
            embed: linear(d, d, true, device),
            norm1: LayerNormConfig::new(d).init(device),
            qkv: linear(d, 3 * d, false, device),
            proj_mu: linear(d / 2, d, true, device),
            proj_sigma: linear(d / 2, d, true, device),
            norm2: LayerNormConfig::new(d).init(device),
            mlp_mu: mlp(),
            norm3: LayerNormConfig::new(d).init(device),
            mlp_sigma: mlp(),
            drop: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

impl<B: Backend> Pdt<B> {
    /// `x`: `[B, N, D]`; `mask`: additive key mask `[B, N]` (0 valid, −10000 padded).
    /// Returns `(μ, log σ)`, each `[B, N, D]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let [b, n, d] = x.dims();
        let h = self.norm1.forward(gelu(self.embed.forward(x.clone())));
        let qkv = self.qkv.forward(h);
        let part = |i: usize| {
            split_heads(
                qkv.clone().slice([0..b, 0..n, i * d..(i + 1) * d]),
                self.heads,
            )
        };
        let (o, _) = attend(part(0), part(1), part(2), mask, &self.drop);
        let o = merge_heads(o);
        let half = d / 2;
        let mu_a = self
            .drop
            .forward(self.proj_mu.forward(o.clone().slice([0..b, 0..n, 0..half])));
        let s_a = self
            .drop
            .forward(self.proj_sigma.forward(o.slice([0..b, 0..n, half..d])));
        let mu = x + mu_a;
        let mu = mu.clone() + self.mlp_mu.forward(self.norm2.forward(mu));
        let log_sigma = s_a.clone() + self.mlp_sigma.forward(self.norm3.forward(s_a));
        (mu, log_sigma)
    }

    /// [`forward`](Pdt::forward) with σ taken per `mode` (spec A4).
    pub fn gaussians(
        &self,
        x: Tensor<B, 3>,
        mask: Option<Tensor<B, 2>>,
        mode: SigmaMode,
    ) -> Gaussians<B> {
        let (mu, log_sigma) = self.forward(x, mask);
        let sigma = match mode {
            SigmaMode::Exp => log_sigma.clamp(-10.0, 10.0).exp(),
            SigmaMode::Raw => log_sigma,
        };
        Gaussians { mu, sigma }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, TensorData};

    type B = Flex;

    #[test]
    fn parameter_count_matches_the_spec() {
        // Spec A3: "about 0.35M parameters per PDT". Exactly: embed 16512 + LN 256 + qkv 49152 +
        // 2 × (64·128 + 128) + 2 × LN 256 + 2 × MLP (128·512 + 512 + 512·128 + 128) = 346,496.
        let pdt = PdtConfig::new().init::<B>(&Default::default());
        assert_eq!(pdt.num_params(), 346_496);
    }

    #[test]
    fn masked_tokens_do_not_influence_valid_ones() {
        // Inference backend: dropout is off. Changing a padded token changes nothing elsewhere.
        let dev = Default::default();
        let pdt = PdtConfig::new()
            .with_dim(16)
            .with_heads(4)
            .with_mlp_width(32)
            .init::<B>(&dev);
        let x = Tensor::<B, 3>::random([1, 4, 16], Distribution::Default, &dev);
        let valid = Tensor::<B, 2>::from_data(TensorData::from([[1.0f32, 1.0, 1.0, 0.0]]), &dev);
        let mask = crate::nets::attention::additive_mask(valid);
        let (mu1, s1) = pdt.forward(x.clone(), Some(mask.clone()));
        let x2 = x.slice_assign([0..1, 3..4, 0..16], Tensor::ones([1, 1, 16], &dev) * 50.0);
        let (mu2, s2) = pdt.forward(x2, Some(mask));
        let head = |t: Tensor<B, 3>| t.slice([0..1, 0..3, 0..16]);
        mu1.clone()
            .slice([0..1, 0..3, 0..16])
            .into_data()
            .assert_approx_eq::<f32>(&head(mu2).into_data(), Default::default());
        head(s1)
            .into_data()
            .assert_approx_eq::<f32>(&head(s2).into_data(), Default::default());
        assert_eq!(mu1.dims(), [1, 4, 16]);
    }

    #[test]
    fn exp_mode_gives_positive_sigma() {
        let dev = Default::default();
        let pdt = PdtConfig::new()
            .with_dim(8)
            .with_heads(2)
            .with_mlp_width(16)
            .init::<B>(&dev);
        let x = Tensor::<B, 3>::random([2, 3, 8], Distribution::Default, &dev);
        let g = pdt.gaussians(x, None, SigmaMode::Exp);
        let s = g.sigma.into_data().to_vec::<f32>().unwrap();
        assert!(s.iter().all(|v| *v > 0.0));
    }
}
