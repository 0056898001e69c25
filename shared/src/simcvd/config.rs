//! Every hyper-parameter of a SimCVD run, defaults from spec B4/B5 (the paper's where it states
//! them, UA-MT's where it does not). Serialised as the run's `config.toml`.

use serde::{Deserialize, Serialize};

/// Which method a run trains (the paper's comparisons, spec B8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// SimCVD: supervised Dice+CE+SDM, boundary-aware contrast, pair-wise distillation, consistency.
    Simcvd,
    /// Mean teacher (UA-MT without uncertainty): supervised Dice+CE plus consistency.
    MeanTeacher,
    /// V-Net on the labeled cases only.
    Supervised,
}

impl Method {
    /// The name in `config.toml` and on the command line (`--method`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Simcvd => "simcvd",
            Method::MeanTeacher => "mean-teacher",
            Method::Supervised => "supervised",
        }
    }
}

/// The configuration of one SimCVD-family run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimcvdConfig {
    pub method: Method,
    /// Labeled cases: the first `labeled` of train.list (16 or 8 in the paper).
    pub labeled: usize,
    /// Draw the labeled cases with this seed instead of taking the first ones.
    pub labeled_seed: Option<u64>,
    /// Seed of everything random in the run (UA-MT family: 1337).
    pub seed: u64,
    /// Training patch (x, y, z), multiples of 16 (LA: 112x112x80).
    pub patch: [usize; 3],
    /// Labeled and unlabeled volumes per step (2 + 2, spec B5).
    pub labeled_bs: usize,
    pub unlabeled_bs: usize,
    /// Iterations (6000).
    pub max_steps: usize,
    /// SGD: lr 0.01, ×0.1 every 3000 steps, momentum 0.9, weight decay 5e-4 (spec B5).
    pub lr: f64,
    pub lr_gamma: f64,
    pub lr_step: usize,
    pub momentum: f64,
    pub weight_decay: f64,
    /// EMA teacher decay cap (0.999).
    pub ema_decay: f64,
    /// Loss weights α (SDM), λ (contrast), β (distillation), γ (consistency) and τ (spec B4).
    pub alpha_sdm: f64,
    pub lambda_contrast: f64,
    pub beta_pd: f64,
    pub gamma_con: f64,
    pub tau: f64,
    /// Input noise of the consistency branches: N(0, std²) clipped to ±clip.
    pub noise_std: f64,
    pub noise_clip: f64,
    /// V-Net width and channel dropout.
    pub n_filters: usize,
    pub dropout: f64,
    /// Projection head: pooled slice side, MLP widths, output width, AlphaDropout.
    pub proj_pool: usize,
    pub proj_hidden: Vec<usize>,
    pub proj_out: usize,
    pub proj_dropout: f64,
    /// Ablation switches (spec B4): each term of SimCVD can be turned off.
    pub use_sdm: bool,
    pub use_contrast: bool,
    pub use_pd: bool,
    pub use_con: bool,
    /// Sliding-window stride for evaluation (LA: 18, 18, 4).
    pub stride: [usize; 3],
    /// Evaluate on the test cases every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Write a checkpoint every this many steps.
    pub checkpoint_every: usize,
}

impl Default for SimcvdConfig {
    fn default() -> Self {
        SimcvdConfig {
            method: Method::Simcvd,
            labeled: 16,
            labeled_seed: None,
            seed: 1337,
            patch: [112, 112, 80],
            labeled_bs: 2,
            unlabeled_bs: 2,
            max_steps: 6000,
            lr: 0.01,
            lr_gamma: 0.1,
            lr_step: 3000,
            momentum: 0.9,
            weight_decay: 5e-4,
            ema_decay: 0.999,
            alpha_sdm: 0.1,
            lambda_contrast: 0.5,
            beta_pd: 0.1,
            gamma_con: 0.1,
            tau: 0.5,
            noise_std: 0.1,
            noise_clip: 0.2,
            n_filters: 16,
            dropout: 0.5,
            proj_pool: 128,
            proj_hidden: vec![512, 256],
            proj_out: 128,
            proj_dropout: 0.1,
            use_sdm: true,
            use_contrast: true,
            use_pd: true,
            use_con: true,
            stride: [18, 18, 4],
            eval_every: 1000,
            checkpoint_every: 500,
        }
    }
}

impl SimcvdConfig {
    /// The defaults of a method: mean teacher and supervised turn SimCVD's own terms off.
    pub fn for_method(method: Method) -> Self {
        let mut c = SimcvdConfig {
            method,
            ..Default::default()
        };
        if method != Method::Simcvd {
            c.use_sdm = false;
            c.use_contrast = false;
            c.use_pd = false;
        }
        if method == Method::Supervised {
            c.use_con = false;
            c.unlabeled_bs = 0;
        }
        c
    }

    /// Whether the run has an EMA teacher and unlabeled volumes.
    pub fn semi_supervised(&self) -> bool {
        self.method != Method::Supervised && (self.use_con || self.use_contrast || self.use_pd)
    }

    /// Check the values; `Err` says which field is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.patch.iter().any(|&p| p == 0 || p % 16 != 0) {
            return Err(format!("patch {:?}: every side must be a positive multiple of 16 (the V-Net halves it four times)", self.patch));
        }
        if self.labeled == 0 || self.labeled_bs == 0 {
            return Err("labeled and labeled_bs must be at least 1".into());
        }
        if self.semi_supervised() && self.unlabeled_bs == 0 {
            return Err("unlabeled_bs must be at least 1 for a semi-supervised method".into());
        }
        if self.max_steps == 0 {
            return Err("max_steps must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.proj_dropout) {
            return Err("dropout probabilities must be in [0, 1)".into());
        }
        if !(self.lr > 0.0 && self.tau > 0.0 && self.n_filters > 0) {
            return Err("lr, tau and n_filters must be positive".into());
        }
        if self.stride.contains(&0) {
            return Err("stride must be positive".into());
        }
        if self.use_contrast && !self.use_sdm {
            return Err("the boundary-aware contrast needs the SDM head (use_sdm = true)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_and_validate() {
        let c = SimcvdConfig::default();
        assert_eq!(
            (c.lr, c.max_steps, c.labeled_bs, c.unlabeled_bs),
            (0.01, 6000, 2, 2)
        );
        assert_eq!(
            (
                c.alpha_sdm,
                c.lambda_contrast,
                c.beta_pd,
                c.gamma_con,
                c.tau
            ),
            (0.1, 0.5, 0.1, 0.1, 0.5)
        );
        assert!(c.validate().is_ok());
        let s = SimcvdConfig::for_method(Method::Supervised);
        assert!(!s.semi_supervised() && s.validate().is_ok());
        assert!(SimcvdConfig::for_method(Method::MeanTeacher).semi_supervised());
        // the names are serde's (the config file's)
        for m in [Method::Simcvd, Method::MeanTeacher, Method::Supervised] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
        }
        let bad = SimcvdConfig {
            patch: [100, 112, 80],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("multiple of 16"));
    }
}
