//! Medical Segmentation Decathlon / nnU-Net style dataset folders: `dataset.json`, `imagesTr/`,
//! `labelsTr/` (and `imagesTs/`).

use super::DataError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One scan and, for training cases, its label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Case {
    /// The file name without `.nii.gz` / `.nii` (and without nnU-Net's `_0000` channel suffix).
    pub id: String,
    pub image: PathBuf,
    pub label: Option<PathBuf>,
}

/// A dataset folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dataset {
    pub root: PathBuf,
    pub name: String,
    /// Label values and their names from `dataset.json` (`"0": "background"`, ...).
    pub labels: BTreeMap<String, String>,
    /// Training cases (`training` of `dataset.json`, or `labelsTr/` + `imagesTr/`), sorted by id.
    pub cases: Vec<Case>,
}

/// The case id of a scan file: its name without `.nii.gz`, `.nii`, `.hdr(.gz)`, and without a
/// trailing nnU-Net channel suffix `_0000`.
pub fn case_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut id = name.as_str();
    for ext in [".nii.gz", ".nii", ".hdr.gz", ".hdr", ".img.gz", ".img"] {
        if id.to_lowercase().ends_with(ext) {
            id = &id[..id.len() - ext.len()];
            break;
        }
    }
    id.strip_suffix("_0000").unwrap_or(id).to_string()
}

fn is_scan(p: &Path) -> bool {
    let n = p.to_string_lossy().to_lowercase();
    n.ends_with(".nii.gz") || n.ends_with(".nii")
}

/// The NIfTI scans (`.nii`, `.nii.gz`) in a folder, sorted (hidden files such as macOS `._x.nii.gz` skipped).
pub fn scans_in(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|cause| DataError::Io {
        path: dir.into(),
        cause,
    })?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|cause| DataError::Io {
            path: dir.into(),
            cause,
        })?;
        let p = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if hidden || !is_scan(&p) {
            continue;
        }
        if p.is_file() {
            out.push(p);
        } else if p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            // skipping it would leave its case out without a word
            return Err(DataError::BrokenLink { path: p });
        }
    }
    out.sort();
    Ok(out)
}

#[derive(serde::Deserialize)]
struct DatasetJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    training: Option<Vec<TrainingEntry>>,
}

#[derive(serde::Deserialize)]
struct TrainingEntry {
    image: String,
    label: Option<String>,
}

impl Dataset {
    /// Open a dataset folder. With a `dataset.json` listing `training` entries those are used
    /// (paths relative to the folder); otherwise `labelsTr/` and `imagesTr/` are paired by id.
    pub fn open(root: impl AsRef<Path>) -> Result<Dataset, DataError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DataError::NotAFolder {
                exists: root.exists(),
                dir: root,
            });
        }
        let json_path = root.join("dataset.json");
        let mut name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut labels = BTreeMap::new();
        let mut cases = None;
        if json_path.exists() {
            let text = std::fs::read_to_string(&json_path).map_err(|cause| DataError::Io {
                path: json_path.clone(),
                cause,
            })?;
            let json: DatasetJson = serde_json::from_str(&text).map_err(|e| DataError::Json {
                path: json_path.clone(),
                reason: e.to_string(),
            })?;
            if let Some(n) = json.name {
                name = n;
            }
            // MSD: {"0": "background"}; nnU-Net v2: {"background": 0}
            for (k, v) in json.labels {
                match v {
                    serde_json::Value::String(s) => labels.insert(k, s),
                    serde_json::Value::Number(n) => labels.insert(n.to_string(), k),
                    other => labels.insert(k, other.to_string()),
                };
            }
            if let Some(training) = json.training {
                let list = training
                    .into_iter()
                    .map(|t| {
                        let image = root.join(t.image.trim_start_matches("./"));
                        Case {
                            id: case_id(&image),
                            label: t.label.map(|l| root.join(l.trim_start_matches("./"))),
                            image,
                        }
                    })
                    .collect::<Vec<_>>();
                cases = Some(list);
            }
        }
        let mut cases = match cases {
            Some(c) => c,
            None => Self::scan_folders(&root)?,
        };
        if cases.is_empty() {
            return Err(DataError::NoCases { dir: root });
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        let missing: Vec<&PathBuf> = cases
            .iter()
            .flat_map(|c| std::iter::once(&c.image).chain(c.label.as_ref()))
            .filter(|p| !p.exists())
            .collect();
        if let Some(first) = missing.first() {
            return Err(DataError::Missing {
                dir: root.clone(),
                count: missing.len(),
                first: (*first).clone(),
            });
        }
        Ok(Dataset {
            root,
            name,
            labels,
            cases,
        })
    }

    fn scan_folders(root: &Path) -> Result<Vec<Case>, DataError> {
        let images_dir = root.join("imagesTr");
        if !images_dir.is_dir() {
            if super::LvitDataset::is_lvit(root) {
                return Err(DataError::TwoDimensional { dir: root.into() });
            }
            return Err(DataError::NoCases { dir: root.into() });
        }
        let labels_dir = root.join("labelsTr");
        let labels: BTreeMap<String, PathBuf> = if labels_dir.is_dir() {
            scans_in(&labels_dir)?
                .into_iter()
                .map(|p| (case_id(&p), p))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(scans_in(&images_dir)?
            .into_iter()
            .map(|image| {
                let id = case_id(&image);
                Case {
                    label: labels.get(&id).cloned(),
                    id,
                    image,
                }
            })
            .collect())
    }

    /// The case with this id.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.cases[i])
    }
}
