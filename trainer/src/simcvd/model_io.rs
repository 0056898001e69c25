//! Loading a trained run's configuration and weights for inference.

use crate::checkpoint;
use crate::cli::CheckpointArg;
use crate::run_dir::RunDir;
use anyhow::Context;
use semiseg::simcvd::{SimcvdConfig, SimcvdModel};
use std::path::PathBuf;

/// The run's configuration.
pub fn run_config(run: &RunDir) -> anyhow::Result<SimcvdConfig> {
    let text = std::fs::read_to_string(run.config())?;
    toml::from_str(&text)
        .with_context(|| format!("{}: invalid configuration", run.config().display()))
}

/// The weights file (without `.mpk`) for `which`.
pub fn weights_path(run: &RunDir, which: CheckpointArg) -> anyhow::Result<PathBuf> {
    match which {
        CheckpointArg::Best => {
            let p = run.best().join("model");
            if !p.with_extension("mpk").exists() {
                anyhow::bail!("{} has no best model yet (it is saved at the first evaluation); use --checkpoint last", run.root.display());
            }
            Ok(p)
        }
        CheckpointArg::Last => Ok(checkpoint::latest(run)?
            .with_context(|| format!("{} has no checkpoint yet", run.root.display()))?
            .join("student")),
    }
}

/// The model of a run, on the inner (inference) backend `B`.
pub fn load_run_model<B: burn::tensor::backend::Backend>(
    run: &RunDir,
    which: CheckpointArg,
    device: &B::Device,
) -> anyhow::Result<(SimcvdConfig, SimcvdModel<B>)> {
    let cfg = run_config(run)?;
    let model = checkpoint::load_module(
        cfg.init_model::<B>(device),
        &weights_path(run, which)?,
        device,
    )?;
    Ok((cfg, model))
}
