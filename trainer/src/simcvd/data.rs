//! The volumes of a SimCVD run in memory (canonical orientation) and the per-step batch: a pure
//! function of (seed, step), so a resumed run draws exactly what the uninterrupted run would.

use anyhow::Context;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use semiseg::data::{random_crop, random_rot_flip, Dataset, Grid, Split};
use semiseg::simcvd::{signed_distance_map, Batch, SimcvdConfig};
use semiseg::volume::{read_nifti, ReadOptions, Reorientation};
use std::path::PathBuf;

/// A loaded case. `label` is only loaded where the run may see it (labeled and test cases).
pub struct LoadedCase {
    pub id: String,
    pub image_path: PathBuf,
    pub image: Grid<f32>,
    pub label: Option<Grid<u8>>,
    /// Maps results on the canonical grid back onto the scan's own grid.
    pub back: Reorientation,
}

/// Labeled, unlabeled, test and validation cases of a run.
pub struct TrainData {
    pub labeled: Vec<LoadedCase>,
    pub unlabeled: Vec<LoadedCase>,
    pub test: Vec<LoadedCase>,
    /// Held-out training cases (`--val-list`) on which `best/` is chosen.
    pub validation: Vec<LoadedCase>,
}

fn load(ds: &Dataset, id: &str, with_label: bool) -> anyhow::Result<LoadedCase> {
    let case = ds
        .case(id)
        .with_context(|| format!("case {id} is not in {}", ds.root.display()))?;
    let opts = ReadOptions::default();
    let vol = read_nifti(&case.image, &opts)?;
    let (canon, back) = Reorientation::to_canonical(&vol);
    let label = if with_label {
        let path = case
            .label
            .as_ref()
            .with_context(|| format!("case {id} has no label file"))?;
        let lab = read_nifti(path, &opts)?;
        // the label must lie on the image's grid (a label saved without the scan's header would
        // be mirrored against it), and be a mask: a label map or probabilities are refused
        vol.aligned_with(&lab)
            .map_err(|e| anyhow::anyhow!("case {id}: label {}: {e}", path.display()))?;
        let mut other: Vec<f32> = lab
            .data
            .iter()
            .copied()
            .filter(|&v| v != 0.0 && v != 1.0)
            .collect();
        if !other.is_empty() {
            other.sort_by(f32::total_cmp);
            other.dedup();
            let shown: Vec<String> = other.iter().take(5).map(|v| v.to_string()).collect();
            anyhow::bail!(
                "case {id}: label {} has values other than 0 and 1 ({}{}): training needs binary \
                 masks; convert it (e.g. keep label == 1), or check that it is the label file",
                path.display(),
                shown.join(", "),
                if other.len() > 5 { ", ..." } else { "" }
            );
        }
        let (lab, _) = Reorientation::to_canonical(&lab);
        Some(Grid::new(
            lab.data.iter().map(|&v| (v > 0.5) as u8).collect(),
            lab.dims,
        ))
    } else {
        None
    };
    Ok(LoadedCase {
        id: id.to_string(),
        image_path: case.image.clone(),
        image: Grid::new(canon.data, canon.dims),
        label,
        back,
    })
}

impl TrainData {
    /// Load the split's volumes (in parallel). Unlabeled cases are loaded without their labels.
    pub fn load(ds: &Dataset, split: &Split, with_unlabeled: bool) -> anyhow::Result<TrainData> {
        let many = |ids: &[String], with_label: bool| -> anyhow::Result<Vec<LoadedCase>> {
            ids.par_iter().map(|id| load(ds, id, with_label)).collect()
        };
        Ok(TrainData {
            labeled: many(&split.labeled, true)?,
            unlabeled: if with_unlabeled {
                many(&split.unlabeled, false)?
            } else {
                Vec::new()
            },
            test: many(&split.test, true)?,
            validation: many(&split.validation, true)?,
        })
    }
}

/// A 64-bit mix of the run seed and a stream name and index (SplitMix64 finaliser).
pub fn derive_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `k`-th index of an endless stream of shuffled passes over `0..n` (UA-MT's
/// TwoStreamBatchSampler: every pass is a fresh permutation).
fn stream_index(seed: u64, stream: u64, n: usize, k: usize) -> usize {
    let (pass, pos) = (k / n, k % n);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
        seed,
        stream,
        pass as u64,
    )));
    perm[pos]
}

/// The CPU side of one step's batch: augmented patches, labels and SDMs.
pub struct HostBatch {
    pub patch: [usize; 3],
    pub labeled: Vec<f32>,
    pub labels: Vec<f32>,
    pub sdm: Vec<f32>,
    pub unlabeled: Vec<f32>,
    pub n_labeled: usize,
    pub n_unlabeled: usize,
}

impl TrainData {
    /// The batch of `step`: `labeled_bs` labeled and `unlabeled_bs` unlabeled patches, each
    /// RandomRotFlip + RandomCrop (B1), the SDM (B3) of each labeled patch.
    pub fn batch(&self, cfg: &SimcvdConfig, step: usize, with_unlabeled: bool) -> HostBatch {
        let patch = cfg.patch;
        let pick = |cases: &[LoadedCase], stream: u64, bs: usize| -> Vec<(Grid<f32>, Grid<u8>)> {
            (0..bs)
                .into_par_iter()
                .map(|j| {
                    let i = stream_index(cfg.seed, stream, cases.len(), step * bs + j);
                    let c = &cases[i];
                    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
                        cfg.seed,
                        stream + 10,
                        (step * bs + j) as u64,
                    ));
                    let label = c
                        .label
                        .clone()
                        .unwrap_or_else(|| Grid::new(vec![0u8; c.image.data.len()], c.image.dims));
                    let (img, lab) = random_rot_flip(&c.image, &label, &mut rng);
                    random_crop(&img, &lab, patch, &mut rng)
                })
                .collect()
        };
        let lab = pick(&self.labeled, 1, cfg.labeled_bs);
        let unl = if with_unlabeled && !self.unlabeled.is_empty() {
            pick(&self.unlabeled, 2, cfg.unlabeled_bs)
        } else {
            Vec::new()
        };
        let sdms: Vec<Vec<f32>> = lab
            .par_iter()
            .map(|(_, l)| {
                let mask: Vec<bool> = l.data.iter().map(|&v| v == 1).collect();
                signed_distance_map(&mask, patch)
            })
            .collect();
        HostBatch {
            patch,
            labeled: lab
                .iter()
                .flat_map(|(i, _)| i.data.iter().copied())
                .collect(),
            labels: lab
                .iter()
                .flat_map(|(_, l)| l.data.iter().map(|&v| v as f32))
                .collect(),
            sdm: sdms.into_iter().flatten().collect(),
            unlabeled: unl
                .iter()
                .flat_map(|(i, _)| i.data.iter().copied())
                .collect(),
            n_labeled: lab.len(),
            n_unlabeled: unl.len(),
        }
    }
}

impl HostBatch {
    pub fn to_device<B: Backend>(&self, device: &B::Device) -> Batch<B> {
        let [x, y, z] = self.patch;
        let t = |v: &[f32], n: usize| {
            Tensor::<B, 5>::from_data(TensorData::new(v.to_vec(), [n, 1, x, y, z]), device)
        };
        Batch {
            labeled: t(&self.labeled, self.n_labeled),
            labels: t(&self.labels, self.n_labeled),
            sdm: t(&self.sdm, self.n_labeled),
            unlabeled: (self.n_unlabeled > 0).then(|| t(&self.unlabeled, self.n_unlabeled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_visit_every_case_once_per_pass() {
        let n = 7;
        let pass: Vec<usize> = (0..n).map(|k| stream_index(1, 1, n, k)).collect();
        let mut sorted = pass.clone();
        sorted.sort();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let next: Vec<usize> = (n..2 * n).map(|k| stream_index(1, 1, n, k)).collect();
        assert_ne!(pass, next);
        assert_eq!(stream_index(1, 1, n, 3), stream_index(1, 1, n, 3));
        assert_ne!(derive_seed(1, 2, 3), derive_seed(1, 2, 4));
    }
}
