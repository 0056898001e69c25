//! The SimCVD training loop (spec B5): SGD with the step schedule, the EMA teacher, a CSV of the
//! loss terms per step, checkpoints, exact resume, and periodic evaluations: of the test cases as
//! monitoring only (the literature reports the last checkpoint; weights chosen on the test set
//! would inflate it), and of the validation cases (`--val-list`, held out of the training cases),
//! on which alone `best/` is chosen.

use super::data::{derive_seed, TrainData};
use super::evaluate::evaluate;
use crate::checkpoint;
use crate::cli::SpacingUnit;
use crate::driver::{Flow, Method, Unit};
use crate::grad_check::checked_grad_norm;
use crate::progress::Progress;
use crate::report::write_csv;
use crate::run_dir::RunDir;
use anyhow::Context;
use burn::module::{AutodiffModule, Module};
use burn::optim::{
    decay::WeightDecayConfig, momentum::MomentumConfig, GradientsParams, Optimizer, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use semiseg::metrics::mean_metrics;
use semiseg::simcvd::{simcvd_loss, SimcvdConfig, SimcvdModel};
use semiseg::train::{ema_decay, ema_update, step_lr, teacher_from};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// What a SimCVD checkpoint says besides the weights.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: usize,
    /// Best validation Dice so far and its step (runs with validation cases only).
    pub best_dice: Option<f64>,
    pub best_step: Option<usize>,
    /// Set in `best/state.json` when `best/` was chosen on validation cases. Runs of earlier
    /// semiseg versions chose it on the test cases and lack the flag: their `best/` is refused.
    #[serde(default)]
    pub chosen_on_validation: bool,
    /// Training seconds up to this checkpoint, so `train_log.csv`'s clock continues on resume
    /// (absent in checkpoints written before it existed).
    #[serde(default)]
    pub seconds: f64,
}

impl crate::driver::TrainState for TrainState {
    fn units(&self) -> usize {
        self.step
    }
    fn steps(&self) -> usize {
        self.step
    }
}

/// What a SimCVD session did, for its closing lines.
#[derive(Debug, Clone, Default)]
pub struct TrainSummary {
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// The supervised term alone (the total grows while the ramp brings the other terms in).
    pub first_seg: Option<f64>,
    pub last_seg: Option<f64>,
    /// The last test-set (monitoring) Dice of this session, with its step.
    pub last_dice: Option<(usize, f64)>,
    /// The last validation Dice of this session, with its step (runs with validation cases).
    pub last_val_dice: Option<(usize, f64)>,
}

fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

type Sgd<B> = burn::optim::adaptor::OptimizerAdaptor<
    burn::optim::Sgd<<B as AutodiffBackend>::InnerBackend>,
    SimcvdModel<B>,
    B,
>;

/// SimCVD (or its mean-teacher and supervised baselines) as a [`Method`] of the training driver:
/// one unit is one SGD step of spec B5.
pub struct SimcvdTraining<'a, B: AutodiffBackend> {
    run: &'a RunDir,
    cfg: &'a SimcvdConfig,
    data: &'a TrainData,
    device: B::Device,
    student: SimcvdModel<B>,
    /// The EMA teacher (semi-supervised methods).
    teacher: Option<SimcvdModel<B>>,
    optim: Sgd<B>,
    log: Option<std::fs::File>,
    /// Training seconds before this session, and when it started.
    clock: (f64, Instant),
    pub summary: TrainSummary,
}

impl<'a, B: AutodiffBackend> SimcvdTraining<'a, B> {
    /// A freshly initialised student (and teacher) for `cfg` (the driver loads a checkpoint into
    /// them when the run has one).
    pub fn new(
        run: &'a RunDir,
        cfg: &'a SimcvdConfig,
        data: &'a TrainData,
        device: &B::Device,
    ) -> Self {
        B::seed(device, cfg.seed);
        let student = cfg.init_model::<B>(device);
        let teacher = cfg.semi_supervised().then(|| teacher_from(&student));
        let optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: cfg.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init::<B, SimcvdModel<B>>();
        SimcvdTraining {
            run,
            cfg,
            data,
            device: device.clone(),
            student,
            teacher,
            optim,
            log: None,
            clock: (0.0, Instant::now()),
            summary: TrainSummary::default(),
        }
    }
}

impl<B: AutodiffBackend> Method for SimcvdTraining<'_, B> {
    type State = TrainState;
    const UNIT: Unit = Unit::Step;

    fn total(&self) -> usize {
        self.cfg.max_steps
    }

    fn total_steps(&self) -> usize {
        self.cfg.max_steps
    }

    fn load(&mut self, dir: &Path) -> anyhow::Result<()> {
        let dev = &self.device;
        self.student = checkpoint::load_module(self.student.clone(), &dir.join("student"), dev)?;
        if let Some(t) = self.teacher.take() {
            self.teacher = Some(checkpoint::load_module(t, &dir.join("teacher"), dev)?.no_grad());
        }
        self.optim = checkpoint::load_optim::<B, _, _>(self.optim.clone(), dir, dev)?;
        Ok(())
    }

    fn begin(&mut self, state: &mut TrainState, _: bool, _: &mut dyn Write) -> anyhow::Result<()> {
        self.log = Some(crate::progress::open_log(
            &self.run.train_log(),
            "step,lr,ramp,loss,seg,sdm,contrast,pd,con,grad_norm,seconds",
            0,
            state.step,
        )?);
        if self.data.validation.is_empty() {
            // a run of an earlier semiseg kept its best test-set Dice here: not a validation result
            state.best_dice = None;
            state.best_step = None;
        }
        self.clock = (state.seconds, Instant::now());
        Ok(())
    }

    fn train_unit(
        &mut self,
        state: &mut TrainState,
        progress: &mut Progress,
        _: &mut dyn Write,
    ) -> anyhow::Result<Flow> {
        let (cfg, device, step) = (self.cfg, &self.device, state.step);
        let semi = cfg.semi_supervised();
        // every random draw of the step is a function of (seed, step): exact resume
        B::seed(device, derive_seed(cfg.seed, 99, step as u64));
        let host = self.data.batch(cfg, step, semi);
        let batch = host.to_device::<B>(device);
        let losses = simcvd_loss(&self.student, self.teacher.as_ref(), &batch, cfg, step);
        let total = scalar(&losses.total);
        if !total.is_finite() {
            anyhow::bail!(
                "the loss became {total} at step {step}; lower the learning rate (lr = {}) or check the data",
                cfg.lr
            );
        }
        let grads = GradientsParams::from_grads(losses.total.backward(), &self.student);
        let g_norm =
            checked_grad_norm(&self.student, &grads, &format!("step {}", step + 1), total)?;
        let lr = step_lr(cfg.lr, cfg.lr_gamma, cfg.lr_step, step);
        self.student = self.optim.step(lr, self.student.clone(), grads);
        if let Some(t) = self.teacher.take() {
            self.teacher = Some(
                ema_update(t, &self.student, ema_decay(step + 1, cfg.ema_decay))
                    .map_err(anyhow::Error::msg)?,
            );
        }
        let seg = scalar(&losses.seg);
        state.seconds = self.clock.0 + self.clock.1.elapsed().as_secs_f64();
        let opt = |t: &Option<Tensor<B, 1>>| {
            t.as_ref()
                .map(scalar)
                .map(|v| format!("{v:.6}"))
                .unwrap_or_default()
        };
        writeln!(
            self.log.as_mut().expect("begin opens the log"),
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
        let s = &mut self.summary;
        s.first_loss.get_or_insert(total);
        s.last_loss = Some(total);
        s.first_seg.get_or_insert(seg);
        s.last_seg = Some(seg);
        state.step = step + 1;
        progress.set(state.step, &format!("loss {total:.4} seg {seg:.4}"));
        let step = state.step;
        if (cfg.eval_every > 0 && step.is_multiple_of(cfg.eval_every)) || step == cfg.max_steps {
            let (run, data, student) = (self.run, self.data, &self.student);
            if let Some(d) = evaluate_step(run, cfg, &data.test, false, student, device, step)? {
                self.summary.last_dice = Some((step, d));
                progress.println(&format!(
                    "step {step}: test Dice {:.2}% (monitoring: no weights are chosen on it)",
                    100.0 * d
                ));
            }
            let val = evaluate_step(run, cfg, &data.validation, true, student, device, step)?;
            if let Some(d) = val {
                self.summary.last_val_dice = Some((step, d));
                if state.best_dice.is_none_or(|b| d > b) {
                    state.best_dice = Some(d);
                    state.best_step = Some(step);
                    save_best(run, student, state)?;
                }
                progress.println(&format!("step {step}: validation Dice {:.2}%", 100.0 * d));
            }
        }
        Ok(Flow::Continue)
    }

    fn checkpoint_due(&self, state: &TrainState) -> bool {
        state.step.is_multiple_of(self.cfg.checkpoint_every.max(1))
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        checkpoint::save_module(&self.student, &dir.join("student"))?;
        if let Some(t) = &self.teacher {
            checkpoint::save_module(t, &dir.join("teacher"))?;
        }
        checkpoint::save_optim::<B, _, _>(&self.optim, dir)
    }
}

/// Evaluate the student on `cases`: the test cases (monitoring; `evaluations/step_N.csv` and a
/// line of `evaluations/summary.csv`) or the validation cases (the same in
/// `evaluations/validation/`). Returns the mean Dice (`None` without cases).
fn evaluate_step<B: AutodiffBackend>(
    run: &RunDir,
    cfg: &SimcvdConfig,
    cases: &[super::data::LoadedCase],
    validation: bool,
    student: &semiseg::simcvd::SimcvdModel<B>,
    device: &B::Device,
    step: usize,
) -> anyhow::Result<Option<f64>> {
    if cases.is_empty() {
        return Ok(None);
    }
    let net = student.valid().net;
    let results = evaluate(
        &net,
        cases,
        cfg.patch,
        cfg.stride,
        false, // the B6 protocol: raw argmax
        device,
        None,
        &mut |_, _| {},
    )?;
    let metrics: Vec<_> = results.iter().map(|(_, m)| *m).collect();
    let mean = mean_metrics(&metrics).expect("non-empty");
    let dir = if validation {
        run.validations()
    } else {
        run.evaluations()
    };
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join(format!("step_{step:06}.csv"));
    if csv.exists() {
        std::fs::remove_file(&csv)?; // written by this run before a resume
    }
    write_csv(&csv, &results, &mean, SpacingUnit::Voxel)?;
    let summary = dir.join("summary.csv");
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
    let state = TrainState {
        chosen_on_validation: true,
        ..state.clone()
    };
    student
        .clone()
        .save_file(run.best().join("model"), &checkpoint::Rec::new())
        .context("saving the best model")?;
    crate::run_dir::write_atomic(
        &run.best().join("state.json"),
        serde_json::to_string_pretty(&state)?.as_bytes(),
    )
}
