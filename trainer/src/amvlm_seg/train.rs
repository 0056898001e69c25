//! The text-guided mean teacher (spec A6) as a [`Method`] of the training driver; one unit is one
//! epoch. Per step: the frozen encoders embed the unlabeled images and their own descriptions; the
//! TMG takes an Adam step on L_tg; the teacher (EMA, train mode) and the text mask give the
//! unlabeled targets; the student takes an Adam step on its loss; the teacher follows with
//! `α = min(1 − 1/(step+1), 0.99)`. After each epoch the student is scored on the validation
//! split (never the test split): `best/` keeps the best, and training stops early after `patience`
//! epochs without a better Dice. The learning rate follows cosine warm restarts per epoch.

use super::data::SegData;
use super::evaluate::{evaluate, mean_scores};
use crate::checkpoint;
use crate::driver::{Flow, Method, Unit};
use crate::grad_check::checked_grad_norm;
use crate::progress::Progress;
use crate::run_dir::{write_atomic, RunDir};
use crate::simcvd::data::derive_seed;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use semiseg::amvlm::{
    seg_losses, AmvlmEncoders, SegBatch, SegConfig, SegMethod, TextInputs, TextMaskGenerator,
};
use semiseg::nets::UNet2d;
use semiseg::train::{ema_decay, ema_update, teacher_from};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// What a checkpoint of a segmentation run says besides the weights.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SegState {
    /// Epochs and optimizer steps completed.
    pub epoch: usize,
    pub step: usize,
    /// Best validation Dice so far and its epoch (1-based): `best/`.
    pub best_dice: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Set when early stopping ended the run (it is then finished).
    pub early_stopped: bool,
    /// Training seconds up to this checkpoint.
    pub seconds: f64,
}

impl crate::driver::TrainState for SegState {
    fn units(&self) -> usize {
        self.epoch
    }
    fn steps(&self) -> usize {
        self.step
    }
}

/// What a session did, for its closing lines.
#[derive(Debug, Clone, Default)]
pub struct SegSummary {
    /// Epoch-mean student loss of the first and last epoch of this session.
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// The last validation Dice and IoU, with its epoch.
    pub last_val: Option<(usize, f64, f64)>,
}

type AdamFor<M, B> = burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, M, B>;

fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

/// Text-guided segmentation (or its mean-teacher and supervised baselines).
pub struct SegTraining<'a, B: AutodiffBackend> {
    run: &'a RunDir,
    cfg: &'a SegConfig,
    data: &'a SegData,
    /// The frozen encoders (inference backend; used by the text-guided method).
    encoders: Option<&'a AmvlmEncoders<B::InnerBackend>>,
    device: B::Device,
    student: UNet2d<B>,
    teacher: Option<UNet2d<B>>,
    tmg: Option<TextMaskGenerator<B>>,
    optim: AdamFor<UNet2d<B>, B>,
    optim_tmg: AdamFor<TextMaskGenerator<B>, B>,
    logs: Option<(std::fs::File, std::fs::File)>,
    clock: (f64, Instant),
    /// This epoch's mean loss, its start, and the validation scores.
    epoch_end: (f64, Instant, f64, f64),
    pub summary: SegSummary,
}

impl<'a, B: AutodiffBackend> SegTraining<'a, B> {
    /// Fresh networks for `cfg`; `embed_dim` is the VLM's D (the TMG's width).
    pub fn new(
        run: &'a RunDir,
        cfg: &'a SegConfig,
        data: &'a SegData,
        encoders: Option<&'a AmvlmEncoders<B::InnerBackend>>,
        embed_dim: usize,
        device: &B::Device,
    ) -> Self {
        B::seed(device, cfg.seed);
        let student = cfg.unet().init::<B>(device);
        let semi = cfg.method.semi_supervised();
        let teacher = semi.then(|| teacher_from(&student));
        let tmg = (cfg.method == SegMethod::TextGuided)
            .then(|| cfg.text_mask_generator(embed_dim).init::<B>(device));
        SegTraining {
            run,
            cfg,
            data,
            encoders,
            device: device.clone(),
            student,
            teacher,
            tmg,
            optim: AdamConfig::new().init(),
            optim_tmg: AdamConfig::new().init(),
            logs: None,
            clock: (0.0, Instant::now()),
            epoch_end: (f64::NAN, Instant::now(), f64::NAN, f64::NAN),
            summary: SegSummary::default(),
        }
    }

    /// The frozen encoders' patches and text embeddings of the unlabeled images, as constants.
    fn text_inputs(&self, images: &Tensor<B, 4>, idx: &[usize]) -> Option<TextInputs<B>> {
        let enc = self.encoders?;
        let patches = enc.encode_image(images.clone().inner()).patches;
        let texts = self.data.unlabeled.texts(idx);
        let prompt = self.tmg.as_ref()?.prompt;
        let t = prompt.vectors(&enc.encode_text(&texts, &self.device));
        Some(TextInputs {
            patches: Tensor::from_inner(patches),
            texts: Tensor::from_inner(t),
        })
    }
}

impl<B: AutodiffBackend> Method for SegTraining<'_, B> {
    type State = SegState;
    const UNIT: Unit = Unit::Epoch;

    fn total(&self) -> usize {
        self.cfg.epochs
    }

    fn total_steps(&self) -> usize {
        self.cfg.epochs * self.data.steps_per_epoch(self.cfg)
    }

    fn load(&mut self, dir: &Path) -> anyhow::Result<()> {
        let dev = &self.device;
        self.student = checkpoint::load_module(self.student.clone(), &dir.join("student"), dev)?;
        if let Some(t) = self.teacher.take() {
            self.teacher = Some(checkpoint::load_module(t, &dir.join("teacher"), dev)?.no_grad());
        }
        if let Some(t) = self.tmg.take() {
            self.tmg = Some(checkpoint::load_module(t, &dir.join("tmg"), dev)?);
            self.optim_tmg = checkpoint::load_optim_named::<B, _, _>(
                self.optim_tmg.clone(),
                dir,
                "optim_tmg",
                dev,
            )?;
        }
        self.optim = checkpoint::load_optim::<B, _, _>(self.optim.clone(), dir, dev)?;
        Ok(())
    }

    fn begin(&mut self, state: &mut SegState, _: bool, _: &mut dyn Write) -> anyhow::Result<()> {
        let log = crate::progress::open_log(
            &self.run.train_log(),
            "epoch,step,lr,loss,sup,fuse,text,tg,grad_norm,seconds",
            1,
            state.step,
        )?;
        let epochs = crate::progress::open_log(
            &self.run.root.join("epochs.csv"),
            "epoch,lr,mean_loss,val_dice,val_iou,seconds",
            0,
            state.epoch,
        )?;
        self.logs = Some((log, epochs));
        self.clock = (state.seconds, Instant::now());
        Ok(())
    }

    fn train_unit(
        &mut self,
        state: &mut SegState,
        progress: &mut Progress,
        _: &mut dyn Write,
    ) -> anyhow::Result<Flow> {
        let (cfg, epoch) = (self.cfg, state.epoch);
        let device = self.device.clone();
        let semi = cfg.method.semi_supervised();
        let lr = cfg.lr_at(epoch);
        let steps = self.data.steps_per_epoch(cfg);
        let te = Instant::now();
        let mut sum = 0.0;
        for k in 0..steps {
            let step = state.step;
            B::seed(&device, derive_seed(cfg.seed, 33, step as u64));
            let draw = self.data.draw(cfg, epoch, k, semi);
            let (lab, unl) = (&self.data.labeled, &self.data.unlabeled);
            let labeled =
                lab.pairs
                    .images_tensor::<B>(&draw.labeled, Some(&draw.labeled_aug), &device);
            let masks = lab.masks_tensor::<B>(&draw.labeled, &draw.labeled_aug, &device);
            let unlabeled = (!draw.unlabeled.is_empty()).then(|| {
                unl.pairs
                    .images_tensor::<B>(&draw.unlabeled, Some(&draw.unlabeled_aug), &device)
            });
            let text = match (&unlabeled, cfg.method) {
                (Some(u), SegMethod::TextGuided) => self.text_inputs(u, &draw.unlabeled),
                _ => None,
            };
            let batch = SegBatch {
                labeled,
                masks,
                unlabeled,
                text,
            };
            let l = seg_losses(
                &self.student,
                self.teacher.as_ref(),
                self.tmg.as_ref(),
                &batch,
                cfg,
            );
            let total = scalar(&l.student.total);
            if !total.is_finite() {
                anyhow::bail!(
                    "the loss became {total} at epoch {} step {}; lower the learning rate (lr = {}) or check the data",
                    epoch + 1,
                    step + 1,
                    cfg.lr
                );
            }
            let opt = |t: &Option<Tensor<B, 1>>| {
                t.as_ref()
                    .map(|t| format!("{:.6}", scalar(t)))
                    .unwrap_or_default()
            };
            let (sup, fuse, text, tg) = (
                scalar(&l.student.sup),
                opt(&l.student.fuse),
                opt(&l.student.text),
                opt(&l.tg),
            );
            // the TMG's own Adam on L_tg (the student's loss never reaches it)
            if let (Some(tg), Some(tmg)) = (l.tg, self.tmg.take()) {
                let grads = GradientsParams::from_grads(tg.backward(), &tmg);
                self.tmg = Some(self.optim_tmg.step(lr * cfg.tmg_lr_scale, tmg, grads));
            }
            let grads = GradientsParams::from_grads(l.student.total.backward(), &self.student);
            let at = format!("epoch {} step {}", epoch + 1, step + 1);
            let g_norm = checked_grad_norm(&self.student, &grads, &at, total)?;
            self.student = self.optim.step(lr, self.student.clone(), grads);
            if let Some(t) = self.teacher.take() {
                let a = ema_decay(step + 1, cfg.ema_decay);
                self.teacher = Some(ema_update(t, &self.student, a).map_err(anyhow::Error::msg)?);
            }
            state.step = step + 1;
            state.seconds = self.clock.0 + self.clock.1.elapsed().as_secs_f64();
            writeln!(
                self.logs.as_mut().expect("begin opens the logs").0,
                "{},{},{lr:.6e},{total:.6},{sup:.6},{fuse},{text},{tg},{g_norm:.6e},{:.3}",
                epoch + 1,
                state.step,
                state.seconds
            )?;
            sum += total;
            progress.set(state.step, &format!("epoch {} loss {total:.4}", epoch + 1));
        }
        let mean = sum / steps as f64;
        self.summary.first_loss.get_or_insert(mean);
        self.summary.last_loss = Some(mean);
        state.epoch = epoch + 1;
        // validation (never the test split): best/ and early stopping
        let net = self.student.valid();
        let val = mean_scores(
            &evaluate(&net, None, &self.data.val, &self.device)
                .student
                .iter()
                .map(|(_, s)| *s)
                .collect::<Vec<_>>(),
        );
        self.epoch_end = (mean, te, val.dice, val.iou);
        self.summary.last_val = Some((state.epoch, val.dice, val.iou));
        progress.println(&format!(
            "epoch {}: loss {mean:.4}; validation Dice {:.2}% IoU {:.2}%",
            state.epoch,
            100.0 * val.dice,
            100.0 * val.iou
        ));
        if state.best_dice.is_none_or(|b| val.dice > b) {
            state.best_dice = Some(val.dice);
            state.best_epoch = Some(state.epoch);
            std::fs::create_dir_all(self.run.best())?;
            checkpoint::save_module(&net, &self.run.best().join("student"))?;
            // the TMG of this epoch too: a best/ bundle's text mask is of the same moment
            if let Some(t) = &self.tmg {
                checkpoint::save_module(t, &self.run.best().join("tmg"))?;
            }
            write_atomic(
                &self.run.best().join("state.json"),
                serde_json::to_string_pretty(&state)?.as_bytes(),
            )?;
        }
        let stale = state.epoch - state.best_epoch.unwrap_or(state.epoch);
        if cfg.patience > 0 && stale >= cfg.patience && state.epoch < cfg.epochs {
            state.early_stopped = true;
            return Ok(Flow::Stop(format!(
                "early stop after epoch {}: no better validation Dice in {} epochs (best {:.2}% at epoch {})",
                state.epoch,
                cfg.patience,
                100.0 * state.best_dice.unwrap_or(0.0),
                state.best_epoch.unwrap_or(0)
            )));
        }
        Ok(Flow::Continue)
    }

    fn checkpoint_due(&self, state: &SegState) -> bool {
        state.epoch.is_multiple_of(self.cfg.checkpoint_every)
    }

    fn end_unit(
        &mut self,
        state: &mut SegState,
        _: bool,
        _: &Progress,
        _: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let (mean, te, dice, iou) = self.epoch_end;
        writeln!(
            self.logs.as_mut().expect("begin opens the logs").1,
            "{},{:.6e},{mean:.6},{dice:.6},{iou:.6},{:.2}",
            state.epoch,
            self.cfg.lr_at(state.epoch - 1),
            te.elapsed().as_secs_f64()
        )?;
        Ok(())
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        checkpoint::save_module(&self.student, &dir.join("student"))?;
        if let Some(t) = &self.teacher {
            checkpoint::save_module(t, &dir.join("teacher"))?;
        }
        if let Some(t) = &self.tmg {
            checkpoint::save_module(t, &dir.join("tmg"))?;
            checkpoint::save_optim_named::<B, _, _>(&self.optim_tmg, dir, "optim_tmg")?;
        }
        checkpoint::save_optim::<B, _, _>(&self.optim, dir)
    }
}
