//! L_CSS, Cross-modal Similarity Supervision (spec A5 (ii)): token-level alignment (MGCA) whose
//! similarities are adjusted by the 2-Wasserstein distance between each token's Gaussian (PDT)
//! and its cross-modal context's Gaussian.
//!
//! For one side (words, say): `C = L2n(softmax(W Pᵀ/τ)·P)`, `S = W Cᵀ/τ`,
//! `c = sigmoid(W2²/M)` between token i and context k, `Ŝ = 1 − (1 − S)⊙c`, then the weighted
//! cross-entropy of `Ŝ` and `Ŝᵀ` with diagonal targets, `½[Σω·ℓ¹ + Σω·ℓ²]/B`.

use super::cross_entropy::ce_diagonal;
use super::model::{ImageEmbeddings, TextEmbeddings};
use super::pdt::{Gaussians, Pdt, SigmaMode};
use super::token_weights::clip_normalise;
use super::wasserstein::{css_coefficient, w2_columnwise, w2_pairwise};
use crate::nets::attention::additive_mask;
use crate::nets::l2_normalize;
use burn::tensor::{activation::softmax, backend::Backend, Tensor};

/// Options of L_CSS.
#[derive(Debug, Clone, Copy)]
pub struct CssOptions {
    /// Temperature τ.
    pub tau: f64,
    /// `true`: the intended pairwise `W2²(token i, context k)`; `false`: the released code's
    /// per-column form (A5 quirk).
    pub pairwise: bool,
    /// How σ comes out of the PDTs.
    pub sigma_mode: SigmaMode,
}

/// The context of each token of `x [B, N, D]` among the tokens of `y [B, M, D]`:
/// `L2n(softmax(x yᵀ/τ + mask)·y)`. `y_valid`: optional 0/1 validity of y's tokens `[B, M]`.
pub fn context<B: Backend>(
    x: Tensor<B, 3>,
    y: Tensor<B, 3>,
    y_valid: Option<Tensor<B, 2>>,
    tau: f64,
) -> Tensor<B, 3> {
    let mut scores = x.matmul(y.clone().swap_dims(1, 2)) / tau;
    if let Some(valid) = y_valid {
        let [b, m] = valid.dims();
        scores = scores + additive_mask(valid).reshape([b, 1, m]);
    }
    l2_normalize(softmax(scores, 2).matmul(y))
}

/// One side of L_CSS from tokens `x`, their contexts `c` (both `[B, N, D]`), the Gaussians of
/// each, and the token weights `omega [B, N]` (already clipped and normalised).
pub fn css_side<B: Backend>(
    x: Tensor<B, 3>,
    c: Tensor<B, 3>,
    gx: &Gaussians<B>,
    gc: &Gaussians<B>,
    omega: Tensor<B, 2>,
    opts: &CssOptions,
) -> Tensor<B, 1> {
    let b = x.dims()[0];
    let s = x.matmul(c.swap_dims(1, 2)) / opts.tau;
    let (w2, mean) = if opts.pairwise {
        w2_pairwise(gx, gc)
    } else {
        w2_columnwise(gx, gc)
    };
    let coef = css_coefficient(w2, mean);
    let s_hat = (s.neg() + 1.0) * coef;
    let s_hat = s_hat.neg() + 1.0;
    let l1 = ce_diagonal(s_hat.clone());
    let l2 = ce_diagonal(s_hat.swap_dims(1, 2));
    ((l1 + l2) * omega).sum() / (2.0 * b as f64)
}

/// The three PDTs L_CSS uses (A5 (ii): the text_att PDT serves both sides' contexts).
pub struct CssPdts<'a, B: Backend> {
    pub img: &'a Pdt<B>,
    pub text: &'a Pdt<B>,
    pub text_att: &'a Pdt<B>,
}

/// The tokens L_CSS aligns.
pub struct CssTokens<B: Backend> {
    /// Patch embeddings P `[B, Np, D]` (unit vectors).
    pub patches: Tensor<B, 3>,
    /// Word embeddings W `[B, Nw, D]` (unit vectors).
    pub words: Tensor<B, 3>,
    /// Word validity `[B, Nw]` (1 word, 0 pad).
    pub word_valid: Tensor<B, 2>,
    /// Raw word weights a_w `[B, Nw]` (CLS→word attention).
    pub word_attention: Tensor<B, 2>,
    /// Raw patch weights `[B, Np]` (last ViT block's CLS→patch attention).
    pub patch_attention: Tensor<B, 2>,
}

impl<B: Backend> CssTokens<B> {
    /// The tokens of one batch's image and text embeddings.
    pub fn from_embeddings(img: &ImageEmbeddings<B>, txt: &TextEmbeddings<B>) -> Self {
        CssTokens {
            patches: img.patches.clone(),
            words: txt.words.clone(),
            word_valid: txt.valid.clone(),
            word_attention: txt.attention.clone(),
            patch_attention: img.attention.clone(),
        }
    }
}

/// The two sides of L_CSS; `total() = ½(patch + word)`.
pub struct CssLoss<B: Backend> {
    pub word: Tensor<B, 1>,
    pub patch: Tensor<B, 1>,
}

impl<B: Backend> CssLoss<B> {
    pub fn total(&self) -> Tensor<B, 1> {
        (self.word.clone() + self.patch.clone()) / 2.0
    }
}

/// L_CSS (A5 (ii)).
pub fn css_loss<B: Backend>(pdts: &CssPdts<B>, t: &CssTokens<B>, opts: &CssOptions) -> CssLoss<B> {
    let text_mask = Some(additive_mask(t.word_valid.clone()));
    // Word side: padded patches do not exist; padded words are not masked as queries (code).
    let c_w = context(t.words.clone(), t.patches.clone(), None, opts.tau);
    let g_w = pdts
        .text
        .gaussians(t.words.clone(), text_mask.clone(), opts.sigma_mode);
    let g_cw = pdts
        .text_att
        .gaussians(c_w.clone(), text_mask, opts.sigma_mode);
    let omega_w = clip_normalise(t.word_attention.clone());
    let word = css_side(t.words.clone(), c_w, &g_w, &g_cw, omega_w, opts);
    // Patch side: the context of a patch comes from the valid words only.
    let c_p = context(
        t.patches.clone(),
        t.words.clone(),
        Some(t.word_valid.clone()),
        opts.tau,
    );
    let g_p = pdts.img.gaussians(t.patches.clone(), None, opts.sigma_mode);
    let g_cp = pdts.text_att.gaussians(c_p.clone(), None, opts.sigma_mode);
    let omega_p = clip_normalise(t.patch_attention.clone());
    let patch = css_side(t.patches.clone(), c_p, &g_p, &g_cp, omega_p, opts);
    CssLoss { word, patch }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    use crate::testing::pseudo_random as values;

    fn t3(v: &[f64], shape: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(
            TensorData::new(v.iter().map(|x| *x as f32).collect(), shape),
            &Default::default(),
        )
    }

    fn normalise_rows(v: &mut [f64], d: usize) {
        for row in v.chunks_mut(d) {
            let n = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            row.iter_mut().for_each(|x| *x /= n);
        }
    }

    /// Float64 reference of one CSS side for one sample.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f64],
        c: &[f64],
        mx: &[f64],
        sx: &[f64],
        mc: &[f64],
        sc: &[f64],
        w: &[f64],
        n: usize,
        d: usize,
        tau: f64,
        pairwise: bool,
    ) -> f64 {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let sq =
            |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
        let row = |v: &[f64], i: usize| v[i * d..(i + 1) * d].to_vec();
        let mut sh = vec![vec![0.0; n]; n];
        for (i, sh_row) in sh.iter_mut().enumerate() {
            for (k, sh_ik) in sh_row.iter_mut().enumerate() {
                let s = dot(&row(x, i), &row(c, k)) / tau;
                let a = if pairwise { i } else { k };
                let m = sq(&row(mx, a), &row(mc, k));
                let w2 = m + sq(&row(sx, a), &row(sc, k));
                let coef = 1.0 / (1.0 + (-(w2 / m)).exp());
                *sh_ik = 1.0 - (1.0 - s) * coef;
            }
        }
        let ce = |r: Vec<f64>, t: usize| {
            let m = r.iter().cloned().fold(f64::MIN, f64::max);
            -(r[t] - m - r.iter().map(|v| (v - m).exp()).sum::<f64>().ln())
        };
        let mut total = 0.0;
        for i in 0..n {
            total += w[i] * ce(sh[i].clone(), i);
            total += w[i] * ce((0..n).map(|r| sh[r][i]).collect(), i);
        }
        total / 2.0
    }

    #[test]
    fn css_side_matches_float64_reference_in_both_forms() {
        let (n, d, tau) = (3, 4, 0.07);
        let mut x = values(n * d, 1);
        let mut c = values(n * d, 2);
        normalise_rows(&mut x, d);
        normalise_rows(&mut c, d);
        let (mx, mc) = (values(n * d, 3), values(n * d, 4));
        let sx: Vec<f64> = values(n * d, 5).iter().map(|v| v.exp()).collect();
        let sc: Vec<f64> = values(n * d, 6).iter().map(|v| v.exp()).collect();
        let w = [0.5, 0.3, 0.2];
        for pairwise in [true, false] {
            let want = reference(&x, &c, &mx, &sx, &mc, &sc, &w, n, d, tau, pairwise);
            let sh = [1, n, d];
            let gx = Gaussians {
                mu: t3(&mx, sh),
                sigma: t3(&sx, sh),
            };
            let gc = Gaussians {
                mu: t3(&mc, sh),
                sigma: t3(&sc, sh),
            };
            let omega = Tensor::<B, 2>::from_data(
                TensorData::new(w.iter().map(|v| *v as f32).collect(), [1, n]),
                &Default::default(),
            );
            let opts = CssOptions {
                tau,
                pairwise,
                sigma_mode: SigmaMode::Exp,
            };
            let got = css_side(t3(&x, sh), t3(&c, sh), &gx, &gc, omega, &opts).into_scalar() as f64;
            assert!(
                (got - want).abs() < 1e-3 * want.abs().max(1.0),
                "pairwise={pairwise}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn context_ignores_padded_keys() {
        // x attends to y; y's second token is padding, so the context is y's first token.
        let x = t3(&[1.0, 0.0], [1, 1, 2]);
        let y = t3(&[0.0, 1.0, 1.0, 0.0], [1, 2, 2]);
        let valid =
            Tensor::<B, 2>::from_data(TensorData::from([[1.0f32, 0.0]]), &Default::default());
        let c = context(x.clone(), y.clone(), Some(valid), 0.07)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((c[0]).abs() < 1e-4 && (c[1] - 1.0).abs() < 1e-4);
        // Unmasked: weights softmax([0, 1]/τ) = (1/(1+e^{1/τ}), …), then L2-normalised.
        let c = context(x, y, None, 0.07)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let p1 = 1.0 / (1.0 + (-1.0f64 / 0.07).exp());
        let (a, b) = (1.0 - p1, p1);
        let n = (a * a + b * b).sqrt();
        assert!((c[0] as f64 - b / n).abs() < 1e-5 && (c[1] as f64 - a / n).abs() < 1e-5);
    }
}
