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
    /// Labeled training cases held out of training to choose weights on (`--val-list`); empty
    /// unless given. Weights are never chosen on `test`.
    pub validation: Vec<String>,
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
                // a case in both lists would be trained on and then scored as unseen
                if let Some(id) = ids.iter().find(|id| train.contains(id)) {
                    return Err(DataError::InBothLists {
                        list: p,
                        id: id.clone(),
                    });
                }
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
            validation: Vec::new(),
        })
    }

    /// Hold the cases of the list file `list` out of training as validation cases: each must be a
    /// training case that is not in the labeled subset (it leaves the unlabeled pool), has a
    /// label, and is not a test case.
    pub fn hold_out_validation(self, dataset: &Dataset, list: &Path) -> Result<Split, DataError> {
        let ids = read_list(list)?;
        self.with_validation(dataset, list, ids)
    }

    /// [`Split::hold_out_validation`] of the ids `ids` read from `list` (a list file, or the
    /// manifest of a run being resumed).
    pub fn with_validation(
        mut self,
        dataset: &Dataset,
        list: &Path,
        ids: Vec<String>,
    ) -> Result<Split, DataError> {
        check_ids(dataset, list, &ids)?;
        let bad = |id: &String, problem| DataError::BadValidationCase {
            list: list.into(),
            id: id.clone(),
            problem,
        };
        if ids.is_empty() {
            return Err(DataError::EmptyList { list: list.into() });
        }
        for id in &ids {
            if self.test.contains(id) {
                return Err(bad(id, "is a test case"));
            }
            if self.labeled.contains(id) {
                return Err(bad(id, "is in the labeled subset"));
            }
            if !self.unlabeled.contains(id) {
                return Err(bad(id, "is not in the training list"));
            }
            if dataset.case(id).and_then(|c| c.label.as_ref()).is_none() {
                return Err(bad(id, "has no label file"));
            }
        }
        self.unlabeled.retain(|id| !ids.contains(id));
        self.validation = ids;
        Ok(self)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Case;

    fn dataset() -> Dataset {
        let case = |id: &str, labeled: bool| Case {
            id: id.into(),
            image: format!("imagesTr/{id}.nii.gz").into(),
            label: labeled.then(|| format!("labelsTr/{id}.nii.gz").into()),
        };
        Dataset {
            root: "/nowhere".into(),
            name: "t".into(),
            labels: Default::default(),
            cases: vec![
                case("a", true),
                case("b", true),
                case("c", true),
                case("d", true),
                case("e", false),
                case("f", true),
            ],
        }
    }

    #[test]
    fn validation_cases_leave_the_unlabeled_pool() {
        let ds = dataset();
        let train = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let split = Split::choose(&ds, train, vec!["f".into()], LabeledChoice::First(1)).unwrap();
        assert!(split.validation.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("val.list");
        std::fs::write(&list, "d\n# held out\nc\n").unwrap();
        let held = split.clone().hold_out_validation(&ds, &list).unwrap();
        assert_eq!(held.validation, ["d", "c"]);
        assert_eq!(held.unlabeled, ["b", "e"]);
        assert_eq!(held.labeled, ["a"]);
        assert_eq!(held.test, ["f"]);
        for (text, want) in [
            ("f", "is a test case"),
            ("a", "is in the labeled subset"),
            ("e", "has no label file"),
            ("zzz", "not in the dataset"),
            ("# nothing\n", "no case ids in it"),
        ] {
            std::fs::write(&list, text).unwrap();
            let err = split.clone().hold_out_validation(&ds, &list).unwrap_err();
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }
}
