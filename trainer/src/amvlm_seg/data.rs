//! The images of a text-guided segmentation run in memory: the training split divided into a
//! seeded labeled draw and the unlabeled rest, the validation split (early stopping and `best/`)
//! and the test split (evaluation only), each image as 8-bit RGB at the VLM's size with its own
//! description tokenised and its mask. Batches are a function of (seed, epoch, step), so a
//! resumed run sees exactly the batches the uninterrupted one would.
//!
//! An epoch is one pass over the labeled images in a seeded order, `labeled_bs` at a time (the
//! last batch may be smaller, as PyTorch's DataLoader gives it); each step also draws
//! `unlabeled_bs` unlabeled images, each with its own description (A6 [P]: the released code
//! pairs unlabeled image i with labeled image i and gives the TMG the file name): without
//! replacement (A8: seeded permutations of the unlabeled images, each cut into whole batches, so
//! no image appears twice in a batch and all are used alike), or uniformly as before A8.
//!
//! A8's grounding gives each labeled image of a step its description (target: its mask) and, when
//! the data says which region each phrase names (the synthetic generator's `lesions.json`), one
//! phrase (`lower left lung`): half the time one of its lesions', else a place drawn from every
//! place the training images name (target: that place's lesion, or nothing). (Every place's phrase
//! for every image, tried instead, trained slower and pointed worse: docs/results.md.)

use crate::amvlm::data::{model_text, read_regions, PairData, Region};
use crate::simcvd::data::derive_seed;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use semiseg::amvlm::{AmvlmConfig, SegConfig, UnlabeledDraw};
use semiseg::data::{Augment2d, LvitSample, Mask2d, MaskResize};
use semiseg::text::{Encoded, TextTokenizer};

/// Images, texts and (for labeled splits) masks of one group.
pub struct SegImages {
    pub pairs: PairData,
    /// `[S, S]` 0/1 per image; empty for the unlabeled group.
    pub masks: Vec<Vec<u8>>,
    /// What each image's phrases name, when the data says it (A8 grounding).
    pub phrases: Option<Phrases>,
}

/// The places a training set's phrases name and each image's lesions (from `lesions.json`).
pub struct Phrases {
    /// Per image, its lesions with their pixels at the model's size.
    pub regions: Vec<Vec<Region>>,
    /// Every distinct place `(zone, side)` of the set, sorted.
    pub places: Vec<(String, String)>,
    /// Each place's phrase (`lower left lung`), tokenised as the model's texts are.
    pub encoded: Vec<Encoded>,
}

impl Phrases {
    /// The phrases of `samples` in `split_dir` (`None` without a `lesions.json`).
    pub fn load(
        split_dir: &std::path::Path,
        samples: &[LvitSample],
        vlm: &AmvlmConfig,
        tok: &TextTokenizer,
    ) -> anyhow::Result<Option<Self>> {
        let Some(regions) = read_regions(split_dir, samples, vlm.image_size)? else {
            return Ok(None);
        };
        let mut places: Vec<(String, String)> = regions
            .iter()
            .flatten()
            .map(|r| (r.zone.clone(), r.side.clone()))
            .collect();
        places.sort();
        places.dedup();
        let texts: Vec<String> = places
            .iter()
            .map(|(zone, side)| model_text(&format!("{zone} {side} lung"), vlm))
            .collect();
        let encoded = tok.encode_batch(&texts)?;
        Ok(Some(Phrases {
            regions,
            places,
            encoded,
        }))
    }

    /// The mask of `place` in image `j` (its lesion there, else empty), `[S·S]` 0/1.
    pub fn target(&self, j: usize, place: usize, pixels: usize) -> Vec<f32> {
        let (zone, side) = &self.places[place];
        match self.regions[j]
            .iter()
            .find(|r| &r.zone == zone && &r.side == side)
        {
            Some(r) => r.pixels.iter().map(|&p| p as u8 as f32).collect(),
            None => vec![0.0; pixels],
        }
    }

    /// The place index of lesion `i` of image `j`.
    fn place_of(&self, j: usize, i: usize) -> usize {
        let r = &self.regions[j][i];
        self.places
            .iter()
            .position(|(z, s)| z == &r.zone && s == &r.side)
            .expect("every lesion's place is listed")
    }
}

/// A prompt of A8's grounding for a labeled image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroundPrompt {
    /// The image's own description (target: its mask).
    Description,
    /// The phrase of place `k` of [`Phrases::places`] (target: that lesion, or nothing).
    Place(usize),
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
        Ok(SegImages {
            pairs,
            masks,
            phrases: None,
        })
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

    /// A8's grounding rows of a step: `(image, prompt's tokens, target [S·S])` for each labeled
    /// image `idx[i]` and its prompts `prompts[i]`.
    pub fn ground_rows(
        &self,
        idx: &[usize],
        prompts: &[Vec<GroundPrompt>],
    ) -> Vec<(usize, Encoded, Vec<f32>)> {
        let n = self.size() * self.size();
        let mut rows = Vec::new();
        for (&j, ps) in idx.iter().zip(prompts) {
            for p in ps {
                rows.push(match *p {
                    GroundPrompt::Description => (
                        j,
                        self.pairs.encoded[j].clone(),
                        self.masks[j].iter().map(|&v| v as f32).collect(),
                    ),
                    GroundPrompt::Place(k) => {
                        let ph = self.phrases.as_ref().expect("places come from phrases");
                        (j, ph.encoded[k].clone(), ph.target(j, k, n))
                    }
                });
            }
        }
        rows
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
    /// A8's grounding prompts of each labeled image (drawn for every run; used by A8's runs).
    pub ground: Vec<Vec<GroundPrompt>>,
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
            let u: Vec<usize> = match cfg.unlabeled_draw {
                UnlabeledDraw::Uniform => (0..cfg.unlabeled_bs)
                    .map(|_| rng.random_range(0..self.unlabeled.len()))
                    .collect(),
                UnlabeledDraw::Epoch => {
                    let step = epoch * self.steps_per_epoch(cfg) + k;
                    unlabeled_batch(self.unlabeled.len(), cfg.unlabeled_bs, cfg.seed, step)
                }
            };
            let a = u.iter().map(|_| aug(&mut rng)).collect();
            (u, a)
        } else {
            (Vec::new(), Vec::new())
        };
        // the grounding prompts: their own seed stream, so the draws above stay as they were
        let mut prng =
            ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, 35, (epoch * 1_000_003 + k) as u64));
        let ground = labeled
            .iter()
            .map(|&j| {
                let mut ps = vec![GroundPrompt::Description];
                if let Some(ph) = &self.labeled.phrases {
                    let lesions = ph.regions[j].len();
                    let own = lesions > 0 && prng.random::<f64>() < 0.5;
                    ps.push(GroundPrompt::Place(if own {
                        ph.place_of(j, prng.random_range(0..lesions))
                    } else {
                        prng.random_range(0..ph.places.len())
                    }));
                }
                ps
            })
            .collect();
        StepDraw {
            labeled,
            labeled_aug,
            unlabeled,
            unlabeled_aug,
            ground,
        }
    }
}

/// The unlabeled images of global step `step` drawn without replacement: round `r` is a seeded
/// permutation of the `n` images cut into `⌊n/b⌋` whole batches of `b` (the rest waits for a
/// later round's draw), step `s` takes batch `s mod ⌊n/b⌋` of round `⌊s/⌊n/b⌋⌋`. With `b > n`,
/// one permutation repeated.
pub fn unlabeled_batch(n: usize, b: usize, seed: u64, step: usize) -> Vec<usize> {
    let per_round = (n / b).max(1);
    let (round, j) = (step / per_round, step % per_round);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
        seed,
        34,
        round as u64,
    )));
    (0..b).map(|i| perm[(j * b + i) % n]).collect()
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

    /// Without replacement: no image twice in a batch, every image once per round up to the
    /// rest, and the same batches for the same (seed, step).
    #[test]
    fn unlabeled_batches_without_replacement() {
        let (n, b) = (18, 4);
        let mut seen = vec![0usize; n];
        for step in 0..4 {
            let u = unlabeled_batch(n, b, 666, step);
            assert_eq!(u, unlabeled_batch(n, b, 666, step));
            let mut s = u.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), b, "step {step}: {u:?}");
            for i in u {
                seen[i] += 1;
            }
        }
        // round 0: 16 distinct images of 18
        assert_eq!(seen.iter().filter(|&&c| c == 1).count(), 16);
        assert!(seen.iter().all(|&c| c <= 1));
        // the next round is another permutation
        assert_ne!(unlabeled_batch(n, b, 666, 4), unlabeled_batch(n, b, 666, 0));
        // more per batch than images: a repeated permutation
        assert_eq!(unlabeled_batch(3, 5, 1, 0).len(), 5);
    }

    #[test]
    fn labeled_draws_are_seeded_sorted_and_distinct() {
        let a = draw_labeled(24, 6, 666);
        assert_eq!(a, draw_labeled(24, 6, 666));
        assert_ne!(a, draw_labeled(24, 6, 667));
        assert_eq!(a.len(), 6);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 24));
    }
}
