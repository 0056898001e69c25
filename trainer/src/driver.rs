//! The one training driver of every method (style.md "One training skeleton"; burn-train keeps its
//! `Learner` apart from the `TrainStep` the same way). A method ([`Method`]: SimCVD's steps,
//! AMVLM's pre-training epochs, the text-guided segmenter's epochs) trains one unit at a time and
//! says what its checkpoints hold; the driver does the rest, the same for all:
//!
//! - resume from the run's newest checkpoint (its `state.json`, then the method's weights);
//! - record the session (`sessions.csv`);
//! - run units until the end of the run, `--stop-after N` units, `--time-limit` (stop before a
//!   unit that would end past it), Ctrl-C / SIGTERM (finish the unit), or the method's own stop
//!   (early stopping);
//! - checkpoint when the method's schedule says so, at the end, and before every stop, so
//!   `--resume` loses nothing.

use crate::checkpoint;
use crate::interrupt::{LoopGuard, StopAt};
use crate::progress::{Progress, ProgressMode};
use crate::run_dir::RunDir;
use crate::time_limit::Deadline;
use crate::wording::counted;
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// What a method counts its training in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Step,
    Epoch,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Step => "step",
            Unit::Epoch => "epoch",
        }
    }

    fn stop_at(self) -> StopAt {
        match self {
            Unit::Step => StopAt::Step,
            Unit::Epoch => StopAt::Epoch,
        }
    }
}

/// How the driver runs (the training commands' shared options).
pub struct LoopOptions {
    /// How progress shows on stderr.
    pub progress: ProgressMode,
    /// Stop after this many units of this invocation (`--stop-after`), with a checkpoint.
    pub stop_after: Option<usize>,
    /// `--time-limit`: stop, with a checkpoint, before a unit that would end past it.
    pub deadline: Option<Deadline>,
}

/// A method's checkpoint state (`state.json`).
pub trait TrainState: Serialize + DeserializeOwned + Default {
    /// Units (steps or epochs) completed.
    fn units(&self) -> usize;
    /// Optimizer steps completed: the progress position and the checkpoint's name.
    fn steps(&self) -> usize;
}

/// Whether a method wants to go on after a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The method's own stop (early stopping), with the line that says why.
    Stop(String),
}

/// What the driver asks of a method.
pub trait Method {
    type State: TrainState;
    /// What one call of [`Method::train_unit`] trains.
    const UNIT: Unit;
    /// Units of the whole run (`max_steps`, `epochs`).
    fn total(&self) -> usize;
    /// Optimizer steps of the whole run (the progress bar's length).
    fn total_steps(&self) -> usize;
    /// Load a checkpoint folder's weights and optimizer state.
    fn load(&mut self, dir: &Path) -> anyhow::Result<()>;
    /// Before the first unit of this invocation: open the logs, evaluate the untrained model...
    /// `resumed` says whether `state` came from a checkpoint.
    fn begin(
        &mut self,
        state: &mut Self::State,
        resumed: bool,
        out: &mut dyn Write,
    ) -> anyhow::Result<()>;
    /// Train one unit, advancing `state`.
    fn train_unit(
        &mut self,
        state: &mut Self::State,
        progress: &mut Progress,
        out: &mut dyn Write,
    ) -> anyhow::Result<Flow>;
    /// Whether the method's schedule checkpoints after the unit `state` ends.
    fn checkpoint_due(&self, state: &Self::State) -> bool;
    /// After a unit, knowing whether a checkpoint follows (AMVLM evaluates then).
    fn end_unit(
        &mut self,
        _state: &mut Self::State,
        _checkpoint: bool,
        _progress: &Progress,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    /// Write the weights and optimizer state into a checkpoint folder.
    fn save(&self, dir: &Path) -> anyhow::Result<()>;
}

/// Train `method` in `run` (see the module header); returns the final state. `backend` is what
/// `sessions.csv` records.
pub fn drive<M: Method>(
    run: &RunDir,
    method: &mut M,
    backend: &str,
    opts: &LoopOptions,
    out: &mut dyn Write,
) -> anyhow::Result<M::State> {
    let unit = M::UNIT.name();
    let mut state = M::State::default();
    let resumed = match checkpoint::latest(run)? {
        Some(dir) => {
            state = checkpoint::load_state(&dir)?;
            method.load(&dir)?;
            writeln!(
                out,
                "resuming {} after {}",
                run.root.display(),
                counted(state.units(), unit)
            )?;
            true
        }
        None => false,
    };
    run.record_session(state.steps(), backend)?;
    let total = method.total();
    let end = match opts.stop_after {
        Some(n) => (state.units() + n).min(total),
        None => total,
    };
    method.begin(&mut state, resumed, out)?;
    let mut progress = Progress::new(opts.progress, method.total_steps(), state.steps());
    let interrupt = LoopGuard::new(M::UNIT.stop_at());
    let mut out_of_time = false;
    let mut method_stop = None;
    while state.units() < end {
        let t_unit = Instant::now();
        let flow = method.train_unit(&mut state, &mut progress, out)?;
        // judged by this unit's time; an evaluation at the checkpoint comes after
        out_of_time = opts
            .deadline
            .is_some_and(|d| d.stop_before_next(Instant::now(), t_unit.elapsed()));
        if let Flow::Stop(why) = flow {
            method_stop = Some(why);
        }
        let stop = interrupt.stop_requested() || out_of_time || method_stop.is_some();
        let units = state.units();
        let save = method.checkpoint_due(&state) || units == total || units == end || stop;
        method.end_unit(&mut state, save, &progress, out)?;
        if save {
            checkpoint::save(run, state.steps(), &state, |dir| method.save(dir))?;
        }
        if stop {
            break;
        }
    }
    progress.finish();
    if let (true, Some(d)) = (out_of_time && state.units() < end, opts.deadline) {
        writeln!(
            out,
            "time limit {} reached: stopped after {unit} {}, before {} that would end past it",
            d.limit(),
            state.units(),
            if M::UNIT == Unit::Epoch {
                "an epoch"
            } else {
                "a step"
            }
        )?;
    }
    if let Some(why) = method_stop {
        writeln!(out, "{why}")?;
    }
    Ok(state)
}
