//! Every hyper-parameter of an AMVLM pre-training run, defaults from spec A2–A5 (the paper's
//! ViT-B/16 + 6×768 BERT, Adam 3e-5, batch 32, 100 epochs, τ = 0.07). Serialised as the run's
//! `config.toml`; [`AmvlmConfig::tiny`] is the CPU/browser preset.

use super::css::CssOptions;
use super::icl::{IclNoise, IclOptions};
use super::pdt::SigmaMode;
use crate::nets::BertConfig;
use crate::nets::VitConfig;
use serde::{Deserialize, Serialize};

/// AMVLM pre-training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmvlmConfig {
    /// Seed of initialisation, batch order and augmentation (666 in the AMVLM code).
    pub seed: u64,
    /// Image side in pixels (224).
    pub image_size: usize,
    /// ViT patch side (16).
    pub patch_size: usize,
    /// ViT width, depth, heads and MLP width (ViT-B: 768, 12, 12, 3072).
    pub vit_width: usize,
    pub vit_depth: usize,
    pub vit_heads: usize,
    pub vit_mlp: usize,
    /// Text encoder width, layers, heads and feed-forward width (6 × 768, 12 heads, 3072).
    pub text_width: usize,
    pub text_layers: usize,
    pub text_heads: usize,
    pub text_intermediate: usize,
    /// Dropout inside the text encoder (BERT's 0.1).
    pub text_dropout: f64,
    /// Tokens per text, `[CLS]` and `[SEP]` included (20).
    pub max_text_len: usize,
    /// Lower-case texts before WordPiece (must match the vocabulary).
    pub lowercase: bool,
    /// Vocabulary size when semiseg trains the vocabulary from the training texts.
    pub vocab_size: usize,
    /// Append " EOF XXX" to descriptions shorter than 9 words, as LViT/AMVLM do (A1).
    pub pad_short_text: bool,
    /// Embedding width D of the projection heads (128) and their hidden width (2048).
    pub embed_dim: usize,
    pub head_hidden: usize,
    /// PDT heads, MLP width and dropout (8, 512, 0.1).
    pub pdt_heads: usize,
    pub pdt_mlp: usize,
    pub pdt_dropout: f64,
    /// Temperature τ of every contrastive term (0.07).
    pub tau: f64,
    /// EMA coefficient of the momentum encoders (0.995).
    pub momentum: f64,
    /// Loss weights: `L = w_itc·L_ITC + w_css·L_CSS + w_xg·L_xg + w_icl·L_ICL` (1, 0.5, 0.1, 0.1).
    pub w_itc: f64,
    pub w_css: f64,
    pub w_xg: f64,
    pub w_icl: f64,
    /// Weight of L_wp, the word–patch contrast (`amvlm/word_patch.rs`): **our addition [P]**, not
    /// AMVLM's; 0 (off) by default, so the objective is A5's.
    pub w_wp: f64,
    /// Pairwise W2 in L_CSS (intended form); false reproduces the released per-column form.
    pub css_pairwise: bool,
    /// σ from the PDT: `exp` (MAP, default) or `raw` (released code).
    pub sigma_mode: SigmaMode,
    /// ICL noise: `per-element` (default) or `scalar` (released code).
    pub icl_noise: IclNoise,
    /// W2 → logit mapping `(−a·W2² + b)/τ` of the ICL global term (1/200, 4).
    pub w2_a: f64,
    pub w2_b: f64,
    /// Adam learning rate (3e-5), batch size (32) and epochs (100).
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Apply the A1 augmentation to the momentum branch's image.
    pub augment: bool,
    /// Save a checkpoint every this many epochs (the last two are kept).
    pub checkpoint_every: usize,
}

impl Default for AmvlmConfig {
    fn default() -> Self {
        AmvlmConfig {
            seed: 666,
            image_size: 224,
            patch_size: 16,
            vit_width: 768,
            vit_depth: 12,
            vit_heads: 12,
            vit_mlp: 3072,
            text_width: 768,
            text_layers: 6,
            text_heads: 12,
            text_intermediate: 3072,
            text_dropout: 0.1,
            max_text_len: 20,
            lowercase: true,
            vocab_size: 4000,
            pad_short_text: true,
            embed_dim: 128,
            head_hidden: 2048,
            pdt_heads: 8,
            pdt_mlp: 512,
            pdt_dropout: 0.1,
            tau: 0.07,
            momentum: 0.995,
            w_itc: 1.0,
            w_css: 0.5,
            w_xg: 0.1,
            w_icl: 0.1,
            w_wp: 0.0,
            css_pairwise: true,
            sigma_mode: SigmaMode::Exp,
            icl_noise: IclNoise::PerElement,
            w2_a: 1.0 / 200.0,
            w2_b: 4.0,
            lr: 3e-5,
            batch_size: 32,
            epochs: 100,
            augment: true,
            checkpoint_every: 1,
        }
    }
}

impl AmvlmConfig {
    /// The paper's configuration (spec A2–A5).
    pub fn paper() -> Self {
        Self::default()
    }

    /// A small configuration that trains on a CPU in minutes: 64×64 images, 8×8 patches, two
    /// transformer blocks of width 64 on each side, D = 64.
    pub fn tiny() -> Self {
        AmvlmConfig {
            image_size: 64,
            patch_size: 8,
            vit_width: 64,
            vit_depth: 2,
            vit_heads: 4,
            vit_mlp: 128,
            text_width: 64,
            text_layers: 2,
            text_heads: 4,
            text_intermediate: 128,
            vocab_size: 400,
            embed_dim: 64,
            head_hidden: 256,
            pdt_heads: 4,
            pdt_mlp: 128,
            lr: 1e-3,
            batch_size: 16,
            epochs: 30,
            checkpoint_every: 5,
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

    /// The options of L_CSS.
    pub fn css_options(&self) -> CssOptions {
        CssOptions {
            tau: self.tau,
            pairwise: self.css_pairwise,
            sigma_mode: self.sigma_mode,
        }
    }

    /// The options of L_ICL.
    pub fn icl_options(&self) -> IclOptions {
        IclOptions {
            tau: self.tau,
            a: self.w2_a,
            b: self.w2_b,
            sigma_mode: self.sigma_mode,
            noise: self.icl_noise,
        }
    }

    /// The image encoder's configuration.
    pub fn vit(&self) -> VitConfig {
        VitConfig::new()
            .with_image_size(self.image_size)
            .with_patch_size(self.patch_size)
            .with_width(self.vit_width)
            .with_depth(self.vit_depth)
            .with_heads(self.vit_heads)
            .with_mlp_width(self.vit_mlp)
    }

    /// The text encoder's configuration for a vocabulary of `vocab_size` tokens.
    pub fn bert(&self, vocab_size: usize) -> BertConfig {
        BertConfig::new()
            .with_vocab_size(vocab_size)
            .with_hidden_size(self.text_width)
            .with_num_layers(self.text_layers)
            .with_num_heads(self.text_heads)
            .with_intermediate_size(self.text_intermediate)
            .with_dropout(self.text_dropout)
            .with_attention_dropout(self.text_dropout)
    }

    /// Check values that would fail later or silently train nonsense.
    pub fn validate(&self) -> Result<(), String> {
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return Err(format!(
                "image_size {} must be a positive multiple of patch_size {}",
                self.image_size, self.patch_size
            ));
        }
        if self.vit_heads == 0 || !self.vit_width.is_multiple_of(self.vit_heads) {
            return Err("vit_width must be divisible by vit_heads".into());
        }
        if self.text_heads == 0 || !self.text_width.is_multiple_of(self.text_heads) {
            return Err("text_width must be divisible by text_heads".into());
        }
        if self.pdt_heads == 0
            || !self.embed_dim.is_multiple_of(self.pdt_heads)
            || !self.embed_dim.is_multiple_of(2)
        {
            return Err("embed_dim must be even and divisible by pdt_heads".into());
        }
        if self.max_text_len < 3 {
            return Err(
                "max_text_len must leave room for [CLS], a word and [SEP] (at least 3)".into(),
            );
        }
        if self.batch_size < 2 {
            return Err(
                "batch_size must be at least 2: the losses contrast samples of a batch".into(),
            );
        }
        if !(self.tau > 0.0 && self.lr > 0.0) {
            return Err("tau and lr must be positive".into());
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err("momentum must be in [0, 1)".into());
        }
        if self.epochs == 0 || self.checkpoint_every == 0 {
            return Err("epochs and checkpoint_every must be at least 1".into());
        }
        let weights = [self.w_itc, self.w_css, self.w_xg, self.w_icl, self.w_wp];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || weights.iter().all(|w| *w == 0.0)
        {
            return Err(
                "loss weights w_itc, w_css, w_xg, w_icl, w_wp must be finite and >= 0, and one of them > 0"
                    .into(),
            );
        }
        for p in [self.text_dropout, self.pdt_dropout] {
            if !(0.0..1.0).contains(&p) {
                return Err("dropout probabilities must be in [0, 1)".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_and_presets_validate() {
        let c = AmvlmConfig::paper();
        assert_eq!(
            (c.image_size, c.patch_size, c.vit_width, c.vit_depth),
            (224, 16, 768, 12)
        );
        assert_eq!((c.text_layers, c.text_width, c.max_text_len), (6, 768, 20));
        assert_eq!(
            (c.w_itc, c.w_css, c.w_xg, c.w_icl, c.tau),
            (1.0, 0.5, 0.1, 0.1, 0.07)
        );
        assert_eq!((c.lr, c.batch_size, c.epochs, c.seed), (3e-5, 32, 100, 666));
        assert!(c.css_pairwise && c.sigma_mode == SigmaMode::Exp);
        c.validate().unwrap();
        AmvlmConfig::tiny().validate().unwrap();
        let bad = AmvlmConfig {
            patch_size: 10,
            ..AmvlmConfig::tiny()
        };
        assert!(bad.validate().unwrap_err().contains("multiple"));
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let c = AmvlmConfig::tiny();
        let text = toml_like(&c);
        assert!(text.contains("sigma_mode"));
        let err = serde_json::from_str::<AmvlmConfig>(r#"{"tua": 0.1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"));
    }

    fn toml_like(c: &AmvlmConfig) -> String {
        serde_json::to_string(c).unwrap()
    }
}
