//! The text-guided mean teacher (spec A6) as a [`Method`] of the training driver; one unit is one
//! epoch. Per step: the frozen encoders embed the unlabeled images and their own descriptions
//! (with A8 also the labeled images and their grounding prompts); the TMG takes an Adam step on its
//! loss (L_tg, plus A8's L_ground); the teacher (EMA, train mode) and the text mask give the
//! unlabeled targets; the student takes an Adam step on its loss; the teacher follows with
//! `α = min(1 − 1/(step+1), 0.99)`; A8's trust ρ follows the step's measure (`trust.rs`). After
//! each epoch the student is scored on the validation split (never the test split): `best/` keeps
//! the best, and training stops early after `patience` epochs without a better Dice. The learning
//! rate follows cosine warm restarts per epoch.

use super::data::{GroundPrompt, SegData, StepDraw};
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
use burn::tensor::{ElementConversion, Tensor, TensorData};
use semiseg::amvlm::{
    seg_losses, update_trust, AmvlmEncoders, GroundInputs, SegBatch, SegConfig, SegMethod,
    TextInputs, TextMaskGenerator, TextView,
};
use semiseg::data::Augment2d;
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

    /// The frozen encoders' patches and text embeddings of the unlabeled images, as constants:
    /// of the images as their texts describe them (A8), or of the student's augmented view.
    fn text_inputs(
        &self,
        augmented: &Tensor<B, 4>,
        idx: &[usize],
        aug: &[Augment2d],
    ) -> Option<TextInputs<B>> {
        let enc = self.encoders?;
        let (images, to_student) = match self.cfg.text_view {
            TextView::Augmented => (augmented.clone(), Vec::new()),
            TextView::Canonical => (
                self.data
                    .unlabeled
                    .pairs
                    .images_tensor::<B>(idx, None, &self.device),
                aug.to_vec(),
            ),
        };
        let patches = enc.encode_image(images.clone().inner()).patches;
        let texts = self.data.unlabeled.texts(idx);
        let prompt = self.tmg.as_ref()?.prompt;
        let t = prompt.vectors(&enc.encode_text(&texts, &self.device));
        Some(TextInputs {
            patches: Tensor::from_inner(patches),
            texts: Tensor::from_inner(t),
            images,
            to_student,
        })
    }

    /// A8's grounding rows on the step's labeled images (as their texts describe them).
    fn ground_inputs(&self, draw: &StepDraw) -> Option<GroundInputs<B>> {
        let enc = self.encoders?;
        if !self.cfg.grounded() {
            return None;
        }
        let lab = &self.data.labeled;
        let rows = lab.ground_rows(&draw.labeled, &draw.ground);
        let s = lab.size();
        // each row's image: its position in the step's labeled batch
        let at: Vec<i64> = rows
            .iter()
            .map(|(j, _, _)| draw.labeled.iter().position(|x| x == j).expect("drawn") as i64)
            .collect();
        let device = &self.device;
        let idx = Tensor::<B::InnerBackend, 1, burn::tensor::Int>::from_data(
            TensorData::new(at.clone(), [at.len()]),
            device,
        );
        let images = lab.pairs.images_tensor::<B>(&draw.labeled, None, device);
        let patches = enc.encode_image(images.clone().inner()).patches;
        let texts: Vec<_> = rows.iter().map(|(_, t, _)| t.clone()).collect();
        let prompt = self.tmg.as_ref()?.prompt;
        let t = prompt.vectors(&enc.encode_text(&texts, device));
        let targets: Vec<f32> = rows
            .iter()
            .flat_map(|(_, _, m)| m.iter().copied())
            .collect();
        let description = draw
            .ground
            .iter()
            .flatten()
            .map(|p| *p == GroundPrompt::Description)
            .collect();
        Some(GroundInputs {
            patches: Tensor::from_inner(patches.select(0, idx.clone())),
            images: Tensor::from_inner(images.inner().select(0, idx)),
            texts: Tensor::from_inner(t),
            targets: Tensor::from_data(TensorData::new(targets, [rows.len(), 1, s, s]), device),
            description,
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
            "epoch,step,lr,loss,sup,fuse,text,tg,ground,trust,grad_norm,seconds",
            1,
            state.step,
        )?;
        let epochs = crate::progress::open_log(
            &self.run.root.join("epochs.csv"),
            "epoch,lr,mean_loss,val_dice,val_iou,trust,seconds",
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
                (Some(u), SegMethod::TextGuided) => {
                    self.text_inputs(u, &draw.unlabeled, &draw.unlabeled_aug)
                }
                _ => None,
            };
            let ground = self.ground_inputs(&draw);
            let batch = SegBatch {
                labeled,
                masks,
                unlabeled,
                text,
                ground,
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
            let (sup, fuse, text, tg, ground) = (
                scalar(&l.student.sup),
                opt(&l.student.fuse),
                opt(&l.student.text),
                opt(&l.tg),
                opt(&l.ground),
            );
            // the TMG's own Adam on its loss (the student's loss never reaches it); without one
            // (the ablation without L_tg, A6) the TMG stays as it is, still giving the text mask
            if let Some(loss) = l.tmg {
                let tmg = self.tmg.take().expect("a TMG loss comes from the TMG");
                let grads = GradientsParams::from_grads(loss.backward(), &tmg);
                self.tmg = Some(
                    self.optim_tmg
                        .step(lr * cfg.tmg_lr_multiplier(), tmg, grads),
                );
            }
            // A8: the trust follows this step's measure
            if let (Some(sample), true) = (l.trust, cfg.trust) {
                let tmg = self.tmg.take().expect("a trust measure comes from the TMG");
                let rho = update_trust(tmg.trust_value(), sample, cfg.trust_momentum);
                self.tmg = Some(tmg.with_trust(rho));
            }
            let trust = self
                .tmg
                .as_ref()
                .filter(|t| t.trust.is_some())
                .map(|t| format!("{:.4}", t.trust_value()))
                .unwrap_or_default();
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
                "{},{},{lr:.6e},{total:.6},{sup:.6},{fuse},{text},{tg},{ground},{trust},{g_norm:.6e},{:.3}",
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
        let trust = self
            .tmg
            .as_ref()
            .filter(|t| t.trust.is_some())
            .map(|t| t.trust_value());
        progress.println(&format!(
            "epoch {}: loss {mean:.4}; validation Dice {:.2}% IoU {:.2}%{}",
            state.epoch,
            100.0 * val.dice,
            100.0 * val.iou,
            trust.map_or(String::new(), |r| format!("; text trust ρ {r:.3}"))
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
        let trust = self
            .tmg
            .as_ref()
            .filter(|t| t.trust.is_some())
            .map(|t| format!("{:.6}", t.trust_value()))
            .unwrap_or_default();
        writeln!(
            self.logs.as_mut().expect("begin opens the logs").1,
            "{},{:.6e},{mean:.6},{dice:.6},{iou:.6},{trust},{:.2}",
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
