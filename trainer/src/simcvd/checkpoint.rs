//! Checkpoints of a SimCVD run: student, EMA teacher, optimizer state and the step, written to a
//! temporary folder and renamed into place, so a killed run always has a complete last checkpoint.
//! The data order and all random draws are functions of (seed, step), so nothing else is needed
//! to resume exactly.

use crate::run_dir::{write_atomic, RunDir};
use anyhow::Context;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use semiseg::simcvd::SimcvdModel;
use std::path::{Path, PathBuf};

pub type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

/// What a checkpoint says besides the weights.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: usize,
    /// Best validation Dice so far and its step.
    pub best_dice: Option<f64>,
    pub best_step: Option<usize>,
}

/// How many checkpoints to keep (older ones of this run are removed).
const KEEP: usize = 2;

fn step_dir(run: &RunDir, step: usize) -> PathBuf {
    run.checkpoints().join(format!("step_{step:06}"))
}

/// Save a checkpoint after `state.step` steps.
pub fn save<B, O>(
    run: &RunDir,
    student: &SimcvdModel<B>,
    teacher: Option<&SimcvdModel<B>>,
    optim: &O,
    state: &TrainState,
) -> anyhow::Result<()>
where
    B: AutodiffBackend,
    O: Optimizer<SimcvdModel<B>, B>,
{
    let rec = Rec::new();
    let final_dir = step_dir(run, state.step);
    let tmp = run
        .checkpoints()
        .join(format!(".step_{:06}.tmp", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    student
        .clone()
        .save_file(tmp.join("student"), &rec)
        .context("saving the student")?;
    if let Some(t) = teacher {
        t.clone()
            .save_file(tmp.join("teacher"), &rec)
            .context("saving the teacher")?;
    }
    rec.record(optim.to_record(), tmp.join("optim"))
        .context("saving the optimizer")?;
    write_atomic(
        &tmp.join("state.json"),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir)?; // same step written again after a resume
    }
    std::fs::rename(&tmp, &final_dir)?;
    // keep the newest few
    let mut all = list(run)?;
    all.sort();
    for (_, old) in all.iter().rev().skip(KEEP) {
        std::fs::remove_dir_all(old).ok();
    }
    Ok(())
}

/// Complete checkpoints of a run, `(step, folder)`.
pub fn list(run: &RunDir) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let dir = run.checkpoints();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(step) = name.strip_prefix("step_").and_then(|s| s.parse().ok()) {
            if p.join("state.json").exists() {
                out.push((step, p));
            }
        }
    }
    Ok(out)
}

/// The newest checkpoint of a run.
pub fn latest(run: &RunDir) -> anyhow::Result<Option<PathBuf>> {
    Ok(list(run)?.into_iter().max().map(|(_, p)| p))
}

pub fn load_state(dir: &Path) -> anyhow::Result<TrainState> {
    let text = std::fs::read_to_string(dir.join("state.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Load weights saved with [`Rec`] into `model`.
pub fn load_model<B: burn::tensor::backend::Backend>(
    model: SimcvdModel<B>,
    path: &Path,
    device: &B::Device,
) -> anyhow::Result<SimcvdModel<B>> {
    model
        .load_file(path.to_path_buf(), &Rec::new(), device)
        .with_context(|| {
            format!(
                "loading weights from {}.mpk (does it match the run's config?)",
                path.display()
            )
        })
}

/// Load the optimizer state of a checkpoint.
pub fn load_optim<B, O>(optim: O, dir: &Path, device: &B::Device) -> anyhow::Result<O>
where
    B: AutodiffBackend,
    O: Optimizer<SimcvdModel<B>, B>,
{
    let record = Rec::new()
        .load(dir.join("optim"), device)
        .with_context(|| format!("loading the optimizer state from {}", dir.display()))?;
    Ok(optim.load_record(record))
}
