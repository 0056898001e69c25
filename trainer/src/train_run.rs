//! The run-folder side of every training command (`train simcvd`, `train amvlm`, `train
//! amvlm-seg`): open a run to resume it, create a new one, and the closing lines. What is
//! particular to a method (its configuration, data, manifest) stays in its command; the order is
//! the same for all: everything the user gave is checked before a new folder exists, the folder's
//! first files are written all or nothing, and the run is locked before training
//! (`run_lock.rs`).

use crate::cli::TrainRunArgs;
use crate::driver::LoopOptions;
use crate::progress::ProgressMode;
use crate::run_dir::{write_atomic, RunDir};
use crate::run_info::{RunInfo, RunKind};
use crate::run_lock::RunLock;
use crate::run_report::write_report_or_warn;
use crate::time_limit::Deadline;
use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The driver's options from the shared training options; `--time-limit` counts from `started`
/// (the command's start: loading the data takes part of the slot too).
pub fn loop_options(a: &TrainRunArgs, started: Instant) -> LoopOptions {
    LoopOptions {
        progress: ProgressMode::for_stderr(a.quiet),
        stop_after: a.stop_after,
        deadline: a.time_limit.map(|l| Deadline::new(started, l)),
    }
}

/// A run opened to continue training: the folder, its lock, its configuration and `run.json`.
pub struct Resumed<C> {
    pub run: RunDir,
    pub lock: RunLock,
    pub config: C,
    pub info: RunInfo,
}

/// Open `dir` to resume it as a run of `kind`: locked first (a run still training elsewhere is
/// refused with its holder), then its `config.toml` and `run.json` read.
pub fn open_to_resume<C: DeserializeOwned>(
    dir: &Path,
    kind: RunKind,
    out: &mut dyn Write,
) -> anyhow::Result<Resumed<C>> {
    let run = RunDir::open(dir)?;
    let found = run.kind()?;
    if found != kind {
        bail!(
            "{} is a `train {}` run; continue it with: semiseg train {} --resume {}",
            run.root.display(),
            found.train_command(),
            found.train_command(),
            run.root.display()
        );
    }
    let lock = RunLock::acquire(&run, out)?;
    let config = toml::from_str(&std::fs::read_to_string(run.config())?)
        .with_context(|| format!("{}: invalid configuration", run.config().display()))?;
    let info = run.info()?;
    Ok(Resumed {
        run,
        lock,
        config,
        info,
    })
}

/// Create a new run under `runs` (named `name`, else `prefix-<UTC time>`), write its
/// `config.toml`, `run.json` and what `more` writes (the manifest, a vocabulary), and lock it. If
/// any of that fails the folder is removed again.
pub fn create_run(
    runs: &Path,
    name: Option<&str>,
    prefix: &str,
    config_toml: &str,
    info: &RunInfo,
    more: impl FnOnce(&RunDir) -> anyhow::Result<()>,
    out: &mut dyn Write,
) -> anyhow::Result<(RunDir, RunLock)> {
    let run = match name {
        Some(name) => RunDir::create(runs, name)?,
        None => RunDir::create_timestamped(runs, prefix)?,
    };
    let run = run.setup(|run| {
        write_atomic(&run.config(), config_toml.as_bytes())?;
        run.write_info(info)?;
        more(run)
    })?;
    let lock = RunLock::acquire(&run, out)?;
    Ok((run, lock))
}

/// Every training command's last lines: how to continue a run that stopped before its end
/// (`done` of `total` units), then the run's report.
pub fn finish(
    run: &RunDir,
    kind: RunKind,
    done: usize,
    total: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if done < total {
        writeln!(
            out,
            "stopped early; continue with: semiseg train {} --resume {}",
            kind.train_command(),
            run.root.display()
        )?;
    }
    write_report_or_warn(run, out)?;
    Ok(())
}
