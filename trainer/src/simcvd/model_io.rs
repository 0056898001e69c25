//! Loading a trained run's configuration and weights, or a model bundle, for inference.

use crate::checkpoint;
use crate::cli::CheckpointArg;
use crate::run_dir::RunDir;
use anyhow::Context;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use semiseg::infer::ModelBundle;
use semiseg::nets::VNet;
use semiseg::simcvd::{SimcvdConfig, SimcvdModel};
use std::path::{Path, PathBuf};

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
            let state: Option<crate::simcvd::train::TrainState> =
                std::fs::read(run.best().join("state.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
            match state {
                _ if !p.with_extension("mpk").exists() => anyhow::bail!(
                    "{} has no best/ model: it is kept only for runs trained with --val-list (a \
                     validation list of training cases), from their first evaluation on; use \
                     --checkpoint last (the default)",
                    run.root.display()
                ),
                Some(s) if s.chosen_on_validation => Ok(p),
                _ => anyhow::bail!(
                    "{}: best/ was chosen on the test cases by an earlier semiseg, and weights chosen \
                     on the test set overstate its scores; use --checkpoint last (the default), or \
                     train with --val-list for a best/ chosen on validation cases",
                    run.root.display()
                ),
            }
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

/// A model to run inference with, as `predict` and `eval-model` accept it: a run folder (any of its
/// checkpoints) or a model bundle file written by `semiseg export` (the file the browser runs).
pub enum ModelSource {
    Run(RunDir),
    Bundle(Box<ModelBundle>),
}

impl ModelSource {
    /// A file is read as a bundle, a folder as a run.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path.is_file() {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Self::Bundle(Box::new(
                ModelBundle::decode_owned(bytes).with_context(|| format!("{}", path.display()))?,
            )))
        } else {
            Ok(Self::Run(RunDir::open(path)?))
        }
    }

    /// Sliding-window patch and stride the model was trained and evaluated with (spec B6).
    pub fn patch_stride(&self) -> anyhow::Result<([usize; 3], [usize; 3])> {
        Ok(match self {
            Self::Run(run) => {
                let cfg = run_config(run)?;
                (cfg.patch, cfg.stride)
            }
            Self::Bundle(b) => (b.card.patch, b.card.stride),
        })
    }

    /// The segmentation network on the inference backend (`which` picks a run's checkpoint; a
    /// bundle has one set of weights).
    pub fn load_vnet<B: AutodiffBackend>(
        &self,
        which: CheckpointArg,
        device: &B::Device,
    ) -> anyhow::Result<VNet<B::InnerBackend>> {
        Ok(match self {
            Self::Run(run) => load_run_model::<B>(run, which, device)?.1.valid().net,
            Self::Bundle(b) => b.load_vnet::<B>(device)?.valid(),
        })
    }
}
