//! The frozen vision-language model of a text-guided segmentation run (spec A6 "TMG": the
//! pre-trained E_v and E_t with their heads, frozen fully): a pre-training run's configuration,
//! vocabulary and encoders (`best/`, the lowest epoch-mean training loss, what the AMVLM code
//! keeps). A new segmentation run copies them into its own `vlm/` folder, so it can be resumed,
//! evaluated and exported without the pre-training run.

use crate::checkpoint;
use crate::run_dir::{write_atomic, RunDir};
use crate::run_info::RunKind;
use anyhow::Context;
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use semiseg::amvlm::{AmvlmConfig, AmvlmEncoders};
use semiseg::text::TextTokenizer;
use std::path::{Path, PathBuf};

/// Where a VLM's files are: a pre-training run (`config.toml`, `vocab.txt`, `best/encoders.mpk`)
/// or a segmentation run's copy (`vlm/` with `config.toml`, `vocab.txt`, `encoders.mpk`).
pub struct Vlm {
    pub cfg: AmvlmConfig,
    pub tokenizer: TextTokenizer,
    /// The encoders' weights without `.mpk`.
    weights: PathBuf,
    /// The folder it was read from.
    pub source: PathBuf,
}

impl Vlm {
    /// The VLM of a pre-training run (`train amvlm`).
    pub fn of_pretraining_run(dir: &Path) -> anyhow::Result<Vlm> {
        let run = RunDir::open(dir)?;
        if run.kind()? != RunKind::Amvlm {
            anyhow::bail!(
                "--vlm {}: not an AMVLM pre-training run (a `train {}` run); pre-train one with \
                 `semiseg train amvlm --data DIR`",
                dir.display(),
                run.kind()?.train_command()
            );
        }
        let weights = run.best().join("encoders");
        if !weights.with_extension("mpk").is_file() {
            anyhow::bail!(
                "--vlm {}: no best/encoders.mpk yet (written after its first epoch); train it longer",
                dir.display()
            );
        }
        Self::read(&run.root, weights)
    }

    /// The copy inside a segmentation run (`RUN/vlm/`).
    pub fn of_segmentation_run(run: &RunDir) -> anyhow::Result<Vlm> {
        let dir = vlm_dir(run);
        Self::read(&dir, dir.join("encoders"))
    }

    fn read(dir: &Path, weights: PathBuf) -> anyhow::Result<Vlm> {
        let config = dir.join("config.toml");
        let cfg: AmvlmConfig = toml::from_str(
            &std::fs::read_to_string(&config)
                .with_context(|| format!("cannot read {}", config.display()))?,
        )
        .with_context(|| format!("{}: invalid configuration", config.display()))?;
        let tokenizer = TextTokenizer::from_vocab_file(dir.join("vocab.txt"), cfg.lowercase)?
            .with_max_len(cfg.max_text_len)?;
        Ok(Vlm {
            cfg,
            tokenizer,
            weights,
            source: dir.to_path_buf(),
        })
    }

    /// Copy the configuration, vocabulary and encoder weights into `run`'s `vlm/` folder.
    pub fn copy_into(&self, run: &RunDir) -> anyhow::Result<()> {
        let dir = vlm_dir(run);
        std::fs::create_dir_all(&dir)?;
        write_atomic(
            &dir.join("config.toml"),
            toml::to_string_pretty(&self.cfg)?.as_bytes(),
        )?;
        write_atomic(
            &dir.join("vocab.txt"),
            self.tokenizer.vocab_text().as_bytes(),
        )?;
        let bytes = std::fs::read(self.weights.with_extension("mpk"))
            .with_context(|| format!("reading {}.mpk", self.weights.display()))?;
        write_atomic(&dir.join("encoders.mpk"), &bytes)
    }

    /// The frozen encoders on the inner (inference) backend of `B`: eval mode (BatchNorm's
    /// running statistics, no dropout), no gradients.
    pub fn encoders<B: AutodiffBackend>(
        &self,
        device: &B::Device,
    ) -> anyhow::Result<AmvlmEncoders<B::InnerBackend>> {
        let fresh = self
            .cfg
            .init::<B>(self.tokenizer.vocab_size(), device)
            .encoders
            .valid();
        checkpoint::load_module(fresh, &self.weights, device)
            .map(|e| e.no_grad())
            .with_context(|| format!("the VLM in {}", self.source.display()))
    }
}

/// A segmentation run's copy of its VLM.
pub fn vlm_dir(run: &RunDir) -> PathBuf {
    run.root.join("vlm")
}
