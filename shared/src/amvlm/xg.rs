//! L_xg, the cross-granularity cross-modal term (spec A5 (iii), the code's "loss_local"): every
//! patch is contrasted against all sentence embeddings, every word slot against all image
//! embeddings, each token weighted by how *undecided* it is across the batch.
//!
//! Per token j of sample b: `CE_{b,j} = CE(x_{b,j}·g_nᵀ/τ over n, target b)`;
//! `v_{b,j} = Var_n(x_{b,j}·g_n)` (unbiased; the code meant to drop n = b but keeps it);
//! `u_b = minmax_j(1 / L2n_j(v_b))`; `L = Σ u·CE / (N·B)`. `L_xg = L_p2t + L_w2v`.

use burn::tensor::{activation::log_softmax, backend::Backend, Tensor};

/// One direction: tokens `x [B, N, D]` against globals `g [B, D]`.
pub fn token_to_global<B: Backend>(x: Tensor<B, 3>, g: Tensor<B, 2>, tau: f64) -> Tensor<B, 1> {
    let [b, n, d] = x.dims();
    let sims = x
        .reshape([b * n, d])
        .matmul(g.transpose())
        .reshape([b, n, b]); // x_{b,j}·g_m
                             // CE with target b for sample b: pick column b of each row.
    let eye = Tensor::<B, 2>::eye(b, &sims.device()).reshape([b, 1, b]);
    let ce = (log_softmax(sims.clone() / tau, 2) * eye)
        .sum_dim(2)
        .reshape([b, n])
        .neg();
    // Weights (constants of the loss [P]).
    let s = sims.detach();
    let mean = s.clone().mean_dim(2);
    let var = (s - mean).square().sum_dim(2).reshape([b, n]) / (b.max(2) - 1) as f64;
    let norm = var.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    let inv = (var / norm).clamp_min(1e-12).recip();
    let lo = inv.clone().min_dim(1);
    let hi = inv.clone().max_dim(1);
    let u = (inv - lo.clone()) / (hi - lo).clamp_min(1e-12);
    (u * ce).sum() / (n * b) as f64
}

/// `L_xg = L_p2t(P, t_g) + L_w2v(W, v_g)`.
pub fn xg_loss<B: Backend>(
    patches: Tensor<B, 3>,
    t_g: Tensor<B, 2>,
    words: Tensor<B, 3>,
    v_g: Tensor<B, 2>,
    tau: f64,
) -> Tensor<B, 1> {
    token_to_global(patches, t_g, tau) + token_to_global(words, v_g, tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_float64_reference() {
        // B = 3 samples, N = 2 tokens, D = 2.
        let x = [
            [[1.0f64, 0.0], [0.6, 0.8]],
            [[0.0, 1.0], [0.8, -0.6]],
            [[-1.0, 0.0], [0.28, 0.96]],
        ];
        let g = [[0.6f64, 0.8], [1.0, 0.0], [0.0, -1.0]];
        let tau = 0.07;
        let dot = |a: &[f64; 2], b: &[f64; 2]| a[0] * b[0] + a[1] * b[1];
        let mut ce = [[0.0; 2]; 3];
        let mut var = [[0.0; 2]; 3];
        for b in 0..3 {
            for j in 0..2 {
                let s: Vec<f64> = g.iter().map(|gm| dot(&x[b][j], gm)).collect();
                let l: Vec<f64> = s.iter().map(|v| v / tau).collect();
                let m = l.iter().cloned().fold(f64::MIN, f64::max);
                ce[b][j] = -(l[b] - m - l.iter().map(|v| (v - m).exp()).sum::<f64>().ln());
                let mean = s.iter().sum::<f64>() / 3.0;
                var[b][j] = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
            }
        }
        let mut want = 0.0;
        for b in 0..3 {
            let n = (var[b][0].powi(2) + var[b][1].powi(2)).sqrt();
            let inv = [n / var[b][0], n / var[b][1]];
            let (lo, hi) = (inv[0].min(inv[1]), inv[0].max(inv[1]));
            for j in 0..2 {
                want += (inv[j] - lo) / (hi - lo) * ce[b][j];
            }
        }
        want /= 6.0;
        let dev = Default::default();
        let xt = Tensor::<Flex, 3>::from_data(
            TensorData::new(
                x.concat().concat().iter().map(|v| *v as f32).collect(),
                [3, 2, 2],
            ),
            &dev,
        );
        let gt = Tensor::<Flex, 2>::from_data(
            TensorData::new(g.concat().iter().map(|v| *v as f32).collect(), [3, 2]),
            &dev,
        );
        let got = token_to_global(xt, gt, tau).into_scalar() as f64;
        assert!(
            (got - want).abs() < 1e-3 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}
