//! One AMVLM pre-training objective evaluation (spec A5): encode the batch with the online
//! encoders and the augmented images with the momentum encoders, then
//! `L = L_ITC + 0.5·L_CSS + 0.1·L_xg + 0.1·L_ICL` (weights from [`AmvlmConfig`]), plus
//! `w_wp·L_wp` when our word–patch contrast is switched on (`amvlm/word_patch.rs`, 0 by default).

use super::config::AmvlmConfig;
use super::css::{css_loss, CssPdts, CssTokens};
use super::icl::icl_loss;
use super::itc::itc_loss;
use super::model::{Amvlm, AmvlmEncoders, ImageEmbeddings, TextEmbeddings};
use super::word_patch::word_patch_loss;
use super::xg::xg_loss;
use crate::text::Encoded;
use burn::tensor::{backend::Backend, Tensor};

/// A pre-training batch.
pub struct AmvlmBatch<B: Backend> {
    /// Images `[B, 3, S, S]` in [0, 1].
    pub images: Tensor<B, 4>,
    /// The same images augmented (A1), for the momentum branch.
    pub images_aug: Tensor<B, 4>,
    /// The tokenised descriptions.
    pub texts: Vec<Encoded>,
}

/// The loss terms of one batch (each a scalar tensor).
pub struct AmvlmLosses<B: Backend> {
    pub itc: Tensor<B, 1>,
    pub css: Tensor<B, 1>,
    pub xg: Tensor<B, 1>,
    pub icl: Tensor<B, 1>,
    /// L_wp (our addition; 0 when `w_wp = 0`).
    pub wp: Tensor<B, 1>,
    pub total: Tensor<B, 1>,
}

/// The A5 objective. `momentum` holds the momentum encoders (no gradient).
pub fn amvlm_loss<B: Backend>(
    model: &Amvlm<B>,
    momentum: &AmvlmEncoders<B>,
    batch: &AmvlmBatch<B>,
    cfg: &AmvlmConfig,
) -> AmvlmLosses<B> {
    let device = batch.images.device();
    // A term whose weight is 0 (an ablation) is not computed and reads 0; with w_icl = 0 the
    // momentum encoders are not run at all.
    let zero = || Tensor::<B, 1>::zeros([1], &device);
    let img = model.encoders.encode_image(batch.images.clone());
    let txt = model.encoders.encode_text(&batch.texts, &device);

    let itc = if cfg.w_itc > 0.0 {
        itc_loss(img.global.clone(), txt.global.clone(), cfg.tau)
    } else {
        zero()
    };

    let css = if cfg.w_css > 0.0 {
        css_term(model, &img, &txt, cfg)
    } else {
        zero()
    };

    let xg = if cfg.w_xg > 0.0 {
        xg_loss(
            img.patches.clone(),
            txt.global.clone(),
            txt.words.clone(),
            img.global.clone(),
            cfg.tau,
        )
    } else {
        zero()
    };

    let icl = if cfg.w_icl > 0.0 {
        let m_img = momentum.encode_image(batch.images_aug.clone());
        let m_txt = momentum.encode_text(&batch.texts, &device);
        let (zt, text_valid) = m_txt.with_global();
        icl_loss(
            &model.pdt_img_aug,
            &model.pdt_text,
            m_img.with_global().detach(),
            zt.detach(),
            text_valid,
            &cfg.icl_options(),
        )
    } else {
        zero()
    };

    let wp = if cfg.w_wp > 0.0 {
        word_patch_loss(
            img.patches.clone(),
            txt.words.clone(),
            txt.valid.clone(),
            cfg.tau,
        )
    } else {
        zero()
    };

    let total = itc.clone() * cfg.w_itc
        + css.clone() * cfg.w_css
        + xg.clone() * cfg.w_xg
        + icl.clone() * cfg.w_icl
        + wp.clone() * cfg.w_wp;
    AmvlmLosses {
        itc,
        css,
        xg,
        icl,
        wp,
        total,
    }
}

/// L_CSS (A5 (ii)) of encoded tokens, with the PDTs the spec assigns it (img, text, text_att).
fn css_term<B: Backend>(
    model: &Amvlm<B>,
    img: &ImageEmbeddings<B>,
    txt: &TextEmbeddings<B>,
    cfg: &AmvlmConfig,
) -> Tensor<B, 1> {
    css_loss(
        &CssPdts {
            img: &model.pdt_img,
            text: &model.pdt_text,
            text_att: &model.pdt_text_att,
        },
        &CssTokens::from_embeddings(img, txt),
        &cfg.css_options(),
    )
    .total()
}

/// A configuration small enough for unit tests: 16×16 images, 8×8 patches, width 16, D = 8.
#[cfg(test)]
fn test_config(max_text_len: usize) -> AmvlmConfig {
    AmvlmConfig {
        image_size: 16,
        patch_size: 8,
        vit_width: 16,
        vit_depth: 1,
        vit_heads: 2,
        vit_mlp: 32,
        text_width: 16,
        text_layers: 1,
        text_heads: 2,
        text_intermediate: 32,
        embed_dim: 8,
        head_hidden: 16,
        pdt_heads: 2,
        pdt_mlp: 16,
        max_text_len,
        ..AmvlmConfig::tiny()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amvlm::icl::icl_loss;
    use crate::text::TextTokenizer;
    use crate::train::teacher_from;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::Distribution;

    type B = Autodiff<Flex>;

    fn tiny() -> (AmvlmConfig, TextTokenizer) {
        let cfg = test_config(8);
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nupper\nlower\nleft\nright\nlung\n##s\n";
        let tok = TextTokenizer::from_vocab_text(vocab, true)
            .unwrap()
            .with_max_len(8)
            .unwrap();
        (cfg, tok)
    }

    fn batch(tok: &TextTokenizer, dev: &burn::backend::flex::FlexDevice) -> AmvlmBatch<B> {
        let texts = ["upper left lung", "lower right lungs", "upper right lung"];
        AmvlmBatch {
            images: Tensor::random([3, 3, 16, 16], Distribution::Default, dev),
            images_aug: Tensor::random([3, 3, 16, 16], Distribution::Default, dev),
            texts: tok.encode_batch(&texts).unwrap(),
        }
    }

    /// Which parts of the model a loss sends gradients to.
    fn reached(model: &Amvlm<B>, grads: &<B as AutodiffBackend>::Gradients) -> [bool; 8] {
        [
            model
                .encoders
                .image
                .patch_embed
                .weight
                .val()
                .grad(grads)
                .is_some(),
            model
                .encoders
                .text
                .word_embeddings
                .weight
                .val()
                .grad(grads)
                .is_some(),
            model
                .encoders
                .image_global
                .fc1
                .weight
                .val()
                .grad(grads)
                .is_some(),
            model
                .encoders
                .text_local
                .fc1
                .weight
                .val()
                .grad(grads)
                .is_some(),
            model.pdt_img.embed.weight.val().grad(grads).is_some(),
            model.pdt_text.embed.weight.val().grad(grads).is_some(),
            model.pdt_text_att.embed.weight.val().grad(grads).is_some(),
            model.pdt_img_aug.embed.weight.val().grad(grads).is_some(),
        ]
    }

    #[test]
    fn each_loss_trains_what_the_spec_says() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let (cfg, tok) = tiny();
        let model = cfg.init::<B>(tok.vocab_size(), &dev);
        let momentum = teacher_from(&model.encoders);
        let b = batch(&tok, &dev);
        // burn consumes the graph on backward: encode afresh for each loss.
        let encode = || {
            (
                model.encoders.encode_image(b.images.clone()),
                model.encoders.encode_text(&b.texts, &dev),
            )
        };

        // L_ICL runs on momentum features: only PDT_text and PDT_img_aug learn (A5 (iv)).
        let m_img = momentum.encode_image(b.images_aug.clone());
        let m_txt = momentum.encode_text(&b.texts, &dev);
        let (zt, valid) = m_txt.with_global();
        let opts = cfg.icl_options();
        let icl = icl_loss(
            &model.pdt_img_aug,
            &model.pdt_text,
            m_img.with_global(),
            zt,
            valid,
            &opts,
        );
        let g = icl.backward();
        assert_eq!(
            reached(&model, &g),
            [false, false, false, false, false, true, false, true]
        );
        assert!(momentum.image.patch_embed.weight.val().grad(&g).is_none());

        // L_ITC: encoders and global heads, no PDT, no local head.
        let (img, txt) = encode();
        let g =
            crate::amvlm::itc::itc_loss(img.global.clone(), txt.global.clone(), 0.07).backward();
        assert_eq!(
            reached(&model, &g),
            [true, true, true, false, false, false, false, false]
        );

        // L_CSS: encoders, local heads and the img, text and text_att PDTs (not img_aug).
        let (img, txt) = encode();
        let g = css_term(&model, &img, &txt, &cfg).backward();
        assert_eq!(
            reached(&model, &g),
            [true, true, false, true, true, true, true, false]
        );

        // L_xg: tokens and globals of both sides, no PDT.
        let (img, txt) = encode();
        let xg = crate::amvlm::xg::xg_loss(img.patches, txt.global, txt.words, img.global, 0.07);
        let g = xg.backward();
        assert_eq!(
            reached(&model, &g),
            [true, true, true, true, false, false, false, false]
        );

        // L_wp (our addition): tokens of both sides through the local heads only, no PDT.
        let (img, txt) = encode();
        let wp = word_patch_loss(img.patches, txt.words, txt.valid, 0.07);
        let g = wp.backward();
        assert_eq!(
            reached(&model, &g),
            [true, true, false, true, false, false, false, false]
        );
    }

    #[test]
    fn total_is_the_weighted_sum_and_finite() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let (cfg, tok) = tiny();
        let model = cfg.init::<B>(tok.vocab_size(), &dev);
        let momentum = teacher_from(&model.encoders);
        let l = amvlm_loss(&model, &momentum, &batch(&tok, &dev), &cfg);
        let v = |t: &Tensor<B, 1>| t.clone().into_scalar() as f64;
        let want = v(&l.itc) + 0.5 * v(&l.css) + 0.1 * v(&l.xg) + 0.1 * v(&l.icl);
        assert!(v(&l.total).is_finite() && (v(&l.total) - want).abs() < 1e-4 * want.abs().max(1.0));
        // L_wp is off by default (A5's objective) and joins the sum with its weight when on
        assert_eq!(v(&l.wp), 0.0);
        let on = AmvlmConfig {
            w_wp: 2.0,
            ..cfg.clone()
        };
        let l = amvlm_loss(&model, &momentum, &batch(&tok, &dev), &on);
        let want = v(&l.itc) + 0.5 * v(&l.css) + 0.1 * v(&l.xg) + 0.1 * v(&l.icl) + 2.0 * v(&l.wp);
        assert!(v(&l.wp) > 0.0 && (v(&l.total) - want).abs() < 1e-4 * want.abs().max(1.0));
        // ITC of 3 pairs at initialisation is close to ln 3 only if embeddings are uninformative;
        // it must at least be positive.
        assert!(v(&l.itc) > 0.0 && v(&l.css) > 0.0 && v(&l.icl) > 0.0);
    }

    #[test]
    fn zero_weight_terms_are_skipped_and_the_rest_still_trains() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let (cfg, tok) = tiny();
        let cfg = AmvlmConfig {
            w_css: 0.0,
            w_xg: 0.0,
            w_icl: 0.0,
            ..cfg
        };
        let model = cfg.init::<B>(tok.vocab_size(), &dev);
        let momentum = teacher_from(&model.encoders);
        let l = amvlm_loss(&model, &momentum, &batch(&tok, &dev), &cfg);
        let v = |t: &Tensor<B, 1>| t.clone().into_scalar() as f64;
        assert_eq!((v(&l.css), v(&l.xg), v(&l.icl)), (0.0, 0.0, 0.0));
        assert!(v(&l.itc) > 0.0 && (v(&l.total) - v(&l.itc)).abs() < 1e-6);
        // only L_ITC's parts learn: encoders and global heads, no PDT
        let g = l.total.backward();
        let r = reached(&model, &g);
        assert!(r[0] && r[1] && r[2], "{r:?}");
        assert!(!r[4] && !r[5] && !r[6] && !r[7], "{r:?}");
        // weights are checked: negative, NaN or all zero is refused
        for (w_itc, w_css) in [(-1.0, 0.5), (f64::NAN, 0.5), (0.0, 0.0)] {
            let bad = AmvlmConfig {
                w_itc,
                w_css,
                ..cfg.clone()
            };
            assert!(bad.validate().unwrap_err().contains("loss weights"));
        }
    }
}

#[cfg(test)]
mod learning {
    use super::*;
    use crate::text::TextTokenizer;
    use crate::train::teacher_from;
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::TensorData;

    type B = Autodiff<Flex>;

    /// Two kinds of image (bright left half / bright right half) described by two texts: a few
    /// Adam steps on L_ITC must separate them.
    #[test]
    fn itc_separates_two_kinds_of_pairs() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let cfg = AmvlmConfig {
            lr: 1e-3,
            ..super::test_config(6)
        };
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nleft\nright\nlung\n";
        let tok = TextTokenizer::from_vocab_text(vocab, true)
            .unwrap()
            .with_max_len(6)
            .unwrap();
        let b = 8;
        let mut img = vec![0.0f32; b * 3 * 16 * 16];
        let mut texts = Vec::new();
        for i in 0..b {
            let right = i % 2 == 1;
            for c in 0..3 {
                for r in 0..16 {
                    for col in 0..16 {
                        if (col >= 8) == right {
                            img[((i * 3 + c) * 16 + r) * 16 + col] = 1.0;
                        }
                    }
                }
            }
            texts.push(if right { "right lung" } else { "left lung" });
        }
        let images = Tensor::<B, 4>::from_data(TensorData::new(img, [b, 3, 16, 16]), &dev);
        let enc = tok.encode_batch(&texts).unwrap();
        let mut model = cfg.init::<B>(tok.vocab_size(), &dev);
        let mut optim = AdamConfig::new().init::<B, Amvlm<B>>();
        let mut last = f64::MAX;
        for _ in 0..150 {
            let i = model.encoders.encode_image(images.clone());
            let t = model.encoders.encode_text(&enc, &dev);
            // Same-kind pairs are positives too: score with the class-aware loss below.
            let s = i.global.matmul(t.global.transpose()) / 0.07;
            let same = Tensor::<B, 2>::from_data(
                TensorData::new(
                    (0..b * b)
                        .map(|k| ((k / b) % 2 == (k % b) % 2) as u8 as f32)
                        .collect::<Vec<_>>(),
                    [b, b],
                ),
                &dev,
            );
            // −mean log Σ_{same} softmax
            let ls = burn::tensor::activation::log_softmax(s, 1);
            let loss = (crate::amvlm::cross_entropy::logsumexp(ls + (same.neg() + 1.0) * -1e4, 1))
                .mean()
                .neg();
            last = loss.clone().into_scalar() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
        }
        let _ = teacher_from(&model.encoders);
        assert!(last < 0.2, "class-aware contrast after 150 steps: {last}");
    }
}
