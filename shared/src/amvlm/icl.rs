//! L_ICL, Intra-modal Contrastive Learning (spec A5 (iv)). Runs on the momentum encoders' features
//! (no gradient), so only the two PDTs it uses (text, img_aug) learn from it.
//!
//! - Global: `G_bn = (−a·W2²(CLSᵛ_b, CLSᵗ_n) + b)/τ`, `L_g = ½[CE(G, diag) + CE(Gᵀ, diag)]`.
//! - Local, per modality, on samples `z = μ + ε·σ`: anchor `g_b = z_{b,0}`, locals
//!   `l_{b,j} = z_{b,j≥1}`; `L_loc = −mean log(e^{l_bj·g_b/τ} / (e^{l_bj·g_b/τ} + Σ_{b′≠b,j′} e^{l_b′j′·g_b/τ}))`.
//! - `L_ICL = ½[L_g + ½(L_loc^v + L_loc^t)]`.

use super::cross_entropy::{logsumexp, symmetric_ce};
use super::pdt::{Gaussians, Pdt, SigmaMode};
use super::wasserstein::{w2_across_batch, w2_logit};
use crate::nets::attention::additive_mask;
use burn::tensor::{backend::Backend, Distribution, Tensor};
use serde::{Deserialize, Serialize};

/// How the reparameterisation noise ε is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IclNoise {
    /// One ε ~ N(0, 1) per element (our default [P]).
    #[default]
    PerElement,
    /// One scalar ε per step, as the released code draws it.
    Scalar,
}

/// Options of L_ICL.
#[derive(Debug, Clone, Copy)]
pub struct IclOptions {
    pub tau: f64,
    /// Distance scale a (1/200).
    pub a: f64,
    /// Shift b (4).
    pub b: f64,
    pub sigma_mode: SigmaMode,
    pub noise: IclNoise,
}

/// `z = μ + ε·σ`.
pub fn sample<B: Backend>(g: &Gaussians<B>, noise: IclNoise) -> Tensor<B, 3> {
    let eps = match noise {
        IclNoise::PerElement => g.mu.random_like(Distribution::Normal(0.0, 1.0)),
        IclNoise::Scalar => {
            let e = Tensor::<B, 1>::random([1], Distribution::Normal(0.0, 1.0), &g.mu.device());
            e.reshape([1, 1, 1]).expand(g.mu.dims())
        }
    };
    g.mu.clone() + eps * g.sigma.clone()
}

/// The local term for `z [B, 1+N, D]` (anchor at index 0).
pub fn local_term<B: Backend>(z: Tensor<B, 3>, tau: f64) -> Tensor<B, 1> {
    let [b, t, d] = z.dims();
    let n = t - 1;
    let g = z.clone().slice([0..b, 0..1, 0..d]).reshape([b, d]);
    let l = z.slice([0..b, 1..t, 0..d]);
    let pos = (l.clone() * g.clone().reshape([b, 1, d]))
        .sum_dim(2)
        .reshape([b, n])
        / tau;
    // logits[a, b′, j′] = l_{b′j′}·g_a/τ, with b′ = a excluded.
    let all = g
        .matmul(l.reshape([b * n, d]).transpose())
        .reshape([b, b, n])
        / tau;
    let own = Tensor::<B, 2>::eye(b, &all.device())
        .equal_elem(1.0)
        .reshape([b, b, 1])
        .expand([b, b, n]);
    let neg = all.mask_fill(own, -1.0e30).reshape([b, b * n]);
    let lse_neg = logsumexp(neg, 1); // [B, 1]
    let denom = logsumexp(
        Tensor::stack::<3>(vec![pos.clone(), lse_neg.expand([b, n])], 2),
        2,
    )
    .reshape([b, n]);
    (denom - pos).mean()
}

/// L_ICL from the momentum image tokens `zv = [v′_g; P′]` `[B, 1+Np, D]`, the momentum text
/// tokens `zt = [t′_g; W′]` `[B, 1+Nw, D]` and the text validity `[B, 1+Nw]`.
pub fn icl_loss<B: Backend>(
    pdt_img_aug: &Pdt<B>,
    pdt_text: &Pdt<B>,
    zv: Tensor<B, 3>,
    zt: Tensor<B, 3>,
    text_valid: Tensor<B, 2>,
    opts: &IclOptions,
) -> Tensor<B, 1> {
    let gv = pdt_img_aug.gaussians(zv.detach(), None, opts.sigma_mode);
    let gt = pdt_text.gaussians(
        zt.detach(),
        Some(additive_mask(text_valid)),
        opts.sigma_mode,
    );
    let b = gv.mu.dims()[0];
    let cls = |g: &Gaussians<B>| {
        let c = g.tokens(0..1);
        let d = c.mu.dims()[2];
        (c.mu.reshape([b, d]), c.sigma.reshape([b, d]))
    };
    let ((mv, sv), (mt, st)) = (cls(&gv), cls(&gt));
    let global = symmetric_ce(w2_logit(
        w2_across_batch(mv, sv, mt, st),
        opts.a,
        opts.b,
        opts.tau,
    ));
    let local_v = local_term(sample(&gv, opts.noise), opts.tau);
    let local_t = local_term(sample(&gt, opts.noise), opts.tau);
    (global + (local_v + local_t) / 2.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn local_term_matches_float64_reference() {
        // B = 2, anchor + 2 locals, D = 2.
        let z = [
            [[1.0f64, 0.5], [0.2, -0.3], [0.7, 0.1]],
            [[-0.4, 0.9], [0.3, 0.3], [-0.5, 0.6]],
        ];
        let tau = 0.5;
        let dot = |a: &[f64; 2], b: &[f64; 2]| a[0] * b[0] + a[1] * b[1];
        let mut want = 0.0;
        for b in 0..2 {
            let g = &z[b][0];
            let negs: f64 = (0..2)
                .filter(|o| *o != b)
                .flat_map(|o| (1..3).map(move |j| (o, j)))
                .map(|(o, j)| (dot(&z[o][j], g) / tau).exp())
                .sum();
            for l in &z[b][1..3] {
                let p = (dot(l, g) / tau).exp();
                want -= (p / (p + negs)).ln();
            }
        }
        want /= 4.0;
        let t = Tensor::<Flex, 3>::from_data(
            TensorData::new(
                z.concat().concat().iter().map(|v| *v as f32).collect(),
                [2, 3, 2],
            ),
            &Default::default(),
        );
        let got = local_term(t, tau).into_scalar() as f64;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn scalar_noise_is_shared_by_all_elements() {
        let dev = Default::default();
        let g = Gaussians::<Flex> {
            mu: Tensor::zeros([2, 3, 4], &dev),
            sigma: Tensor::ones([2, 3, 4], &dev),
        };
        let z = sample(&g, IclNoise::Scalar)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(z.iter().all(|v| *v == z[0]));
        let z = sample(&g, IclNoise::PerElement)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(z.iter().any(|v| *v != z[0]));
    }
}
