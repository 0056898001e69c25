//! L_tg (spec A6 step 8; TCL's ExtendedInfoNCE, DuSSS Eq. 12), the loss that trains the Text
//! Mask Generator's decoder and scale, by its own Adam:
//!
//! - `g_{b,n} = Σ_hw V_b·σ(Mₛ[b,n]) / (Σ_hw σ(Mₛ[b,n]) + 1e-6)`: image b's features pooled where
//!   text n says to look;
//! - `Lᵢ[b,n] = s·cos(g_{b,n}, t_n)` and `Lₜ = Lᵢᵀ`, with `s = min(e^ℓ, 100)`;
//! - `L_tg = ½[CE(Lᵢ, diag) + CE(Lₜ, diag)]`.

use super::cross_entropy::symmetric_ce;
use super::text_mask::similarity;
use crate::nets::l2_normalize;
use burn::tensor::activation::sigmoid;
use burn::tensor::{backend::Backend, Tensor};

/// The logits `Lᵢ [B, B]` (row b: image b against every text n). `v`: dense features
/// `[B, D, h, w]` (unit over channels); `texts`: `[B, D]` unit vectors; `scale`: `[1]`.
pub fn tg_logits<B: Backend>(
    v: Tensor<B, 4>,
    texts: Tensor<B, 2>,
    scale: Tensor<B, 1>,
) -> Tensor<B, 2> {
    let [b, d, h, w] = v.dims();
    let weights = sigmoid(similarity(v.clone(), texts.clone())).reshape([b, b, h * w]);
    let denom = weights.clone().sum_dim(2) + 1e-6; // [B, B, 1]
                                                   // [B, B, hw] x [B, hw, D] -> [B, B, D]
    let pooled = weights.matmul(v.reshape([b, d, h * w]).swap_dims(1, 2)) / denom;
    let cos = (l2_normalize(pooled) * texts.unsqueeze::<3>()).sum_dim(2); // [B, B, 1]
    cos.reshape([b, b]) * scale.reshape([1, 1])
}

/// `L_tg` of a batch (see the module header).
pub fn tg_loss<B: Backend>(
    v: Tensor<B, 4>,
    texts: Tensor<B, 2>,
    scale: Tensor<B, 1>,
) -> Tensor<B, 1> {
    symmetric_ce(tg_logits(v, texts, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pseudo_random;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type F = Flex;

    /// Against a float64 evaluation of the formulas with plain loops.
    #[test]
    fn matches_a_float64_reference() {
        let dev = Default::default();
        let (b, d, h, w) = (3, 4, 2, 3);
        // unit features over channels, unit texts
        let mut v = pseudo_random(b * d * h * w, 7);
        for bi in 0..b {
            for p in 0..h * w {
                let n: f64 = (0..d)
                    .map(|c| v[(bi * d + c) * h * w + p].powi(2))
                    .sum::<f64>()
                    .sqrt();
                for c in 0..d {
                    v[(bi * d + c) * h * w + p] /= n;
                }
            }
        }
        let mut t = pseudo_random(b * d, 11);
        for n in 0..b {
            let l: f64 = (0..d).map(|c| t[n * d + c].powi(2)).sum::<f64>().sqrt();
            for c in 0..d {
                t[n * d + c] /= l;
            }
        }
        let s = 1.0 / 0.07;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut logits = vec![vec![0.0f64; b]; b];
        for bi in 0..b {
            for n in 0..b {
                let mut g = vec![0.0; d];
                let mut wsum = 0.0;
                for p in 0..h * w {
                    let m: f64 = (0..d)
                        .map(|c| v[(bi * d + c) * h * w + p] * t[n * d + c])
                        .sum();
                    let wt = sig(m);
                    wsum += wt;
                    for c in 0..d {
                        g[c] += v[(bi * d + c) * h * w + p] * wt;
                    }
                }
                let g: Vec<f64> = g.iter().map(|x| x / (wsum + 1e-6)).collect();
                let gn = g.iter().map(|x| x * x).sum::<f64>().sqrt();
                let cos: f64 = (0..d).map(|c| g[c] / gn * t[n * d + c]).sum();
                logits[bi][n] = s * cos;
            }
        }
        let ce = |rows: &dyn Fn(usize, usize) -> f64| {
            (0..b)
                .map(|i| {
                    let lse = (0..b).map(|j| rows(i, j).exp()).sum::<f64>().ln();
                    lse - rows(i, i)
                })
                .sum::<f64>()
                / b as f64
        };
        let want = 0.5 * (ce(&|i, j| logits[i][j]) + ce(&|i, j| logits[j][i]));

        let vt = Tensor::<F, 4>::from_data(
            TensorData::new(v.iter().map(|&x| x as f32).collect(), [b, d, h, w]),
            &dev,
        );
        let tt = Tensor::<F, 2>::from_data(
            TensorData::new(t.iter().map(|&x| x as f32).collect(), [b, d]),
            &dev,
        );
        let scale = Tensor::<F, 1>::from_floats([s as f32], &dev);
        let got: Vec<f32> = tg_logits(vt.clone(), tt.clone(), scale.clone())
            .into_data()
            .to_vec()
            .unwrap();
        for i in 0..b {
            for j in 0..b {
                assert!(
                    (got[i * b + j] as f64 - logits[i][j]).abs() < 1e-4,
                    "L[{i},{j}]"
                );
            }
        }
        let loss = tg_loss(vt, tt, scale).into_scalar() as f64;
        assert!((loss - want).abs() < 1e-4, "{loss} vs {want}");
    }
}
