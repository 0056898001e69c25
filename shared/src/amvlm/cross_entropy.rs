//! Cross-entropy helpers shared by the AMVLM losses (spec A5): every contrastive term is a
//! softmax cross-entropy whose target is the matching index (the diagonal).

use burn::tensor::{activation::log_softmax, backend::Backend, Tensor};

/// Per-row cross-entropy of square logits `[B, N, N]` with target `i` for row `i`: `[B, N]`.
pub fn ce_diagonal<B: Backend>(logits: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, n, m] = logits.dims();
    assert_eq!(n, m, "diagonal cross-entropy needs square logits");
    let eye = Tensor::<B, 2>::eye(n, &logits.device()).unsqueeze::<3>();
    (log_softmax(logits, 2) * eye)
        .sum_dim(2)
        .reshape([b, n])
        .neg()
}

/// `½[CE(S, diag) + CE(Sᵀ, diag)]` averaged over the rows of `S [N, N]` (CLIP's symmetric loss).
pub fn symmetric_ce<B: Backend>(s: Tensor<B, 2>) -> Tensor<B, 1> {
    let s = s.unsqueeze::<3>();
    let rows = ce_diagonal(s.clone()).mean();
    let cols = ce_diagonal(s.swap_dims(1, 2)).mean();
    (rows + cols) / 2.0
}

/// `log Σ exp(x)` along `dim` (kept as size 1), stable: `max + log Σ exp(x − max)`.
pub fn logsumexp<B: Backend, const D: usize>(x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
    let max = x.clone().max_dim(dim).detach();
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    #[test]
    fn diagonal_ce_matches_hand_values() {
        let dev = Default::default();
        let s = Tensor::<B, 3>::from_data(
            TensorData::new(vec![2.0f32, 0.0, 1.0, 3.0], [1, 2, 2]),
            &dev,
        );
        let ce = ce_diagonal(s).into_data().to_vec::<f32>().unwrap();
        let r0 = -(2.0f64 - (2.0f64.exp() + 1.0).ln());
        let r1 = -(3.0f64 - (1.0f64.exp() + 3.0f64.exp()).ln());
        assert!((ce[0] as f64 - r0).abs() < 1e-6 && (ce[1] as f64 - r1).abs() < 1e-6);
        let sym = symmetric_ce(Tensor::<B, 2>::from_data(
            TensorData::from([[2.0f32, 0.0], [1.0, 3.0]]),
            &dev,
        ));
        // Columns: col 0 = (2, 1) target 0, col 1 = (0, 3) target 1.
        let c0 = -(2.0f64 - (2.0f64.exp() + 1.0f64.exp()).ln());
        let c1 = -(3.0f64 - (1.0 + 3.0f64.exp()).ln());
        let want = ((r0 + r1) / 2.0 + (c0 + c1) / 2.0) / 2.0;
        assert!((sym.into_scalar() as f64 - want).abs() < 1e-6);
    }

    #[test]
    fn logsumexp_is_stable() {
        let x = Tensor::<B, 2>::from_data(
            TensorData::from([[1000.0f32, 1000.0], [0.0, 0.0]]),
            &Default::default(),
        );
        let l = logsumexp(x, 1).into_data().to_vec::<f32>().unwrap();
        assert!((l[0] - (1000.0 + 2f32.ln())).abs() < 1e-3 && (l[1] - 2f32.ln()).abs() < 1e-6);
    }
}
