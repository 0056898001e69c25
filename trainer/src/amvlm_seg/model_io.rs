//! A trained text-guided segmentation run for inference: its configuration, its copy of the VLM
//! (encoders and vocabulary), the student (the last checkpoint's, or `best/`'s, chosen on the
//! validation split) and the Text Mask Generator (the last checkpoint's), all on the inference
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
    /// Epochs behind the student's weights.
    pub epochs: usize,
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
    let (student_path, epochs) = match which {
        CheckpointArg::Last => (last.join("student"), state.epoch),
        CheckpointArg::Best => {
            let p = run.best().join("student");
            if !p.with_extension("mpk").is_file() {
                anyhow::bail!(
                    "{} has no best/ student yet (written after the first epoch's validation); \
                     use --checkpoint last",
                    run.root.display()
                );
            }
            (p, state.best_epoch.unwrap_or(state.epoch))
        }
    };
    let student =
        checkpoint::load_module(cfg.unet().init::<B>(device).valid(), &student_path, device)?;
    let tmg_path = last.join("tmg");
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
        epochs,
    })
}
