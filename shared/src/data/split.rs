//! Train/test splits and the labeled subset (spec B1): `train.list` / `test.list` as in UA-MT, the
//! labeled cases being the first N of `train.list` (the literature's choice) or a seeded draw.

use super::{DataError, Dataset};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How to choose the labeled cases among the training cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LabeledChoice {
    /// The first `n` of the training list, as UA-MT, DTC and SimCVD do.
    First(usize),
    /// `n` drawn at random with this seed (ChaCha8, reproducible across platforms).
    Seeded { n: usize, seed: u64 },
}

/// Case ids of a split, each list in its file's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    pub labeled: Vec<String>,
    pub unlabeled: Vec<String>,
    pub test: Vec<String>,
}

/// Read a `.list` file: one case id per line (blank lines and `#` comments skipped; a path or a
/// file name is reduced to its id, so `../data/X/mri_norm2.h5`-style lines are not accepted but
/// `X.nii.gz` is).
pub fn read_list(path: &Path) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|cause| DataError::Io {
        path: path.into(),
        cause,
    })?;
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = super::case_id(Path::new(line));
        if !seen.insert(id.clone()) {
            return Err(DataError::DuplicateId {
                list: path.into(),
                id,
            });
        }
        ids.push(id);
    }
    Ok(ids)
}

impl Split {
    /// The split of `dataset` from its `train.list` and `test.list` (in the dataset folder). Without
    /// them, every case is a training case and the test list is empty.
    pub fn from_lists(dataset: &Dataset, choice: LabeledChoice) -> Result<Split, DataError> {
        let list = |name: &str| -> Result<Option<(PathBuf, Vec<String>)>, DataError> {
            let p = dataset.root.join(name);
            if p.exists() {
                Ok(Some((p.clone(), read_list(&p)?)))
            } else {
                Ok(None)
            }
        };
        let train = match list("train.list")? {
            Some((p, ids)) => {
                check_ids(dataset, &p, &ids)?;
                ids
            }
            None => dataset.cases.iter().map(|c| c.id.clone()).collect(),
        };
        let test = match list("test.list")? {
            Some((p, ids)) => {
                check_ids(dataset, &p, &ids)?;
                ids
            }
            None => Vec::new(),
        };
        Split::choose(dataset, train, test, choice)
    }

    /// Split given training and test ids.
    pub fn choose(
        dataset: &Dataset,
        train: Vec<String>,
        test: Vec<String>,
        choice: LabeledChoice,
    ) -> Result<Split, DataError> {
        let n = match choice {
            LabeledChoice::First(n) | LabeledChoice::Seeded { n, .. } => n,
        };
        if n > train.len() {
            return Err(DataError::TooManyLabeled {
                wanted: n,
                available: train.len(),
            });
        }
        let labeled: Vec<String> = match choice {
            LabeledChoice::First(n) => train[..n].to_vec(),
            LabeledChoice::Seeded { n, seed } => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut idx: Vec<usize> = (0..train.len()).collect();
                idx.shuffle(&mut rng);
                let mut chosen = idx[..n].to_vec();
                chosen.sort_unstable(); // keep the list's order
                chosen.into_iter().map(|i| train[i].clone()).collect()
            }
        };
        for id in &labeled {
            if dataset.case(id).and_then(|c| c.label.as_ref()).is_none() {
                return Err(DataError::NoLabel { id: id.clone() });
            }
        }
        let lab: BTreeSet<&String> = labeled.iter().collect();
        let unlabeled = train
            .iter()
            .filter(|id| !lab.contains(id))
            .cloned()
            .collect();
        Ok(Split {
            labeled,
            unlabeled,
            test,
        })
    }
}

fn check_ids(dataset: &Dataset, list: &Path, ids: &[String]) -> Result<(), DataError> {
    let unknown: Vec<&String> = ids.iter().filter(|id| dataset.case(id).is_none()).collect();
    match unknown.first() {
        Some(first) => Err(DataError::UnknownIds {
            list: list.into(),
            count: unknown.len(),
            first: (*first).clone(),
        }),
        None => Ok(()),
    }
}
