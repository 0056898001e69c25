//! L_wp: word–patch contrast across the batch. **Our addition [P], not part of AMVLM** (off by
//! default: `w_wp = 0`); FILIP's token-wise late interaction (Yao et al., 2022) on the local
//! embeddings of A2.
//!
//! Why: A5's local terms cannot teach a word *where* it is. L_CSS contrasts the words of one
//! sentence with each other (a word may pick any patch that tells it from its neighbours), and
//! L_xg pulls every patch of an image toward its whole text. L_wp asks each word of text `n` to
//! find a matching patch in its own image and in no other: "upper left" scores high only on
//! images with something in the upper left, so its best patch must be that something.
//!
//! Text `n` and image `b` score `s(n, b) = Σᵢ vₙᵢ maxⱼ ⟨Wₙᵢ, P_bj⟩ / Σᵢ vₙᵢ` (v: the real word
//! slots, padding excluded; W and P are unit vectors), and
//! `L_wp = ½[CE(S/τ, diag) + CE(Sᵀ/τ, diag)]` with `S[n, b] = s(n, b)`.

use super::cross_entropy::symmetric_ce;
use burn::tensor::{backend::Backend, Tensor};

/// `patches` P `[B, N, D]`, `words` W `[B, L, D]` (unit vectors), `valid` `[B, L]` (1 for a real
/// word slot, 0 for padding).
pub fn word_patch_loss<B: Backend>(
    patches: Tensor<B, 3>,
    words: Tensor<B, 3>,
    valid: Tensor<B, 2>,
    tau: f64,
) -> Tensor<B, 1> {
    symmetric_ce(word_patch_scores(patches, words, valid) / tau)
}

/// `S [texts, images]`: `S[n, b] = s(n, b)` of the module docs.
pub fn word_patch_scores<B: Backend>(
    patches: Tensor<B, 3>,
    words: Tensor<B, 3>,
    valid: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let [b, n, d] = patches.dims();
    let [t, l, _] = words.dims();
    let sim = words
        .reshape([t * l, d])
        .matmul(patches.reshape([b * n, d]).transpose())
        .reshape([t, l, b, n]);
    // each word's best patch in each image: [texts, slots, images]
    let best = sim.max_dim(3).reshape([t, l, b]);
    let count = valid.clone().sum_dim(1).clamp_min(1.0); // [texts, 1]
    (best * valid.reshape([t, l, 1])).sum_dim(1).reshape([t, b]) / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    fn t3(v: &[[[f32; 2]; 2]]) -> Tensor<B, 3> {
        let flat: Vec<f32> = v.iter().flatten().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [v.len(), 2, 2]), &Default::default())
    }

    #[test]
    fn scores_and_loss_against_hand_values() {
        // two images of two patches, two texts of two slots (text 1's second slot is padding)
        let patches = t3(&[[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [-1.0, 0.0]]]);
        let words = t3(&[[[1.0, 0.0], [0.8, 0.6]], [[0.0, -1.0], [1.0, 0.0]]]);
        let valid = Tensor::<B, 2>::from_data([[1.0f32, 1.0], [1.0, 0.0]], &Default::default());
        // text 0, image 0: word (1,0) best 1; word (.8,.6) best max(.8,.6) = .8 -> mean .9
        // text 0, image 1: (1,0) -> max(.6,-1) = .6; (.8,.6) -> max(.96,-.8) = .96 -> .78
        // text 1 (one word (0,-1)), image 0: max(0,-1) = 0; image 1: max(-.8, 0) = 0
        let want = [[0.9f64, 0.78], [0.0, 0.0]];
        let s = word_patch_scores(patches.clone(), words.clone(), valid.clone());
        let got: Vec<f32> = s.into_data().to_vec().unwrap();
        for (g, w) in got.iter().zip(want.iter().flatten()) {
            assert!((*g as f64 - w).abs() < 1e-6, "{got:?}");
        }
        // L = ½[mean_n CE(row n, n) + mean_b CE(column b, b)] in f64
        let tau = 0.5;
        let ce = |row: [f64; 2], i: usize| {
            let lse = (row[0] / tau).exp() + (row[1] / tau).exp();
            lse.ln() - row[i] / tau
        };
        let rows = (ce(want[0], 0) + ce(want[1], 1)) / 2.0;
        let cols = (ce([want[0][0], want[1][0]], 0) + ce([want[0][1], want[1][1]], 1)) / 2.0;
        let l: f32 = word_patch_loss(patches, words, valid, tau).into_scalar();
        assert!((l as f64 - (rows + cols) / 2.0).abs() < 1e-5, "{l}");
    }
}
