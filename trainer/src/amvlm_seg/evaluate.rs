//! Scores of a 2D segmenter on a split, as LViT's `test_model.py` computes them (spec A6
//! "Evaluation"): the student's probability thresholded at 0.5 at the model's input size, then
//! per image Dice `2|P∩G|/(|P|+|G|)` and IoU `|P∩G|/|P∪G|` (the shared metrics code; LViT adds
//! 1e-5 to Dice's denominator, a difference below 1e-9 for any non-empty mask; an image where both
//! are empty scores 0, as LViT's and sklearn's do), averaged over the images. The text mask alone
//! (thresholded at 0.5) is scored the same way when a TMG and the encoders are given.

use super::data::SegImages;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use semiseg::amvlm::{AmvlmEncoders, TextMaskForm, TextMaskGenerator};
use semiseg::metrics::{dice, jaccard};
use semiseg::nets::UNet2d;

/// Images per forward pass.
const CHUNK: usize = 8;

/// One image's scores (fractions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageScores {
    pub dice: f64,
    pub iou: f64,
}

/// The mean of per-image scores.
pub fn mean_scores(s: &[ImageScores]) -> ImageScores {
    let n = s.len().max(1) as f64;
    ImageScores {
        dice: s.iter().map(|x| x.dice).sum::<f64>() / n,
        iou: s.iter().map(|x| x.iou).sum::<f64>() / n,
    }
}

fn score(prob: &[f32], gt: &[u8]) -> ImageScores {
    let p: Vec<bool> = prob.iter().map(|&v| v > 0.5).collect();
    let g: Vec<bool> = gt.iter().map(|&v| v > 0).collect();
    ImageScores {
        dice: dice(&p, &g),
        iou: jaccard(&p, &g),
    }
}

/// What an evaluation returns per image: the student's probability map `[S·S]` and scores, and
/// those of the text mask when asked.
pub struct Evaluated {
    pub student: Vec<(Vec<f32>, ImageScores)>,
    pub text_mask: Option<Vec<(Vec<f32>, ImageScores)>>,
}

/// Segment every image of `set` (and its text mask, with `text`: the frozen encoders, the TMG
/// and the mask form) and score each against its mask.
pub fn evaluate<B: Backend>(
    student: &UNet2d<B>,
    text: Option<(&AmvlmEncoders<B>, &TextMaskGenerator<B>, TextMaskForm)>,
    set: &SegImages,
    device: &B::Device,
) -> Evaluated {
    let s = set.size();
    let all: Vec<usize> = (0..set.len()).collect();
    let mut student_out = Vec::with_capacity(set.len());
    let mut text_out = text.map(|_| Vec::with_capacity(set.len()));
    for idx in all.chunks(CHUNK) {
        let images = set.pairs.images_tensor::<B>(idx, None, device);
        let probs = sigmoid(student.forward(images.clone()));
        let probs: Vec<f32> = probs.into_data().to_vec().expect("f32 probabilities");
        if let (Some((enc, tmg, form)), Some(out)) = (text, text_out.as_mut()) {
            let maps: Vec<f32> = text_mask(enc, tmg, form, images, &set.texts(idx), device)
                .into_data()
                .to_vec()
                .expect("f32 maps");
            for (i, &j) in idx.iter().enumerate() {
                let m = maps[i * s * s..(i + 1) * s * s].to_vec();
                let sc = score(&m, &set.masks[j]);
                out.push((m, sc));
            }
        }
        for (i, &j) in idx.iter().enumerate() {
            let p = probs[i * s * s..(i + 1) * s * s].to_vec();
            let sc = score(&p, &set.masks[j]);
            student_out.push((p, sc));
        }
    }
    Evaluated {
        student: student_out,
        text_mask: text_out,
    }
}

/// The text mask `[B, 1, S, S]` of images `[B, 3, S, S]` for texts (one per image): the frozen
/// encoders embed both, the TMG maps them (spec A6 steps 1-7).
pub fn text_mask<B: Backend>(
    enc: &AmvlmEncoders<B>,
    tmg: &TextMaskGenerator<B>,
    form: TextMaskForm,
    images: Tensor<B, 4>,
    texts: &[semiseg::text::Encoded],
    device: &B::Device,
) -> Tensor<B, 4> {
    let patches = enc.encode_image(images.clone()).patches;
    let t = tmg.prompt.vectors(&enc.encode_text(texts, device));
    tmg.text_mask(tmg.dense(patches), t, form, &images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_threshold_at_one_half() {
        // P = {0, 1, 2} (0.5 is not above the threshold), G = {1, 2, 3}
        let s = score(&[0.9, 0.6, 0.51, 0.5, 0.1], &[0, 1, 1, 1, 0]);
        assert!((s.dice - 2.0 * 2.0 / 6.0).abs() < 1e-12);
        assert!((s.iou - 2.0 / 4.0).abs() < 1e-12);
        let m = mean_scores(&[
            s,
            ImageScores {
                dice: 0.0,
                iou: 1.0,
            },
        ]);
        assert!((m.dice - (2.0 / 6.0)).abs() < 1e-12 && (m.iou - 0.75).abs() < 1e-12);
    }
}
