//! The images of a text-guided segmentation run in memory: the training split divided into a
//! seeded labeled draw and the unlabeled rest, the validation split (early stopping and `best/`)
//! and the test split (evaluation only), each image as 8-bit RGB at the VLM's size with its own
//! description tokenised and its mask. Batches are a function of (seed, epoch, step), so a
//! resumed run sees exactly the batches the uninterrupted one would.
//!
//! An epoch is one pass over the labeled images in a seeded order, `labeled_bs` at a time (the
//! last batch may be smaller, as PyTorch's DataLoader gives it); each step also draws
//! `unlabeled_bs` unlabeled images uniformly, each with its own description (A6 [P]: the released
//! code pairs unlabeled image i with labeled image i and gives the TMG the file name).

use crate::amvlm::data::PairData;
use crate::simcvd::data::derive_seed;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use semiseg::amvlm::{AmvlmConfig, SegConfig};
use semiseg::data::{Augment2d, LvitSample, Mask2d, MaskResize};
use semiseg::text::{Encoded, TextTokenizer};

/// Images, texts and (for labeled splits) masks of one group.
pub struct SegImages {
    pub pairs: PairData,
    /// `[S, S]` 0/1 per image; empty for the unlabeled group.
    pub masks: Vec<Vec<u8>>,
}

impl SegImages {
    /// Load `samples` at the VLM's size; `with_masks` reads their masks too (nearest).
    pub fn load(
        samples: &[LvitSample],
        vlm: &AmvlmConfig,
        tok: &TextTokenizer,
        with_masks: bool,
    ) -> anyhow::Result<Self> {
        let pairs = PairData::load(samples, vlm, tok)?;
        let masks = if with_masks {
            samples
                .par_iter()
                .map(|s| {
                    let path = s.mask.as_ref().ok_or_else(|| {
                        anyhow::anyhow!("{}: no mask in labelcol/", s.image.display())
                    })?;
                    Ok(Mask2d::read(path, vlm.image_size, MaskResize::Nearest)?.data)
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(SegImages { pairs, masks })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn size(&self) -> usize {
        self.pairs.size
    }

    /// Masks `idx` as `[B, 1, S, S]` 0/1, each transformed by `aug[i]`.
    pub fn masks_tensor<B: Backend>(
        &self,
        idx: &[usize],
        aug: &[Augment2d],
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let s = self.size();
        let mut data = Vec::with_capacity(idx.len() * s * s);
        for (i, &j) in idx.iter().enumerate() {
            data.extend(aug[i].apply(&self.masks[j], 1, s).iter().map(|&v| v as f32));
        }
        Tensor::from_data(TensorData::new(data, [idx.len(), 1, s, s]), device)
    }

    /// The tokenised descriptions of `idx`.
    pub fn texts(&self, idx: &[usize]) -> Vec<Encoded> {
        idx.iter().map(|&j| self.pairs.encoded[j].clone()).collect()
    }
}

/// The groups of a run.
pub struct SegData {
    pub labeled: SegImages,
    pub unlabeled: SegImages,
    pub val: SegImages,
}

/// The indices and transforms of one step.
pub struct StepDraw {
    pub labeled: Vec<usize>,
    pub labeled_aug: Vec<Augment2d>,
    pub unlabeled: Vec<usize>,
    pub unlabeled_aug: Vec<Augment2d>,
}

impl SegData {
    /// Steps per epoch: one pass over the labeled images.
    pub fn steps_per_epoch(&self, cfg: &SegConfig) -> usize {
        self.labeled.len().div_ceil(cfg.labeled_bs)
    }

    /// What step `k` of `epoch` uses.
    pub fn draw(&self, cfg: &SegConfig, epoch: usize, k: usize, semi: bool) -> StepDraw {
        let n = self.labeled.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            cfg.seed,
            31,
            epoch as u64,
        )));
        let labeled = order[k * cfg.labeled_bs..((k + 1) * cfg.labeled_bs).min(n)].to_vec();
        let mut rng =
            ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, 32, (epoch * 1_000_003 + k) as u64));
        let aug = |rng: &mut ChaCha8Rng| {
            if cfg.augment {
                Augment2d::draw(rng)
            } else {
                Augment2d::Identity
            }
        };
        let labeled_aug = labeled.iter().map(|_| aug(&mut rng)).collect();
        let (unlabeled, unlabeled_aug) = if semi && !self.unlabeled.is_empty() {
            let u: Vec<usize> = (0..cfg.unlabeled_bs)
                .map(|_| rng.random_range(0..self.unlabeled.len()))
                .collect();
            let a = u.iter().map(|_| aug(&mut rng)).collect();
            (u, a)
        } else {
            (Vec::new(), Vec::new())
        };
        StepDraw {
            labeled,
            labeled_aug,
            unlabeled,
            unlabeled_aug,
        }
    }
}

/// The labeled training images: `labeled` of the `n` training images, drawn with `seed`
/// (ChaCha8), in the training list's order.
pub fn draw_labeled(n: usize, labeled: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut chosen = idx[..labeled.min(n)].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labeled_draws_are_seeded_sorted_and_distinct() {
        let a = draw_labeled(24, 6, 666);
        assert_eq!(a, draw_labeled(24, 6, 666));
        assert_ne!(a, draw_labeled(24, 6, 667));
        assert_eq!(a.len(), 6);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 24));
    }
}
