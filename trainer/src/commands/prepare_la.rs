//! `semiseg prepare-la RAW --out DIR`: the LA challenge's raw scans (one folder per case with
//! `lgemri.nrrd` and `laendo.nrrd`) to the literature's training set (spec B1), in the MSD layout
//! the trainer reads, with UA-MT's 80/20 split. The folder appears whole or not at all: it is
//! written under a temporary name and renamed at the end.

use crate::cli::PrepareLaArgs;
use anyhow::{bail, Context};
use rand::SeedableRng;
use semiseg::data::{preprocess_la, Dataset, LA_MARGIN, LA_PATCH_XY};
use semiseg::volume::{read_scan, write_nifti, DataType, ReadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// UA-MT's split of the 100 training cases of the challenge (spec B1: `data/train.list`,
/// `data/test.list`), the split of every paper in the line.
const TRAIN_LIST: &str = include_str!("../../assets/la2018/train.list");
const TEST_LIST: &str = include_str!("../../assets/la2018/test.list");

const IMAGE: &str = "lgemri.nrrd";
const LABEL: &str = "laendo.nrrd";

/// One case of the raw folder.
struct RawCase {
    id: String,
    image: PathBuf,
    label: PathBuf,
}

pub fn run(a: &PrepareLaArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let cases = raw_cases(&a.raw)?;
    check_out(&a.out)?;
    let tmp = temp_name(&a.out);
    let train = match write_all(a, &cases, &tmp, out) {
        Ok(train) => train,
        Err(e) => {
            // The temporary folder is ours alone; nothing of the user's is in it.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if a.out.exists() {
        std::fs::remove_dir(&a.out)
            .with_context(|| format!("{}: cannot replace this empty folder", a.out.display()))?;
    }
    std::fs::rename(&tmp, &a.out).with_context(|| {
        format!(
            "cannot rename {} to {}; the prepared dataset is complete in the first",
            tmp.display(),
            a.out.display()
        )
    })?;
    writeln!(
        out,
        "wrote {} cases to {}; train with `semiseg train simcvd --data {} --labeled {}`",
        cases.len(),
        a.out.display(),
        a.out.display(),
        train.min(16)
    )?;
    Ok(())
}

/// The case folders of `raw` that hold the scan, sorted by id; every one must hold the label too.
fn raw_cases(raw: &Path) -> anyhow::Result<Vec<RawCase>> {
    if !raw.is_dir() {
        bail!(
            "{}: {}; give the challenge's training folder (\"2018LA_Seg_Training Set\", one sub-folder per case with {IMAGE} and {LABEL})",
            raw.display(),
            if raw.exists() { "is a file, not a folder" } else { "no such folder" }
        );
    }
    let mut cases = Vec::new();
    let mut subfolders = Vec::new();
    for entry in std::fs::read_dir(raw).with_context(|| format!("{}", raw.display()))? {
        let dir = entry.with_context(|| format!("{}", raw.display()))?.path();
        if !dir.is_dir() {
            continue;
        }
        let (image, label) = (dir.join(IMAGE), dir.join(LABEL));
        if !image.is_file() {
            subfolders.push(dir);
            continue;
        }
        if !label.is_file() {
            bail!(
                "{}: {IMAGE} without {LABEL}; the crop follows the label (spec B1), so every case needs both",
                dir.display()
            );
        }
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.push(RawCase { id, image, label });
    }
    if cases.is_empty() {
        let inner = subfolders.iter().find(|d| {
            std::fs::read_dir(d)
                .is_ok_and(|mut r| r.any(|e| e.is_ok_and(|e| e.path().join(IMAGE).is_file())))
        });
        match inner {
            Some(d) => bail!(
                "{}: no case folder with {IMAGE} here, but {} has them; give that folder",
                raw.display(),
                d.display()
            ),
            None => bail!(
                "{}: no case folder with {IMAGE} and {LABEL}; give the challenge's training folder (\"2018LA_Seg_Training Set\")",
                raw.display()
            ),
        }
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(cases)
}

/// `out` must be new or an empty folder: nothing the user has is replaced.
fn check_out(out: &Path) -> anyhow::Result<()> {
    if out.is_file() {
        bail!("--out {} is a file; give a new folder", out.display());
    }
    if out.is_dir()
        && std::fs::read_dir(out)
            .with_context(|| format!("{}", out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "--out {} exists and is not empty; semiseg never overwrites: give a new folder",
            out.display()
        );
    }
    Ok(())
}

/// A sibling of `out` for writing, so that the rename at the end stays on one file system.
fn temp_name(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "la".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// FNV-1a of the case id: each case's margins come from its own stream of the seed, so a case is
/// cropped the same whichever other cases are in the folder.
fn stream_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[derive(serde::Serialize)]
struct CaseRecord {
    id: String,
    raw_dims: [usize; 3],
    /// Half-open crop in the raw scan's indices: x0, x1.
    crop_x: [usize; 2],
    crop_y: [usize; 2],
    dims: [usize; 3],
    raw_mean: f64,
    raw_std: f64,
}

/// Write the dataset into `dir`; returns how many cases are for training.
fn write_all(
    a: &PrepareLaArgs,
    cases: &[RawCase],
    dir: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    for sub in ["imagesTr", "labelsTr"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    let opts = ReadOptions::default();
    let mut records = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let image = read_scan(&c.image, &opts)?;
        let label = read_scan(&c.label, &opts)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
        rng.set_stream(stream_of(&c.id));
        let p = preprocess_la(&image, &label, &mut rng)
            .map_err(|e| anyhow::anyhow!("case {}: {e}", c.id))?;
        write_nifti(
            dir.join("imagesTr").join(format!("{}.nii.gz", c.id)),
            &p.image,
            DataType::Float32,
        )?;
        write_nifti(
            dir.join("labelsTr").join(format!("{}.nii.gz", c.id)),
            &p.label,
            DataType::Uint8,
        )?;
        writeln!(
            out,
            "{:>3}/{} {}: {}x{}x{} -> {}x{}x{} (x {}..{}, y {}..{})",
            n + 1,
            cases.len(),
            c.id,
            image.dims[0],
            image.dims[1],
            image.dims[2],
            p.image.dims[0],
            p.image.dims[1],
            p.image.dims[2],
            p.crop[0][0],
            p.crop[0][1],
            p.crop[1][0],
            p.crop[1][1]
        )?;
        records.push(CaseRecord {
            id: c.id.clone(),
            raw_dims: image.dims,
            crop_x: p.crop[0],
            crop_y: p.crop[1],
            dims: p.image.dims,
            raw_mean: p.mean_std.0,
            raw_std: p.mean_std.1,
        });
    }
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))
    };
    let training: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"image": format!("./imagesTr/{id}.nii.gz"), "label": format!("./labelsTr/{id}.nii.gz")}))
        .collect();
    let how = format!(
        "label = (laendo == 255); z-score over the whole scan; x and y cropped to the label's box \
         plus {}..{} voxels a side, widened towards {}x{}; z not cropped (spec B1, UA-MT's \
         la_heart_processing.py); margins drawn with seed {}",
        LA_MARGIN.start,
        LA_MARGIN.end - 1,
        LA_PATCH_XY[0],
        LA_PATCH_XY[1],
        a.seed
    );
    write(
        "dataset.json",
        serde_json::to_string_pretty(&serde_json::json!({
            "name": "LA2018",
            "description": format!("Left atrium, 2018 Atrial Segmentation Challenge, gadolinium-enhanced MRI, prepared by `semiseg prepare-la` from the raw NRRD scans: {how}"),
            "reference": "2018 Atrial Segmentation Challenge (STACOM)",
            "tensorImageSize": "3D",
            "modality": {"0": "MRI"},
            "labels": {"0": "background", "1": "left atrium"},
            "numTraining": ids.len(),
            "numTest": 0,
            "training": training,
            "test": [],
        }))?,
    )?;
    // UA-MT's split, restricted to the cases present.
    let in_list = |list: &'static str| -> Vec<&'static str> {
        list.lines()
            .map(str::trim)
            .filter(|id| ids.contains(id))
            .collect()
    };
    let (train, test) = (in_list(TRAIN_LIST), in_list(TEST_LIST));
    let outside = ids.len() - train.len() - test.len();
    let n_train = if train.is_empty() && test.is_empty() {
        ids.len()
    } else {
        train.len()
    };
    if train.is_empty() && test.is_empty() {
        writeln!(
            out,
            "none of these cases is in UA-MT's split: no train.list or test.list written (every case is for training)"
        )?;
    } else {
        write(
            "train.list",
            train.iter().map(|id| format!("{id}\n")).collect(),
        )?;
        write(
            "test.list",
            test.iter().map(|id| format!("{id}\n")).collect(),
        )?;
        writeln!(
            out,
            "UA-MT's split: {} in train.list, {} in test.list{}",
            train.len(),
            test.len(),
            if outside > 0 {
                format!(
                    "; {outside} case(s) are in neither list (add them to train.list to train on them)"
                )
            } else {
                String::new()
            }
        )?;
    }
    write(
        "preprocessing.json",
        serde_json::to_string_pretty(&serde_json::json!({
            "command": "semiseg prepare-la",
            "semiseg_version": env!("CARGO_PKG_VERSION"),
            "raw": a.raw.display().to_string(),
            "seed": a.seed,
            "method": how,
            "cases": records,
        }))?,
    )?;
    // Read back what was written, as training will.
    let ds = Dataset::open(dir)?;
    if ds.cases.len() != cases.len() {
        bail!(
            "{}: wrote {} cases, but the folder reads back {}",
            dir.display(),
            cases.len(),
            ds.cases.len()
        );
    }
    Ok(n_train)
}
