//! Checkpoints of a training run (any method): the modules, the optimizer state and a JSON state,
//! written to a temporary folder and renamed into place, so a killed run always has a complete
//! last checkpoint. The last two are kept. A run's data order and random draws are functions of
//! (seed, step), so nothing else is needed to resume exactly.

use crate::run_dir::{write_atomic, RunDir};
use anyhow::Context;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

pub type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

/// How many checkpoints to keep (older ones of this run are removed).
const KEEP: usize = 2;

fn step_dir(run: &RunDir, step: usize) -> PathBuf {
    run.checkpoints().join(format!("step_{step:06}"))
}

/// Save a checkpoint after `step` steps: `write` puts the weights into the folder it is given
/// (with [`save_module`] and [`save_optim`]); `state` becomes `state.json`.
pub fn save<S: Serialize>(
    run: &RunDir,
    step: usize,
    state: &S,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let final_dir = step_dir(run, step);
    let tmp = run.checkpoints().join(format!(".step_{step:06}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    write(&tmp)?;
    write_atomic(
        &tmp.join("state.json"),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir)?; // same step written again after a resume
    }
    std::fs::rename(&tmp, &final_dir)?;
    let mut all = list(run)?;
    all.sort();
    for (_, old) in all.iter().rev().skip(KEEP) {
        std::fs::remove_dir_all(old).ok();
    }
    Ok(())
}

/// Write a module's weights to `path` (`.mpk` is appended).
pub fn save_module<B: Backend, M: Module<B>>(module: &M, path: &Path) -> anyhow::Result<()> {
    module
        .clone()
        .save_file(path.to_path_buf(), &Rec::new())
        .with_context(|| format!("saving weights to {}", path.display()))
}

/// Write an optimizer's state to `dir/optim.mpk`.
pub fn save_optim<B, M, O>(optim: &O, dir: &Path) -> anyhow::Result<()>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    save_optim_named(optim, dir, "optim")
}

/// Write an optimizer's state to `dir/NAME.mpk` (a method with a second optimizer).
pub fn save_optim_named<B, M, O>(optim: &O, dir: &Path, name: &str) -> anyhow::Result<()>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    Rec::new()
        .record(optim.to_record(), dir.join(name))
        .with_context(|| format!("saving the optimizer state {name}"))
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

/// The `state.json` of a run's newest checkpoint (`None` before the first).
pub fn latest_state<S: DeserializeOwned>(run: &RunDir) -> anyhow::Result<Option<S>> {
    latest(run)?.map(|dir| load_state(&dir)).transpose()
}

/// The `state.json` of a checkpoint.
pub fn load_state<S: DeserializeOwned>(dir: &Path) -> anyhow::Result<S> {
    let text = std::fs::read_to_string(dir.join("state.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Load weights saved with [`Rec`] into `module`.
pub fn load_module<B: Backend, M: Module<B>>(
    module: M,
    path: &Path,
    device: &B::Device,
) -> anyhow::Result<M> {
    module
        .load_file(path.to_path_buf(), &Rec::new(), device)
        .with_context(|| {
            format!(
                "loading weights from {}.mpk (does it match the run's config?)",
                path.display()
            )
        })
}

/// Load the optimizer state of a checkpoint.
pub fn load_optim<B, M, O>(optim: O, dir: &Path, device: &B::Device) -> anyhow::Result<O>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    load_optim_named(optim, dir, "optim", device)
}

/// Load the optimizer state `dir/NAME.mpk`.
pub fn load_optim_named<B, M, O>(
    optim: O,
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> anyhow::Result<O>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let record = Rec::new()
        .load(dir.join(name), device)
        .with_context(|| format!("loading the optimizer state {name} from {}", dir.display()))?;
    Ok(optim.load_record(record))
}
