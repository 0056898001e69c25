//! Image-text pairs for AMVLM pre-training, held in memory as 8-bit RGB at the model's size
//! (224² × 3 bytes = 150 kB per image), with their tokenised descriptions. Batches are a function
//! of (seed, epoch, step): the order is a seeded permutation per epoch and each image's
//! augmentation (spec A1) a seeded draw, so a resumed run sees exactly the same batches.

use crate::simcvd::data::derive_seed;
use anyhow::Context;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use semiseg::amvlm::{AmvlmBatch, AmvlmConfig};
use semiseg::data::Augment2d;
use semiseg::data::Image2d;
use semiseg::data::LvitSample;
use semiseg::text::{Encoded, TextTokenizer};

/// Pairs of one split.
pub struct PairData {
    /// Side of every image.
    pub size: usize,
    /// `[3, size, size]` bytes per image.
    pub images: Vec<Vec<u8>>,
    /// The description of each image as given to the tokenizer (padded per the config).
    pub texts: Vec<String>,
    /// Tokenised descriptions.
    pub encoded: Vec<Encoded>,
    /// The `Image` key of each pair (the mask file name).
    pub keys: Vec<String>,
    /// Lesion positions for the localisation check (synthetic sets only).
    pub regions: Option<Vec<Vec<Region>>>,
}

pub use semiseg::infer::model_text;

impl PairData {
    /// Decode and resize every image of `samples` (in parallel) and tokenise the texts.
    pub fn load(
        samples: &[LvitSample],
        cfg: &AmvlmConfig,
        tok: &TextTokenizer,
    ) -> anyhow::Result<Self> {
        let size = cfg.image_size;
        let images = samples
            .par_iter()
            .map(|s| {
                let img = Image2d::read(&s.image, size)?;
                Ok(img
                    .data
                    .iter()
                    .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                    .collect())
            })
            .collect::<anyhow::Result<Vec<Vec<u8>>>>()?;
        let texts: Vec<String> = samples.iter().map(|s| model_text(&s.text, cfg)).collect();
        let encoded = tok
            .encode_batch(&texts)
            .context("tokenising the descriptions")?;
        Ok(PairData {
            size,
            images,
            texts,
            encoded,
            keys: samples.iter().map(|s| s.key.clone()).collect(),
            regions: None,
        })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Batches per epoch: full batches only (the last partial one is dropped), at least one.
    pub fn steps_per_epoch(&self, batch_size: usize) -> usize {
        (self.len() / batch_size).max(1)
    }

    /// The sample order of `epoch`.
    pub fn epoch_order(&self, seed: u64, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            seed,
            21,
            epoch as u64,
        )));
        order
    }

    /// Images `idx` as a `[B, 3, S, S]` tensor in [0, 1], each augmented by `aug[i]`.
    pub fn images_tensor<B: Backend>(
        &self,
        idx: &[usize],
        aug: Option<&[Augment2d]>,
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let s = self.size;
        let mut data = Vec::with_capacity(idx.len() * 3 * s * s);
        let to_unit = |v: &u8| *v as f32 / 255.0;
        for (i, &j) in idx.iter().enumerate() {
            match aug {
                Some(a) => data.extend(a[i].apply(&self.images[j], 3, s).iter().map(to_unit)),
                None => data.extend(self.images[j].iter().map(to_unit)),
            }
        }
        Tensor::from_data(TensorData::new(data, [idx.len(), 3, s, s]), device)
    }

    /// Batch `k` of `epoch` (whose sample order is `order`, from [`PairData::epoch_order`]):
    /// the images, their augmented copies (for the momentum branch) and the texts.
    pub fn batch<B: Backend>(
        &self,
        cfg: &AmvlmConfig,
        order: &[usize],
        epoch: usize,
        k: usize,
        device: &B::Device,
    ) -> AmvlmBatch<B> {
        let b = cfg.batch_size.min(self.len());
        let idx = &order[k * b..(k + 1) * b];
        let mut rng =
            ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, 22, (epoch * 1_000_003 + k) as u64));
        let aug: Vec<Augment2d> = idx
            .iter()
            .map(|_| {
                if cfg.augment {
                    Augment2d::draw(&mut rng)
                } else {
                    Augment2d::Identity
                }
            })
            .collect();
        AmvlmBatch {
            images: self.images_tensor(idx, None, device),
            images_aug: self.images_tensor(idx, Some(&aug), device),
            texts: idx.iter().map(|&j| self.encoded[j].clone()).collect(),
        }
    }
}

/// One lesion of a held-out image (from the `lesions.json` that `semiseg synth 2d` writes): its
/// phrase words and its pixels at the model's size.
#[derive(Debug, Clone)]
pub struct Region {
    pub zone: String,
    pub side: String,
    /// `size × size`, row-major.
    pub pixels: Vec<bool>,
}

impl Region {
    /// For each patch of the `grid × grid` layout: does it contain a pixel of the lesion?
    pub fn patches_touched(&self, grid: usize, patch: usize, size: usize) -> Vec<bool> {
        let mut t = vec![false; grid * grid];
        for r in 0..size {
            for c in 0..size {
                if self.pixels[r * size + c] {
                    t[(r / patch).min(grid - 1) * grid + (c / patch).min(grid - 1)] = true;
                }
            }
        }
        t
    }
}

/// The lesions of `samples` when their split folder has a `lesions.json`; `None` otherwise.
pub fn read_regions(
    split_dir: &std::path::Path,
    samples: &[LvitSample],
    size: usize,
) -> anyhow::Result<Option<Vec<Vec<Region>>>> {
    use semiseg::data::{Mask2d, MaskResize};
    let path = split_dir.join("lesions.json");
    if !path.exists() {
        return Ok(None);
    }
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let src = doc["config"]["size"]
        .as_u64()
        .with_context(|| format!("{}: no config.size", path.display()))? as usize;
    let by_mask: std::collections::HashMap<&str, &serde_json::Value> = doc["images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e["mask"].as_str()?, e)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        let entry = by_mask
            .get(s.key.as_str())
            .with_context(|| format!("{}: no entry for {}", path.display(), s.key))?;
        let mask = match &s.mask {
            Some(m) => Mask2d::read(m, size, MaskResize::Nearest)?,
            None => anyhow::bail!("{}: lesions.json needs the masks (labelcol/)", s.key),
        };
        let scale = size as f64 / src as f64;
        let mut regions = Vec::new();
        for l in entry["lesions"].as_array().into_iter().flatten() {
            let phrase = l["phrase"].as_str().unwrap_or_default();
            let words: Vec<&str> = phrase.split_whitespace().collect();
            let bbox: Vec<usize> = l["bbox"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect();
            if words.len() < 2 || bbox.len() != 4 {
                anyhow::bail!(
                    "{}: lesion of {} without phrase or bbox",
                    path.display(),
                    s.key
                );
            }
            let lo = |v: usize| (v as f64 * scale).floor() as usize;
            let hi = |v: usize| (((v + 1) as f64 * scale).ceil() as usize).min(size);
            let (r0, c0, r1, c1) = (lo(bbox[0]), lo(bbox[1]), hi(bbox[2]), hi(bbox[3]));
            let mut pixels = vec![false; size * size];
            for r in r0..r1 {
                for c in c0..c1 {
                    pixels[r * size + c] = mask.data[r * size + c] > 0;
                }
            }
            regions.push(Region {
                zone: words[0].to_string(),
                side: words[1].to_string(),
                pixels,
            });
        }
        out.push(regions);
    }
    Ok(Some(out))
}
