//! The AMVLM pre-training loop (spec A5 "Optimisation"): Adam (lr 3e-5, no schedule), momentum
//! encoders updated by EMA after every step, a CSV of the loss terms per step, the epoch-mean loss
//! per epoch, checkpoints every N epochs and the model with the lowest epoch-mean training loss
//! kept in `best/` (what the AMVLM code keeps), with retrieval on the held-out pairs each time.

use super::data::PairData;
use super::evaluate::{evaluate, Evaluation};
use crate::checkpoint;
use crate::driver::{Flow, Method, Unit};
use crate::grad_check::checked_grad_norm;
use crate::progress::Progress;
use crate::run_dir::{write_atomic, RunDir};
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use semiseg::amvlm::{amvlm_loss, Amvlm, AmvlmConfig, AmvlmEncoders};
use semiseg::train::{ema_update, teacher_from};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

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

impl crate::driver::TrainState for PretrainState {
    fn units(&self) -> usize {
        self.epoch
    }
    fn steps(&self) -> usize {
        self.step
    }
}

/// What a pre-training session did, for its closing lines.
#[derive(Debug, Clone, Default)]
pub struct TrainSummary {
    /// Epoch-mean loss of the first and last epoch run in this session.
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// Held-out evaluation of the untrained model (fresh runs only) and of the final one.
    pub initial: Option<Evaluation>,
    pub last: Option<Evaluation>,
}

fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

type Adam<B> = burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Amvlm<B>, B>;

/// AMVLM pre-training as a [`Method`] of the training driver: one unit is one epoch.
pub struct AmvlmPretraining<'a, B: AutodiffBackend> {
    run: &'a RunDir,
    cfg: &'a AmvlmConfig,
    data: &'a PairData,
    held_out: Option<&'a PairData>,
    device: B::Device,
    model: Amvlm<B>,
    /// The momentum encoders (EMA of the model's encoders).
    momentum: AmvlmEncoders<B>,
    optim: Adam<B>,
    logs: Option<(std::fs::File, std::fs::File)>,
    /// Training seconds before this session, and when it started.
    clock: (f64, Instant),
    /// The epoch just trained: its mean loss and its time.
    epoch_mean: (f64, Instant),
    pub summary: TrainSummary,
}

impl<'a, B: AutodiffBackend> AmvlmPretraining<'a, B> {
    /// `init` is the starting model (fresh or with an imported text encoder); the driver replaces
    /// its weights with the checkpoint's when the run has one.
    pub fn new(
        run: &'a RunDir,
        cfg: &'a AmvlmConfig,
        init: Amvlm<B>,
        data: &'a PairData,
        held_out: Option<&'a PairData>,
        device: &B::Device,
    ) -> Self {
        let momentum = teacher_from(&init.encoders);
        AmvlmPretraining {
            run,
            cfg,
            data,
            held_out,
            device: device.clone(),
            model: init,
            momentum,
            optim: AdamConfig::new().with_epsilon(1e-8).init::<B, Amvlm<B>>(),
            logs: None,
            clock: (0.0, Instant::now()),
            epoch_mean: (f64::NAN, Instant::now()),
            summary: TrainSummary::default(),
        }
    }

    fn steps_per_epoch(&self) -> usize {
        self.data.steps_per_epoch(self.cfg.batch_size)
    }
}

impl<B: AutodiffBackend> Method for AmvlmPretraining<'_, B> {
    type State = PretrainState;
    const UNIT: Unit = Unit::Epoch;

    fn total(&self) -> usize {
        self.cfg.epochs
    }

    fn total_steps(&self) -> usize {
        self.cfg.epochs * self.steps_per_epoch()
    }

    fn load(&mut self, dir: &Path) -> anyhow::Result<()> {
        let dev = &self.device;
        self.model = checkpoint::load_module(self.model.clone(), &dir.join("model"), dev)?;
        self.momentum =
            checkpoint::load_module(self.momentum.clone(), &dir.join("momentum"), dev)?.no_grad();
        self.optim = checkpoint::load_optim::<B, _, _>(self.optim.clone(), dir, dev)?;
        Ok(())
    }

    fn begin(
        &mut self,
        state: &mut PretrainState,
        resumed: bool,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if let (false, Some(h)) = (resumed, self.held_out) {
            let dir = self.run.evaluations().join("initial");
            let e = evaluate(&self.model.encoders.valid(), self.cfg, h, &dir)?;
            writeln!(out, "untrained: {}", e.line())?;
            self.summary.initial = Some(e);
        }
        let log = crate::progress::open_log(
            &self.run.train_log(),
            "epoch,step,loss,itc,css,xg,icl,wp,grad_norm,seconds",
            1,
            state.step,
        )?;
        let epoch_log = crate::progress::open_log(
            &self.run.root.join("epochs.csv"),
            "epoch,mean_loss,r1_i2t,r1_t2i,seconds",
            0,
            state.epoch,
        )?;
        self.logs = Some((log, epoch_log));
        self.clock = (state.seconds, Instant::now());
        Ok(())
    }

    fn train_unit(
        &mut self,
        state: &mut PretrainState,
        progress: &mut Progress,
        _: &mut dyn Write,
    ) -> anyhow::Result<Flow> {
        let (cfg, device, epoch) = (self.cfg, &self.device, state.epoch);
        let steps = self.steps_per_epoch();
        let te = Instant::now();
        let mut sum = 0.0;
        let order = self.data.epoch_order(cfg.seed, epoch);
        for k in 0..steps {
            B::seed(
                device,
                crate::simcvd::data::derive_seed(cfg.seed, 23, state.step as u64),
            );
            let batch = self.data.batch::<B>(cfg, &order, epoch, k, device);
            let l = amvlm_loss(&self.model, &self.momentum, &batch, cfg);
            let total = scalar(&l.total);
            if !total.is_finite() {
                anyhow::bail!(
                    "the loss became {total} at epoch {} step {}; lower the learning rate (lr = {}) or check the data",
                    epoch + 1,
                    state.step,
                    cfg.lr
                );
            }
            let (itc, css, xg, icl, wp) = (
                scalar(&l.itc),
                scalar(&l.css),
                scalar(&l.xg),
                scalar(&l.icl),
                scalar(&l.wp),
            );
            let grads = GradientsParams::from_grads(l.total.backward(), &self.model);
            let at = format!("epoch {} step {}", epoch + 1, state.step + 1);
            let g_norm = checked_grad_norm(&self.model, &grads, &at, total)?;
            writeln!(
                self.logs.as_mut().expect("begin opens the logs").0,
                "{},{},{total:.6},{itc:.6},{css:.6},{xg:.6},{icl:.6},{wp:.6},{g_norm:.6e},{:.3}",
                epoch + 1,
                state.step + 1,
                self.clock.0 + self.clock.1.elapsed().as_secs_f64()
            )?;
            self.model = self.optim.step(cfg.lr, self.model.clone(), grads);
            self.momentum = ema_update(self.momentum.clone(), &self.model.encoders, cfg.momentum)
                .map_err(anyhow::Error::msg)?;
            state.step += 1;
            sum += total;
            progress.set(state.step, &format!("epoch {} loss {total:.4}", epoch + 1));
        }
        let mean = sum / steps as f64;
        self.summary.first_loss.get_or_insert(mean);
        self.summary.last_loss = Some(mean);
        self.epoch_mean = (mean, te);
        state.epoch = epoch + 1;
        state.seconds = self.clock.0 + self.clock.1.elapsed().as_secs_f64();
        if state.best_loss.is_none_or(|b| mean < b) {
            state.best_loss = Some(mean);
            state.best_epoch = Some(state.epoch);
            std::fs::create_dir_all(self.run.best())?;
            checkpoint::save_module(
                &self.model.encoders.valid(),
                &self.run.best().join("encoders"),
            )?;
            write_atomic(
                &self.run.best().join("state.json"),
                serde_json::to_string_pretty(&state)?.as_bytes(),
            )?;
        }
        Ok(Flow::Continue)
    }

    fn checkpoint_due(&self, state: &PretrainState) -> bool {
        state.epoch.is_multiple_of(self.cfg.checkpoint_every)
    }

    /// Evaluate retrieval on the held-out pairs at each checkpoint; one `epochs.csv` row per epoch.
    fn end_unit(
        &mut self,
        state: &mut PretrainState,
        checkpoint: bool,
        progress: &Progress,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let (mean, te) = self.epoch_mean;
        let mut r1 = (f64::NAN, f64::NAN);
        if let (true, Some(h)) = (checkpoint, self.held_out) {
            let dir = self
                .run
                .evaluations()
                .join(format!("epoch_{:04}", state.epoch));
            let e = evaluate(&self.model.encoders.valid(), self.cfg, h, &dir)?;
            r1 = (e.i2t[0], e.t2i[0]);
            let line = format!("epoch {}: loss {mean:.4}; {}", state.epoch, e.line());
            if progress.is_bar() {
                progress.println(&line);
            } else {
                writeln!(out, "{line}")?;
            }
            self.summary.last = Some(e);
        }
        writeln!(
            self.logs.as_mut().expect("begin opens the logs").1,
            "{},{mean:.6},{:.4},{:.4},{:.2}",
            state.epoch,
            r1.0,
            r1.1,
            te.elapsed().as_secs_f64()
        )?;
        Ok(())
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        checkpoint::save_module(&self.model, &dir.join("model"))?;
        checkpoint::save_module(&self.momentum, &dir.join("momentum"))?;
        checkpoint::save_optim::<B, _, _>(&self.optim, dir)
    }
}
