//! The SimCVD training loop (spec B5): SGD with the step schedule, the EMA teacher, a CSV of the
//! loss terms per step, periodic evaluation with the best model kept, checkpoints, exact resume.

use super::data::{derive_seed, TrainData};
use super::evaluate::evaluate;
use crate::checkpoint;
use crate::cli::SpacingUnit;
use crate::grad_check::checked_grad_norm;
use crate::interrupt::{LoopGuard, StopAt};
use crate::progress::{Progress, ProgressMode};
use crate::report::write_csv;
use crate::run_dir::RunDir;
use crate::time_limit::Deadline;
use anyhow::Context;
use burn::module::{AutodiffModule, Module};
use burn::optim::{
    decay::WeightDecayConfig, momentum::MomentumConfig, GradientsParams, Optimizer, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use semiseg::metrics::mean_metrics;
use semiseg::simcvd::{simcvd_loss, SimcvdConfig};
use semiseg::train::{ema_decay, ema_update, step_lr, teacher_from};
use std::io::Write;
use std::time::Instant;

/// How the loop reports.
pub struct TrainOptions {
    /// How progress shows on stderr.
    pub progress: ProgressMode,
    /// Stop after this many steps in this invocation (for tests and `--stop-after`), even if
    /// `max_steps` is not reached; the last checkpoint is written first.
    pub stop_after: Option<usize>,
    /// `--time-limit`: stop, with a checkpoint, before a step that would end past it.
    pub deadline: Option<Deadline>,
}

/// What a SimCVD checkpoint says besides the weights.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: usize,
    /// Best validation Dice so far and its step.
    pub best_dice: Option<f64>,
    pub best_step: Option<usize>,
    /// Training seconds up to this checkpoint, so `train_log.csv`'s clock continues on resume
    /// (absent in checkpoints written before it existed).
    #[serde(default)]
    pub seconds: f64,
}

/// The outcome of a `train` call.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub steps_done: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// The supervised term alone (the total grows while the ramp brings the other terms in).
    pub first_seg: Option<f64>,
    pub last_seg: Option<f64>,
    /// The last validation Dice of this session, with its step.
    pub last_dice: Option<(usize, f64)>,
    pub best: TrainState,
}

fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

use burn::tensor::ElementConversion;

/// Train (or continue, when the run has a checkpoint) for `cfg.max_steps`.
pub fn train<B: AutodiffBackend>(
    run: &RunDir,
    cfg: &SimcvdConfig,
    data: &TrainData,
    device: &B::Device,
    opts: &TrainOptions,
    out: &mut dyn Write,
) -> anyhow::Result<TrainSummary> {
    B::seed(device, cfg.seed);
    let semi = cfg.semi_supervised();
    let mut student = cfg.init_model::<B>(device);
    let mut teacher = semi.then(|| teacher_from(&student));
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: cfg.momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init::<B, semiseg::simcvd::SimcvdModel<B>>();
    let mut state = TrainState::default();
    if let Some(dir) = checkpoint::latest(run)? {
        state = checkpoint::load_state(&dir)?;
        student = checkpoint::load_module(student, &dir.join("student"), device)?;
        if let Some(t) = teacher.take() {
            teacher = Some(checkpoint::load_module(t, &dir.join("teacher"), device)?.no_grad());
        }
        optim = checkpoint::load_optim::<B, _, _>(optim, &dir, device)?;
        writeln!(
            out,
            "resuming {} at step {}",
            run.root.display(),
            state.step
        )?;
    }
    let start = state.step;
    run.record_session(start, &B::name(device))?;
    let end = match opts.stop_after {
        Some(n) => (start + n).min(cfg.max_steps),
        None => cfg.max_steps,
    };
    let mut progress = Progress::new(opts.progress, cfg.max_steps, start);
    let mut log = crate::progress::open_log(
        &run.train_log(),
        "step,lr,ramp,loss,seg,sdm,contrast,pd,con,grad_norm,seconds",
        0,
        start,
    )?;
    let mut first_loss = None;
    let mut last_loss = None;
    let mut first_seg = None;
    let mut last_seg = None;
    let mut last_dice = None;
    let (t0, seconds_before) = (Instant::now(), state.seconds);
    let interrupt = LoopGuard::new(StopAt::Step);
    let mut out_of_time = false;
    for step in start..end {
        let t_step = Instant::now();
        // every random draw of the step is a function of (seed, step): exact resume
        B::seed(device, derive_seed(cfg.seed, 99, step as u64));
        let host = data.batch(cfg, step, semi);
        let batch = host.to_device::<B>(device);
        let losses = simcvd_loss(&student, teacher.as_ref(), &batch, cfg, step);
        let total = scalar(&losses.total);
        if !total.is_finite() {
            anyhow::bail!(
                "the loss became {total} at step {step}; lower the learning rate (lr = {}) or check the data",
                cfg.lr
            );
        }
        let grads = GradientsParams::from_grads(losses.total.backward(), &student);
        let g_norm = checked_grad_norm(&student, &grads, &format!("step {}", step + 1), total)?;
        let lr = step_lr(cfg.lr, cfg.lr_gamma, cfg.lr_step, step);
        student = optim.step(lr, student, grads);
        if let Some(t) = teacher.take() {
            teacher = Some(
                ema_update(t, &student, ema_decay(step + 1, cfg.ema_decay))
                    .map_err(anyhow::Error::msg)?,
            );
        }
        let seg = scalar(&losses.seg);
        state.seconds = seconds_before + t0.elapsed().as_secs_f64();
        let opt = |t: &Option<Tensor<B, 1>>| {
            t.as_ref()
                .map(scalar)
                .map(|v| format!("{v:.6}"))
                .unwrap_or_default()
        };
        writeln!(
            log,
            "{},{lr:.6e},{:.6},{total:.6},{:.6},{},{},{},{},{g_norm:.6e},{:.3}",
            step + 1,
            losses.ramp,
            seg,
            opt(&losses.sdm),
            opt(&losses.contrast),
            opt(&losses.pd),
            opt(&losses.con),
            state.seconds
        )?;
        first_loss.get_or_insert(total);
        last_loss = Some(total);
        first_seg.get_or_insert(seg);
        last_seg = Some(seg);
        state.step = step + 1;
        progress.set(state.step, &format!("loss {total:.4} seg {seg:.4}"));
        let done = state.step == cfg.max_steps;
        if (cfg.eval_every > 0 && state.step % cfg.eval_every == 0) || done {
            let dice = evaluate_step(run, cfg, data, &student, device, state.step)?;
            last_dice = dice.map(|d| (state.step, d));
            if let Some(d) = dice {
                if state.best_dice.is_none_or(|b| d > b) {
                    state.best_dice = Some(d);
                    state.best_step = Some(state.step);
                    save_best(run, &student, &state)?;
                }
                progress.println(&format!(
                    "step {}: validation Dice {:.2}%",
                    state.step,
                    100.0 * d
                ));
            }
        }
        out_of_time = opts
            .deadline
            .is_some_and(|d| d.stop_before_next(Instant::now(), t_step.elapsed()));
        let stop = interrupt.stop_requested() || out_of_time;
        if state.step % cfg.checkpoint_every.max(1) == 0 || done || state.step == end || stop {
            checkpoint::save(run, state.step, &state, |dir| {
                checkpoint::save_module(&student, &dir.join("student"))?;
                if let Some(t) = &teacher {
                    checkpoint::save_module(t, &dir.join("teacher"))?;
                }
                checkpoint::save_optim::<B, _, _>(&optim, dir)
            })?;
        }
        if stop {
            break;
        }
    }
    progress.finish();
    if let (true, Some(d)) = (out_of_time && state.step < end, opts.deadline) {
        writeln!(
            out,
            "time limit {} reached: stopped after step {}, before a step that would end past it",
            d.limit(),
            state.step
        )?;
    }
    Ok(TrainSummary {
        steps_done: state.step,
        first_loss,
        last_loss,
        first_seg,
        last_seg,
        last_dice,
        best: state,
    })
}

/// Evaluate the student on the run's validation (test) cases; writes `evaluations/step_N.csv` and
/// a line of `evaluations/summary.csv`. Returns the mean Dice (`None` without test cases).
fn evaluate_step<B: AutodiffBackend>(
    run: &RunDir,
    cfg: &SimcvdConfig,
    data: &TrainData,
    student: &semiseg::simcvd::SimcvdModel<B>,
    device: &B::Device,
    step: usize,
) -> anyhow::Result<Option<f64>> {
    if data.test.is_empty() {
        return Ok(None);
    }
    let net = student.valid().net;
    let results = evaluate(
        &net,
        &data.test,
        cfg.patch,
        cfg.stride,
        false, // the B6 protocol: raw argmax
        device,
        None,
        &mut |_, _| {},
    )?;
    let metrics: Vec<_> = results.iter().map(|(_, m)| *m).collect();
    let mean = mean_metrics(&metrics).expect("non-empty");
    std::fs::create_dir_all(run.evaluations())?;
    let csv = run.evaluations().join(format!("step_{step:06}.csv"));
    if csv.exists() {
        std::fs::remove_file(&csv)?; // written by this run before a resume
    }
    write_csv(&csv, &results, &mean, SpacingUnit::Voxel)?;
    let summary = run.evaluations().join("summary.csv");
    let new = !summary.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&summary)?;
    if new {
        writeln!(f, "step,dice,jaccard,hd95_voxel,asd_voxel")?;
    }
    writeln!(
        f,
        "{step},{:.6},{:.6},{:.6},{:.6}",
        mean.dice, mean.jaccard, mean.hd95, mean.asd
    )?;
    Ok(Some(mean.dice))
}

fn save_best<B: AutodiffBackend>(
    run: &RunDir,
    student: &semiseg::simcvd::SimcvdModel<B>,
    state: &TrainState,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(run.best())?;
    student
        .clone()
        .save_file(run.best().join("model"), &checkpoint::Rec::new())
        .context("saving the best model")?;
    crate::run_dir::write_atomic(
        &run.best().join("state.json"),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )
}
