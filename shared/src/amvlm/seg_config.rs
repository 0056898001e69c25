//! Every hyper-parameter of a text-guided segmentation run (spec A6), defaults from the AMVLM
//! code where it states them: LViT's UNet at width 64, 16 labeled + 16 unlabeled images a step,
//! Adam 3e-4 (the code's 1e-3 for MoNuSeg is `lr = 1e-3`), 100 epochs, cosine warm restarts
//! (T₀ = 10, η_min = 1e-4) stepped once per epoch, early stopping after 50 epochs without a better
//! validation Dice, a mean teacher with `α = min(1 − 1/(step+1), 0.99)`. Serialised as the run's
//! `config.toml`; [`SegConfig::tiny`] is the CPU preset.
//!
//! The text-guided method's text branch is A6 as published ([`TextBranch::A6`]) or with our
//! additions of spec A8 ([`TextBranch::Grounded`]: calibrated logit, trust, grounding from labels,
//! the refinement head). Two data fixes of A8 hold for every method: unlabeled images drawn without
//! replacement ([`UnlabeledDraw::Epoch`]), and text maps computed on the image as its text
//! describes it, then transformed with it ([`TextView::Canonical`]). A run's `config.toml` written
//! before these settings existed reads as A6 with the uniform draw and the augmented view
//! (`legacy_*` below), what such runs did.

use super::prompt_embedding::PromptEmbedding;
use super::student_loss::StudentLossForm;
use super::text_mask::{TextCalibration, TextMaskConfig, TextMaskForm};
use crate::nets::UNet2dConfig;
use serde::{Deserialize, Serialize};

/// Which method trains the student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SegMethod {
    /// Labeled images only.
    Supervised,
    /// Mean teacher: the teacher's probability is the unlabeled target.
    MeanTeacher,
    /// AMVLM: the teacher's pseudo label fused with the text mask, plus the text mask itself.
    #[default]
    TextGuided,
}

impl SegMethod {
    pub fn name(self) -> &'static str {
        match self {
            SegMethod::Supervised => "supervised",
            SegMethod::MeanTeacher => "mean-teacher",
            SegMethod::TextGuided => "text-guided",
        }
    }

    /// Whether the method trains on the unlabeled images (with a teacher).
    pub fn semi_supervised(self) -> bool {
        self != SegMethod::Supervised
    }
}

/// The text branch of the text-guided method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TextBranch {
    /// Spec A6 as published: TMG gates at 0, `z_text = κ(M − θ)`, L_tg only, L_text on.
    A6,
    /// Spec A8 (ours): the calibrated, refined text logit trained by L_tg and grounding on the
    /// labeled images, fused with the trust ρ; L_text off unless `text_loss`.
    #[default]
    Grounded,
}

impl TextBranch {
    pub fn name(self) -> &'static str {
        match self {
            TextBranch::A6 => "a6",
            TextBranch::Grounded => "grounded",
        }
    }
}

/// How a step's unlabeled images are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UnlabeledDraw {
    /// Without replacement: a seeded permutation of the unlabeled images, taken in turn, a new
    /// one when it is used up (A8; no image twice in a batch).
    #[default]
    Epoch,
    /// Uniformly with replacement (A6 [P]; runs before A8).
    Uniform,
}

/// Which view of an unlabeled image the text branch sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TextView {
    /// The image as its description describes it; the text maps are then rotated and reflected
    /// with the image (A8: texts name places, "upper left").
    #[default]
    Canonical,
    /// The augmented image, as the released code (runs before A8).
    Augmented,
}

/// How many training images are labeled: a count, or a fraction of the training split
/// (`labeled = 6` or `labeled = 0.25` in the TOML; `--labeled 6` or `--labeled 25%` / `0.25`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabeledAmount {
    Count(usize),
    Fraction(f64),
}

impl LabeledAmount {
    /// The number of labeled images among `n` (a fraction rounds to nearest, at least 1).
    pub fn of(self, n: usize) -> usize {
        match self {
            LabeledAmount::Count(c) => c,
            LabeledAmount::Fraction(f) => ((f * n as f64).round() as usize).max(1),
        }
    }

    /// Parse `6`, `0.25` or `25%`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?}: give a count (6), a fraction (0.25) or a percentage (25%)");
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            return Self::fraction(p / 100.0).ok_or_else(bad);
        }
        if let Ok(c) = s.parse::<usize>() {
            return Ok(LabeledAmount::Count(c));
        }
        let f: f64 = s.parse().map_err(|_| bad())?;
        Self::fraction(f).ok_or_else(bad)
    }

    fn fraction(f: f64) -> Option<Self> {
        (f > 0.0 && f <= 1.0).then_some(LabeledAmount::Fraction(f))
    }
}

impl std::fmt::Display for LabeledAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabeledAmount::Count(c) => write!(f, "{c}"),
            LabeledAmount::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

/// Text-guided segmentation configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegConfig {
    pub method: SegMethod,
    /// Labeled training images (25% in the paper's main setting).
    pub labeled: LabeledAmount,
    /// Seed of the labeled draw (written into the run's manifest).
    pub labeled_seed: u64,
    /// Seed of initialisation, batches, augmentation (666, the AMVLM code's).
    pub seed: u64,
    /// UNet width of the first stage (64; 14,751,873 parameters).
    pub width: usize,
    /// Labeled and unlabeled images per step (16 + 16).
    pub labeled_bs: usize,
    pub unlabeled_bs: usize,
    /// Adam learning rate of the student and of the TMG (3e-4; 1e-3 for MoNuSeg).
    pub lr: f64,
    /// Epochs (100): one epoch is one pass over the labeled images.
    pub epochs: usize,
    /// Cosine warm restarts: period T₀ in epochs (10) and floor η_min (1e-4).
    pub restart_period: usize,
    pub lr_min: f64,
    /// Stop after this many epochs without a better validation Dice (50; 0: never).
    pub patience: usize,
    /// The teacher's EMA cap (0.99).
    pub ema_decay: f64,
    /// λ_u, the weight of the unlabeled terms (1).
    pub lambda_u: f64,
    /// The text mask of the TMG: `ours` (own text) or `released` (averaged over the batch).
    pub text_mask: TextMaskForm,
    /// The prompt's vector in the TMG: `global` (A6) or `words` (ours [P]; prompt_embedding.rs).
    pub prompt_embedding: PromptEmbedding,
    /// The student loss: `ours` (separate terms) or `released` (one WeightedDiceBCE).
    pub student_loss: StudentLossForm,
    /// Threshold the fused pseudo label at 0.5 instead of using it as a soft target.
    pub hard_fuse: bool,
    /// Train the TMG with L_tg (false: the ablation without L_tg; the decoder stays untrained).
    pub tg_loss: bool,
    /// The TMG's Adam learning rate as a multiple of the student's (our knob [P], since the gates
    /// start at 0 and move about lr a step). Absent: the branch's own, 1 for A6 (the released
    /// code: the same rate) and 5 for A8 (its grounding is learned from scratch in the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmg_lr_scale: Option<f64>,
    /// κ and θ of the text logit `κ(Mₛ − θ)` and of the mask's sharp branch (10, 0.25).
    pub kappa: f64,
    pub theta: f64,
    /// The A1 augmentation of labeled images, their masks and unlabeled images.
    pub augment: bool,
    /// A6 or our A8 text branch (text-guided method).
    #[serde(default = "SegConfig::legacy_text_branch")]
    pub text_branch: TextBranch,
    /// A8: λ_g, the weight of the grounding loss on the labeled images in the TMG's loss (0: off).
    pub ground_weight: f64,
    /// A8: scale the text's part of the fusion (and L_text) by the trust ρ.
    pub trust: bool,
    /// A8: the EMA momentum of ρ per step (0.9).
    pub trust_momentum: f64,
    /// A8: the student's L_text term (off, as in the released code; A6 always has it).
    pub text_loss: bool,
    /// A8: how the text logit comes from M (learned w, b₀; or the batch median).
    pub calibration: TextCalibration,
    /// A8: channels of the TMG's refinement head at the image's size (0: none).
    pub refine_width: usize,
    /// How unlabeled images are drawn (every method).
    #[serde(default = "SegConfig::legacy_unlabeled_draw")]
    pub unlabeled_draw: UnlabeledDraw,
    /// Which view of an unlabeled image the text branch sees.
    #[serde(default = "SegConfig::legacy_text_view")]
    pub text_view: TextView,
    /// Save a checkpoint every this many epochs (the last two are kept).
    pub checkpoint_every: usize,
}

impl Default for SegConfig {
    fn default() -> Self {
        SegConfig {
            method: SegMethod::TextGuided,
            labeled: LabeledAmount::Fraction(0.25),
            labeled_seed: 666,
            seed: 666,
            width: 64,
            labeled_bs: 16,
            unlabeled_bs: 16,
            lr: 3e-4,
            epochs: 100,
            restart_period: 10,
            lr_min: 1e-4,
            patience: 50,
            ema_decay: 0.99,
            lambda_u: 1.0,
            text_mask: TextMaskForm::Ours,
            prompt_embedding: PromptEmbedding::Global,
            student_loss: StudentLossForm::Ours,
            hard_fuse: false,
            tg_loss: true,
            tmg_lr_scale: None,
            kappa: 10.0,
            theta: 0.25,
            augment: true,
            checkpoint_every: 1,
            text_branch: TextBranch::Grounded,
            ground_weight: 1.0,
            trust: true,
            trust_momentum: 0.9,
            text_loss: false,
            calibration: TextCalibration::Learned,
            refine_width: 16,
            unlabeled_draw: UnlabeledDraw::Epoch,
            text_view: TextView::Canonical,
        }
    }
}

impl SegConfig {
    /// The paper's configuration (spec A6).
    pub fn paper() -> Self {
        Self::default()
    }

    /// What a `config.toml` without `text_branch` meant: A6 (runs before A8).
    pub fn legacy_text_branch() -> TextBranch {
        TextBranch::A6
    }

    /// What a `config.toml` without `unlabeled_draw` meant: uniform draws.
    pub fn legacy_unlabeled_draw() -> UnlabeledDraw {
        UnlabeledDraw::Uniform
    }

    /// What a `config.toml` without `text_view` meant: the augmented view.
    pub fn legacy_text_view() -> TextView {
        TextView::Augmented
    }

    /// The TMG's learning rate over the student's: `tmg_lr_scale`, else the branch's own.
    pub fn tmg_lr_multiplier(&self) -> f64 {
        self.tmg_lr_scale.unwrap_or(match self.text_branch {
            TextBranch::A6 => 1.0,
            TextBranch::Grounded => 5.0,
        })
    }

    /// Is this the text-guided method with A8's branch?
    pub fn grounded(&self) -> bool {
        self.method == SegMethod::TextGuided && self.text_branch == TextBranch::Grounded
    }

    /// A small configuration for the CPU: UNet width 8, 4 + 4 images a step, 20 epochs.
    pub fn tiny() -> Self {
        SegConfig {
            width: 8,
            labeled_bs: 4,
            unlabeled_bs: 4,
            lr: 1e-3,
            epochs: 20,
            patience: 0,
            ..Self::default()
        }
    }

    /// A named preset: `paper` or `tiny`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "paper" => Some(Self::paper()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    pub fn unet(&self) -> UNet2dConfig {
        UNet2dConfig::new().with_width(self.width)
    }

    /// The TMG for embeddings of width `dim`.
    pub fn text_mask_generator(&self, dim: usize) -> TextMaskConfig {
        let a6 = TextMaskConfig::new(dim)
            .with_kappa(self.kappa)
            .with_theta(self.theta)
            .with_prompt(self.prompt_embedding);
        match self.text_branch {
            TextBranch::A6 => a6,
            TextBranch::Grounded => a6
                .grounded()
                .with_calibration(self.calibration)
                .with_refine_width(self.refine_width)
                .with_trust(self.trust),
        }
    }

    /// Learning rate of `epoch` (0-based): cosine warm restarts with period T₀ (PyTorch's
    /// `CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min)` stepped once per epoch):
    /// `η = η_min + (lr − η_min)(1 + cos(π·(epoch mod T₀)/T₀))/2`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let t = (epoch % self.restart_period) as f64 / self.restart_period as f64;
        self.lr_min + (self.lr - self.lr_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
    }

    /// Check values that would fail later or silently train nonsense.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.labeled_bs == 0 {
            return Err("width and labeled_bs must be at least 1".into());
        }
        if self.method.semi_supervised()
            && self.unlabeled_bs < 2
            && self.method == SegMethod::TextGuided
        {
            return Err(
                "unlabeled_bs must be at least 2 for text-guided: L_tg contrasts the texts of a batch"
                    .into(),
            );
        }
        if self.method.semi_supervised() && self.unlabeled_bs == 0 {
            return Err("unlabeled_bs must be at least 1 for a semi-supervised method".into());
        }
        if !(self.lr > 0.0 && self.lr_min >= 0.0 && self.lr_min <= self.lr) {
            return Err("lr must be positive and lr_min in [0, lr]".into());
        }
        if self.epochs == 0 || self.restart_period == 0 || self.checkpoint_every == 0 {
            return Err("epochs, restart_period and checkpoint_every must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err("ema_decay must be in [0, 1)".into());
        }
        let scale = self.tmg_lr_multiplier();
        if !(scale.is_finite() && scale > 0.0) {
            return Err(format!(
                "tmg_lr_scale = {scale}: it must be a positive number (1: the student's rate)"
            ));
        }
        if !(self.lambda_u.is_finite() && self.lambda_u >= 0.0 && self.kappa.is_finite()) {
            return Err("lambda_u must be finite and >= 0, kappa finite".into());
        }
        if !(self.ground_weight.is_finite() && self.ground_weight >= 0.0) {
            return Err(format!(
                "ground_weight = {}: it must be a number >= 0 (0: no grounding)",
                self.ground_weight
            ));
        }
        if !(0.0..1.0).contains(&self.trust_momentum) {
            return Err(format!(
                "trust_momentum = {}: it must be in [0, 1)",
                self.trust_momentum
            ));
        }
        if self.grounded()
            && (self.text_mask == TextMaskForm::Released
                || self.student_loss == StudentLossForm::Released)
        {
            return Err(
                "the released text mask and student loss are forms of A6's text branch: add \
                 text_branch = \"a6\" (--text-branch a6)"
                    .into(),
            );
        }
        if self.text_branch == TextBranch::Grounded && self.calibration == TextCalibration::Fixed {
            return Err(
                "calibration = \"fixed\" is A6's text logit: use text_branch = \"a6\", or \"learned\" / \"median\""
                    .into(),
            );
        }
        if let LabeledAmount::Fraction(f) = self.labeled {
            if !(f > 0.0 && f <= 1.0) {
                return Err(format!("labeled = {f}: a fraction must be in (0, 1]"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_presets_and_the_schedule() {
        let c = SegConfig::paper();
        assert_eq!((c.width, c.labeled_bs, c.unlabeled_bs), (64, 16, 16));
        assert_eq!(
            (c.lr, c.epochs, c.restart_period, c.lr_min),
            (3e-4, 100, 10, 1e-4)
        );
        assert_eq!((c.patience, c.ema_decay, c.lambda_u), (50, 0.99, 1.0));
        // A6's TMG learns at the student's rate unless told otherwise (the released code); A8's
        // five times faster
        assert_eq!(c.tmg_lr_multiplier(), 5.0);
        let a6 = SegConfig {
            text_branch: TextBranch::A6,
            ..c.clone()
        };
        assert_eq!(a6.tmg_lr_multiplier(), 1.0);
        c.validate().unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = SegConfig {
                tmg_lr_scale: Some(bad),
                ..c.clone()
            }
            .validate()
            .unwrap_err();
            assert!(e.contains("tmg_lr_scale"), "{e}");
        }
        SegConfig::tiny().validate().unwrap();
        // A6's released forms ask for A6's branch; A8 has no fixed calibration
        for bad in [
            SegConfig {
                text_mask: TextMaskForm::Released,
                ..c.clone()
            },
            SegConfig {
                student_loss: StudentLossForm::Released,
                ..c.clone()
            },
        ] {
            assert!(bad.validate().unwrap_err().contains("text_branch = \"a6\""));
            SegConfig {
                text_branch: TextBranch::A6,
                ..bad
            }
            .validate()
            .unwrap();
        }
        let fixed = SegConfig {
            calibration: TextCalibration::Fixed,
            ..c.clone()
        };
        assert!(fixed.validate().unwrap_err().contains("calibration"));
        // by hand: epoch 0 -> lr; epoch 5 -> (lr + η_min)/2; epoch 10 restarts
        assert!((c.lr_at(0) - 3e-4).abs() < 1e-15);
        assert!((c.lr_at(5) - 2e-4).abs() < 1e-15);
        assert!((c.lr_at(10) - 3e-4).abs() < 1e-15);
        // epoch 12 is 2 epochs into the second period: t = 0.2
        let at = 1e-4 + 2e-4 * (1.0 + (std::f64::consts::PI * 0.2).cos()) / 2.0;
        assert!((c.lr_at(12) - at).abs() < 1e-15);
    }

    #[test]
    fn labeled_amounts() {
        assert_eq!(LabeledAmount::parse("6").unwrap(), LabeledAmount::Count(6));
        assert_eq!(
            LabeledAmount::parse("25%").unwrap(),
            LabeledAmount::Fraction(0.25)
        );
        assert_eq!(
            LabeledAmount::parse("0.25").unwrap(),
            LabeledAmount::Fraction(0.25)
        );
        assert!(LabeledAmount::parse("150%").is_err() && LabeledAmount::parse("x").is_err());
        // 25% of MoNuSeg's 24 training images is 6; of 10, 3 (2.5 rounds up)
        assert_eq!(LabeledAmount::Fraction(0.25).of(24), 6);
        assert_eq!(LabeledAmount::Fraction(0.25).of(10), 3);
        assert_eq!(LabeledAmount::Fraction(0.01).of(10), 1);
        // TOML keeps the kind: an integer is a count, a float a fraction
        let c: SegConfig = toml_from("labeled = 6\n");
        assert_eq!(c.labeled, LabeledAmount::Count(6));
        let c: SegConfig = toml_from("labeled = 0.5\nmethod = \"mean-teacher\"\n");
        assert_eq!(
            (c.labeled, c.method),
            (LabeledAmount::Fraction(0.5), SegMethod::MeanTeacher)
        );
    }

    /// A run's `config.toml` from before A8 (no `text_branch`, `unlabeled_draw`, `text_view`)
    /// reads as what such runs did; a new configuration is A8's.
    #[test]
    fn configurations_from_before_a8_read_as_a6() {
        let old: SegConfig = serde_json::from_str("{\"method\": \"text-guided\"}").unwrap();
        assert_eq!(
            (old.text_branch, old.unlabeled_draw, old.text_view),
            (TextBranch::A6, UnlabeledDraw::Uniform, TextView::Augmented)
        );
        assert!(!old.grounded() && old.tmg_lr_multiplier() == 1.0);
        let new = SegConfig::default();
        assert_eq!(
            (new.text_branch, new.unlabeled_draw, new.text_view),
            (
                TextBranch::Grounded,
                UnlabeledDraw::Epoch,
                TextView::Canonical
            )
        );
        // written and read back: the same
        let back: SegConfig = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
        // A6's TMG has none of A8's parts
        let tmg = old.text_mask_generator(8);
        assert_eq!(tmg, TextMaskConfig::new(8));
        assert!(new.text_mask_generator(8).trust && new.text_mask_generator(8).refine_width == 16);
    }

    fn toml_from(s: &str) -> SegConfig {
        // the crate has no TOML parser; JSON has the same integer/float distinction
        let json = s
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(" = ").unwrap();
                format!("\"{k}\": {v}")
            })
            .collect::<Vec<_>>()
            .join(",");
        serde_json::from_str(&format!("{{{json}}}")).unwrap()
    }
}
