//! The AMVLM pre-training loop (spec A5 "Optimisation"): Adam (lr 3e-5, no schedule), momentum
//! encoders updated by EMA after every step, a CSV of the loss terms per step, the epoch-mean loss
//! per epoch, checkpoints every N epochs and the model with the lowest epoch-mean training loss
//! kept in `best/` (what the AMVLM code keeps), with retrieval on the held-out pairs each time.

use super::data::PairData;
use super::evaluate::{evaluate, Evaluation};
use crate::checkpoint;
use crate::grad_check::checked_grad_norm;
use crate::interrupt::{LoopGuard, StopAt};
use crate::progress::{Progress, ProgressMode};
use crate::run_dir::{write_atomic, RunDir};
use crate::time_limit::Deadline;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use semiseg::amvlm::{amvlm_loss, Amvlm, AmvlmConfig};
use semiseg::train::{ema_update, teacher_from};
use std::io::Write;
use std::time::Instant;

/// How the loop reports and where it stops.
pub struct TrainOptions {
    pub progress: ProgressMode,
    /// Stop after this many epochs of this invocation (a checkpoint is written).
    pub stop_after: Option<usize>,
    /// `--time-limit`: stop, with a checkpoint, before an epoch that would end past it.
    pub deadline: Option<Deadline>,
}

/// What a checkpoint says besides the weights.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PretrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps completed.
    pub step: usize,
    /// Lowest epoch-mean training loss so far and its epoch (1-based).
    pub best_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Training seconds up to this checkpoint, so `train_log.csv`'s clock continues on resume
    /// (absent in checkpoints written before it existed).
    #[serde(default)]
    pub seconds: f64,
}

/// The outcome of a `train` call.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub state: PretrainState,
    /// Epoch-mean loss of the first and last epoch run in this call.
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// Held-out evaluation of the untrained model (fresh runs only) and of the final one.
    pub initial: Option<Evaluation>,
    pub last: Option<Evaluation>,
}

fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

/// Train (or continue) for `cfg.epochs`. `init` is the starting model (fresh or with an imported
/// text encoder); it is replaced by the checkpoint's weights when the run has one.
#[allow(clippy::too_many_arguments)]
pub fn train<B: AutodiffBackend>(
    run: &RunDir,
    cfg: &AmvlmConfig,
    init: Amvlm<B>,
    data: &PairData,
    held_out: Option<&PairData>,
    device: &B::Device,
    opts: &TrainOptions,
    out: &mut dyn Write,
) -> anyhow::Result<TrainSummary> {
    let mut model = init;
    let mut momentum = teacher_from(&model.encoders);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Amvlm<B>>();
    let mut state = PretrainState::default();
    let mut initial = None;
    if let Some(dir) = checkpoint::latest(run)? {
        state = checkpoint::load_state(&dir)?;
        model = checkpoint::load_module(model, &dir.join("model"), device)?;
        momentum = checkpoint::load_module(momentum, &dir.join("momentum"), device)?.no_grad();
        optim = checkpoint::load_optim::<B, _, _>(optim, &dir, device)?;
        writeln!(
            out,
            "resuming {} after epoch {}",
            run.root.display(),
            state.epoch
        )?;
    } else if let Some(h) = held_out {
        let e = evaluate(
            &model.encoders.valid(),
            cfg,
            h,
            &run.evaluations().join("initial"),
        )?;
        writeln!(out, "untrained: {}", e.line())?;
        initial = Some(e);
    }
    let steps = data.steps_per_epoch(cfg.batch_size);
    run.record_session(state.step, &B::name(device))?;
    let end = match opts.stop_after {
        Some(n) => (state.epoch + n).min(cfg.epochs),
        None => cfg.epochs,
    };
    let mut progress = Progress::new(opts.progress, cfg.epochs * steps, state.step);
    let mut log = crate::progress::open_log(
        &run.train_log(),
        "epoch,step,loss,itc,css,xg,icl,grad_norm,seconds",
        1,
        state.step,
    )?;
    let mut epoch_log = crate::progress::open_log(
        &run.root.join("epochs.csv"),
        "epoch,mean_loss,r1_i2t,r1_t2i,seconds",
        0,
        state.epoch,
    )?;
    let (mut first_loss, mut last_loss, mut last) = (None, None, None);
    let (t0, seconds_before) = (Instant::now(), state.seconds);
    let interrupt = LoopGuard::new(StopAt::Epoch);
    let mut out_of_time = false;
    for epoch in state.epoch..end {
        let te = Instant::now();
        let mut sum = 0.0;
        let order = data.epoch_order(cfg.seed, epoch);
        for k in 0..steps {
            B::seed(
                device,
                crate::simcvd::data::derive_seed(cfg.seed, 23, state.step as u64),
            );
            let batch = data.batch::<B>(cfg, &order, epoch, k, device);
            let l = amvlm_loss(&model, &momentum, &batch, cfg);
            let total = scalar(&l.total);
            if !total.is_finite() {
                anyhow::bail!(
                    "the loss became {total} at epoch {} step {}; lower the learning rate (lr = {}) or check the data",
                    epoch + 1,
                    state.step,
                    cfg.lr
                );
            }
            let (itc, css, xg, icl) = (
                scalar(&l.itc),
                scalar(&l.css),
                scalar(&l.xg),
                scalar(&l.icl),
            );
            let grads = GradientsParams::from_grads(l.total.backward(), &model);
            let at = format!("epoch {} step {}", epoch + 1, state.step + 1);
            let g_norm = checked_grad_norm(&model, &grads, &at, total)?;
            writeln!(
                log,
                "{},{},{total:.6},{itc:.6},{css:.6},{xg:.6},{icl:.6},{g_norm:.6e},{:.3}",
                epoch + 1,
                state.step + 1,
                seconds_before + t0.elapsed().as_secs_f64()
            )?;
            model = optim.step(cfg.lr, model, grads);
            momentum =
                ema_update(momentum, &model.encoders, cfg.momentum).map_err(anyhow::Error::msg)?;
            state.step += 1;
            sum += total;
            progress.set(state.step, &format!("epoch {} loss {total:.4}", epoch + 1));
        }
        let mean = sum / steps as f64;
        first_loss.get_or_insert(mean);
        last_loss = Some(mean);
        state.epoch = epoch + 1;
        state.seconds = seconds_before + t0.elapsed().as_secs_f64();
        let done = state.epoch == cfg.epochs;
        let mut r1 = (f64::NAN, f64::NAN);
        if state.best_loss.is_none_or(|b| mean < b) {
            state.best_loss = Some(mean);
            state.best_epoch = Some(state.epoch);
            std::fs::create_dir_all(run.best())?;
            checkpoint::save_module(&model.encoders.valid(), &run.best().join("encoders"))?;
            write_atomic(
                &run.best().join("state.json"),
                serde_json::to_string_pretty(&state)?.as_bytes(),
            )?;
        }
        // judged by this epoch's steps; its evaluation and checkpoint come after
        out_of_time = opts
            .deadline
            .is_some_and(|d| d.stop_before_next(Instant::now(), te.elapsed()));
        let stop = interrupt.stop_requested() || out_of_time;
        if state.epoch % cfg.checkpoint_every == 0 || done || state.epoch == end || stop {
            if let Some(h) = held_out {
                let dir = run.evaluations().join(format!("epoch_{:04}", state.epoch));
                let e = evaluate(&model.encoders.valid(), cfg, h, &dir)?;
                r1 = (e.i2t[0], e.t2i[0]);
                let line = format!("epoch {}: loss {mean:.4}; {}", state.epoch, e.line());
                if progress.is_bar() {
                    progress.println(&line);
                } else {
                    writeln!(out, "{line}")?;
                }
                last = Some(e);
            }
            checkpoint::save(run, state.step, &state, |dir| {
                checkpoint::save_module(&model, &dir.join("model"))?;
                checkpoint::save_module(&momentum, &dir.join("momentum"))?;
                checkpoint::save_optim::<B, _, _>(&optim, dir)
            })?;
        }
        writeln!(
            epoch_log,
            "{},{mean:.6},{:.4},{:.4},{:.2}",
            state.epoch,
            r1.0,
            r1.1,
            te.elapsed().as_secs_f64()
        )?;
        if stop {
            break;
        }
    }
    progress.finish();
    if let (true, Some(d)) = (out_of_time && state.epoch < end, opts.deadline) {
        writeln!(
            out,
            "time limit {} reached: stopped after epoch {}, before an epoch that would end past it",
            d.limit(),
            state.epoch
        )?;
    }
    Ok(TrainSummary {
        state,
        first_loss,
        last_loss,
        initial,
        last,
    })
}
