//! The AMVLM model (spec A2–A3): image encoder E_v (ViT) and text encoder E_t (BERT) with their
//! global and local projection heads ([`AmvlmEncoders`], also the momentum copy), and the PDTs of
//! the losses ([`Amvlm`]). The text-guided segmentation stage (A6) freezes and reuses
//! [`AmvlmEncoders`] (`encode_image` for dense patch embeddings, `encode_text` for the prompt).

use super::config::AmvlmConfig;
use super::heads::{ProjectionHead, ProjectionHeadConfig};
use super::pdt::{Pdt, PdtConfig};
use crate::nets::Bert;
use crate::nets::{Vit, VitOutput};
use crate::text::{aggregate_words, to_tensors, Encoded, Words};
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

/// Image and text encoders with their projection heads.
#[derive(Module, Debug)]
pub struct AmvlmEncoders<B: Backend> {
    pub image: Vit<B>,
    pub text: Bert<B>,
    pub image_global: ProjectionHead<B>,
    pub image_local: ProjectionHead<B>,
    pub text_global: ProjectionHead<B>,
    pub text_local: ProjectionHead<B>,
}

/// Image embeddings (unit vectors of width D).
#[derive(Debug, Clone)]
pub struct ImageEmbeddings<B: Backend> {
    /// Global `v_g`, `[B, D]`.
    pub global: Tensor<B, 2>,
    /// Patches `P`, `[B, N, D]` (row-major over the patch grid).
    pub patches: Tensor<B, 3>,
    /// Last ViT block's CLS→patch attention, `[B, N]`.
    pub attention: Tensor<B, 2>,
}

/// Text embeddings (unit vectors of width D).
#[derive(Debug, Clone)]
pub struct TextEmbeddings<B: Backend> {
    /// Global `t_g`, `[B, D]`.
    pub global: Tensor<B, 2>,
    /// Word slots `W`, `[B, L−1, D]` (words, `[SEP]`, padding).
    pub words: Tensor<B, 3>,
    /// 1 for real word slots, 0 for padding, `[B, L−1]`.
    pub valid: Tensor<B, 2>,
    /// CLS→word attention of each slot, `[B, L−1]`.
    pub attention: Tensor<B, 2>,
    /// The strings of the slots.
    pub strings: Vec<Vec<String>>,
    /// Whether each text filled the tokenizer's length (no `[PAD]` token: it may have been cut).
    pub filled: Vec<bool>,
}

impl<B: Backend> TextEmbeddings<B> {
    /// `[t_g; W]` `[B, L, D]` and its validity `[B, L]` (the ICL text tokens, A5 (iv)).
    pub fn with_global(&self) -> (Tensor<B, 3>, Tensor<B, 2>) {
        let [b, d] = self.global.dims();
        let tokens = Tensor::cat(
            vec![self.global.clone().reshape([b, 1, d]), self.words.clone()],
            1,
        );
        let ones = Tensor::ones([b, 1], &self.valid.device());
        (tokens, Tensor::cat(vec![ones, self.valid.clone()], 1))
    }
}

impl<B: Backend> ImageEmbeddings<B> {
    /// `[v_g; P]`, `[B, 1+N, D]` (the ICL image tokens).
    pub fn with_global(&self) -> Tensor<B, 3> {
        let [b, d] = self.global.dims();
        Tensor::cat(
            vec![self.global.clone().reshape([b, 1, d]), self.patches.clone()],
            1,
        )
    }
}

impl<B: Backend> AmvlmEncoders<B> {
    /// `images`: `[B, 3, S, S]` in [0, 1].
    pub fn encode_image(&self, images: Tensor<B, 4>) -> ImageEmbeddings<B> {
        let VitOutput {
            cls,
            patches,
            cls_attention,
        } = self.image.forward(images);
        ImageEmbeddings {
            global: self.image_global.forward(cls),
            patches: self.image_local.forward_tokens(patches),
            attention: cls_attention,
        }
    }

    /// Encode tokenised texts (all of one tokenizer, so of equal length).
    pub fn encode_text(&self, texts: &[Encoded], device: &B::Device) -> TextEmbeddings<B> {
        let (ids, mask) = to_tensors::<B>(texts, device);
        let out = self.text.forward(ids, mask);
        let tokens: Vec<Vec<String>> = texts.iter().map(|e| e.tokens.clone()).collect();
        let filled = texts
            .iter()
            .map(|e| e.mask.iter().all(|&m| m == 1))
            .collect();
        let Words {
            sentence,
            words,
            weights,
            valid,
            strings,
        } = aggregate_words(out.hidden, out.cls_attention, &tokens);
        TextEmbeddings {
            global: self.text_global.forward(sentence),
            words: self.text_local.forward_tokens(words),
            valid,
            attention: weights,
            strings,
            filled,
        }
    }
}

/// The pre-training model: encoders plus the four PDTs the losses use (A3: the code builds six;
/// `img_att` and `text_aug` are never used and are left out).
#[derive(Module, Debug)]
pub struct Amvlm<B: Backend> {
    pub encoders: AmvlmEncoders<B>,
    pub pdt_img: Pdt<B>,
    pub pdt_text: Pdt<B>,
    pub pdt_text_att: Pdt<B>,
    pub pdt_img_aug: Pdt<B>,
}

impl AmvlmConfig {
    /// A freshly initialised model for a vocabulary of `vocab_size` tokens.
    pub fn init<B: Backend>(&self, vocab_size: usize, device: &B::Device) -> Amvlm<B> {
        let head = |input| {
            ProjectionHeadConfig::new(input)
                .with_hidden(self.head_hidden)
                .with_output(self.embed_dim)
                .init(device)
        };
        let pdt = || {
            PdtConfig::new()
                .with_dim(self.embed_dim)
                .with_heads(self.pdt_heads)
                .with_mlp_width(self.pdt_mlp)
                .with_dropout(self.pdt_dropout)
                .init(device)
        };
        Amvlm {
            encoders: AmvlmEncoders {
                image: self.vit().init(device),
                text: self.bert(vocab_size).init(device),
                image_global: head(self.vit_width),
                image_local: head(self.vit_width),
                text_global: head(self.text_width),
                text_local: head(self.text_width),
            },
            pdt_img: pdt(),
            pdt_text: pdt(),
            pdt_text_att: pdt(),
            pdt_img_aug: pdt(),
        }
    }
}
