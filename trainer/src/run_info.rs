//! `run.json`: how a run was started (data folder, backend, starting checkpoints, version) and
//! which kind of run it is. The kind is read here once for every reader (train, report, compare,
//! eval-model, export); runs written before `run.json` named it get it from their `config.toml`.

use crate::run_dir::{write_atomic, RunDir};
use anyhow::Context;
use std::path::PathBuf;

/// The kinds of run, one per training command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// `train simcvd`: the 3D V-Net (SimCVD, mean teacher, supervised).
    Simcvd,
    /// `train amvlm`: vision-language pre-training.
    Amvlm,
    /// `train amvlm-seg`: the 2D text-guided mean teacher and its baselines.
    AmvlmSeg,
}

impl RunKind {
    /// The `semiseg train` subcommand that trains (and resumes) this kind.
    pub fn train_command(self) -> &'static str {
        match self {
            RunKind::Simcvd => "simcvd",
            RunKind::Amvlm => "amvlm",
            RunKind::AmvlmSeg => "amvlm-seg",
        }
    }

    /// The command that evaluates a trained run of this kind.
    pub fn eval_command(self) -> &'static str {
        match self {
            RunKind::Simcvd | RunKind::AmvlmSeg => "eval-model",
            RunKind::Amvlm => "eval-amvlm",
        }
    }
}

/// The contents of `run.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// Absent in runs of earlier semiseg versions (see [`RunDir::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RunKind>,
    /// The data folder it trains on (`--resume` uses it unless `--data` is given).
    pub data: PathBuf,
    /// The backend of its first session (each session's is in `sessions.csv`).
    pub backend: String,
    /// The BERT checkpoint the text encoder started from (`train amvlm --text-init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_init: Option<PathBuf>,
    /// The ViT checkpoint the image encoder started from (`train amvlm --image-init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_init: Option<PathBuf>,
    /// The pre-trained AMVLM run whose encoders it uses (`train amvlm-seg --vlm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlm: Option<PathBuf>,
    pub semiseg_version: String,
}

impl RunInfo {
    /// A new run's record: `data` made absolute where it can be.
    pub fn new(kind: RunKind, data: &std::path::Path, backend: &str) -> Self {
        RunInfo {
            kind: Some(kind),
            data: data.canonicalize().unwrap_or(data.to_path_buf()),
            backend: backend.to_string(),
            text_init: None,
            image_init: None,
            vlm: None,
            semiseg_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl RunDir {
    pub fn info_path(&self) -> PathBuf {
        self.root.join("run.json")
    }

    /// The run's `run.json`.
    pub fn info(&self) -> anyhow::Result<RunInfo> {
        let path = self.info_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: invalid run.json", path.display()))
    }

    pub fn write_info(&self, info: &RunInfo) -> anyhow::Result<()> {
        write_atomic(
            &self.info_path(),
            serde_json::to_string_pretty(info)?.as_bytes(),
        )
    }

    /// The run's kind: from `run.json`, or for a run of an earlier semiseg from its config (a
    /// SimCVD config names its `method`, an AMVLM pre-training config does not).
    pub fn kind(&self) -> anyhow::Result<RunKind> {
        if let Some(kind) = self.info().ok().and_then(|i| i.kind) {
            return Ok(kind);
        }
        let text = std::fs::read_to_string(self.config())
            .with_context(|| format!("cannot read {}", self.config().display()))?;
        let config: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{}: not a valid config", self.config().display()))?;
        Ok(if config.contains_key("method") {
            RunKind::Simcvd
        } else {
            RunKind::Amvlm
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_from_run_json_or_from_an_older_runs_config() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("r");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("config.toml"), "method = \"simcvd\"\n").unwrap();
        let run = RunDir::open(&root).unwrap();
        // an older run: run.json without a kind
        std::fs::write(
            run.info_path(),
            r#"{"data": "/d", "backend": "cpu", "semiseg_version": "0.1.0"}"#,
        )
        .unwrap();
        assert_eq!(run.kind().unwrap(), RunKind::Simcvd);
        std::fs::write(root.join("config.toml"), "epochs = 3\n").unwrap();
        assert_eq!(run.kind().unwrap(), RunKind::Amvlm);
        // a new run says what it is, whatever its config holds
        let info = RunInfo::new(RunKind::AmvlmSeg, d.path(), "cpu");
        run.write_info(&info).unwrap();
        assert_eq!(run.kind().unwrap(), RunKind::AmvlmSeg);
        let back = run.info().unwrap();
        assert_eq!(back.backend, "cpu");
        assert!(back.vlm.is_none());
        let text = std::fs::read_to_string(run.info_path()).unwrap();
        assert!(
            text.contains("\"kind\": \"amvlm-seg\"") && !text.contains("\"vlm\""),
            "{text}"
        );
    }
}
