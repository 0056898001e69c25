//! A trained text-guided segmentation run for inference: its configuration, its copy of the VLM
//! (encoders and vocabulary), the student and the Text Mask Generator of one moment of training
//! (the last checkpoint, or `best/`, chosen on the validation split), all on the inference
//! backend.

use super::vlm::Vlm;
use crate::checkpoint;
use crate::cli::CheckpointArg;
use crate::run_dir::RunDir;
use anyhow::Context;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use semiseg::amvlm::SegConfig;
use semiseg::infer::{TextGuidedModel, TextGuidedNets};

/// The networks of a segmentation run, ready for inference.
pub struct SegModel<B: burn::tensor::backend::Backend> {
    pub cfg: SegConfig,
    pub vlm: Vlm,
    /// Encoders, TMG (absent for the baselines, which train none) and student.
    pub model: TextGuidedModel<B>,
    /// Epochs and optimizer steps behind the student's weights.
    pub epochs: usize,
    pub steps: usize,
}

/// Load `run`'s networks; `which` picks the student's weights.
pub fn load_seg_run<B: AutodiffBackend>(
    run: &RunDir,
    which: CheckpointArg,
    device: &B::Device,
) -> anyhow::Result<SegModel<B::InnerBackend>> {
    let cfg: SegConfig = toml::from_str(&std::fs::read_to_string(run.config())?)
        .with_context(|| format!("{}: invalid configuration", run.config().display()))?;
    let vlm = Vlm::of_segmentation_run(run)?;
    let encoders = vlm.encoders::<B>(device)?;
    let last = checkpoint::latest(run)?
        .with_context(|| format!("{} has no checkpoint yet", run.root.display()))?;
    let state: super::train::SegState = checkpoint::load_state(&last)?;
    let last_tmg = last.join("tmg");
    // the folder of the weights and the training state saved with them
    let (dir, state) = match which {
        CheckpointArg::Last => (last, state),
        CheckpointArg::Best => {
            let best = run.best();
            if !best.join("student.mpk").is_file() {
                anyhow::bail!(
                    "{} has no best/ student yet (written after the first epoch's validation); \
                     use --checkpoint last",
                    run.root.display()
                );
            }
            let best_state: super::train::SegState = checkpoint::load_state(&best)?;
            (best, best_state)
        }
    };
    let student = checkpoint::load_module(
        cfg.unet().init::<B>(device).valid(),
        &dir.join("student"),
        device,
    )?;
    // the TMG of the same moment (runs from before best/ kept one: the last checkpoint's)
    let tmg_path = [dir.join("tmg"), last_tmg]
        .into_iter()
        .find(|p| p.with_extension("mpk").is_file())
        .unwrap_or_else(|| dir.join("tmg"));
    let tmg = if tmg_path.with_extension("mpk").is_file() {
        let fresh = cfg
            .text_mask_generator(vlm.cfg.embed_dim)
            .init::<B>(device)
            .valid();
        Some(checkpoint::load_module(fresh, &tmg_path, device)?)
    } else {
        None
    };
    let text_mask = cfg.text_mask;
    Ok(SegModel {
        cfg,
        vlm,
        model: TextGuidedModel {
            nets: TextGuidedNets {
                encoders,
                tmg,
                student,
            },
            text_mask,
        },
        epochs: state.epoch,
        steps: state.step,
    })
}
