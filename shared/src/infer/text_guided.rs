//! 2D text-guided inference (spec A6 at test time), the one code path of `semiseg predict
//! --prompt` and the browser page: an image (RGB in [0, 1] at the model's size, `Image2d`)
//! through the student gives the segmentation; the image's patch embeddings (computed once and
//! kept, so a new prompt costs only the text encoder and the TMG) and a prompt through the frozen
//! encoders and the Text Mask Generator give the text mask; the fused mask `σ(z_student + z_text)`
//! is the student's logit steered by the prompt (the fusion A6 [P] uses for pseudo labels).

use super::Prompt;
use crate::amvlm::{AmvlmEncoders, TextMaskForm, TextMaskGenerator};
use crate::data::{resize_linear, Image2d};
use crate::nets::UNet2d;
use crate::text::{Encoded, PAD, SEP};
use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// The networks of a text-guided segmentation model (one record in a model bundle).
#[derive(Module, Debug)]
pub struct TextGuidedNets<B: Backend> {
    /// The frozen pre-trained encoders with their projection heads.
    pub encoders: AmvlmEncoders<B>,
    /// Absent for models trained without text (their text mask is unavailable).
    pub tmg: Option<TextMaskGenerator<B>>,
    pub student: UNet2d<B>,
}

/// A text-guided segmentation model on an inference backend: its networks and the form of its
/// text mask.
#[derive(Debug)]
pub struct TextGuidedModel<B: Backend> {
    pub nets: TextGuidedNets<B>,
    pub text_mask: TextMaskForm,
}

/// An image ready for the networks, with its patch embeddings once computed.
#[derive(Debug, Clone)]
pub struct EmbeddedImage<B: Backend> {
    /// `[1, 3, S, S]`.
    pub pixels: Tensor<B, 4>,
    /// The frozen image encoder's patch embeddings `[1, N, D]`.
    pub patches: Tensor<B, 3>,
}

fn to_vec<B: Backend>(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec().expect("f32 maps")
}

impl<B: Backend> TextGuidedModel<B> {
    /// Put `image` on the device and embed its patches (the expensive part of a text mask).
    pub fn embed(&self, image: &Image2d, device: &B::Device) -> EmbeddedImage<B> {
        let s = image.size;
        let pixels = Tensor::from_data(TensorData::new(image.data.clone(), [1, 3, s, s]), device);
        let patches = self.nets.encoders.encode_image(pixels.clone()).patches;
        EmbeddedImage { pixels, patches }
    }

    /// The student's logit `[1, 1, S, S]`.
    fn student_logit(&self, image: &EmbeddedImage<B>) -> Tensor<B, 4> {
        self.nets.student.forward(image.pixels.clone())
    }

    /// The student's foreground probability `[1, 1, S, S]` (on the device: the browser reads it
    /// asynchronously).
    pub fn probability_map(&self, image: &EmbeddedImage<B>) -> Tensor<B, 4> {
        sigmoid(self.student_logit(image))
    }

    /// The text mask of `prompt` over `image`, `[1, 1, S, S]` in [0, 1]; `None` without a TMG.
    pub fn text_mask_map(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<Tensor<B, 4>> {
        let (v, t) = self.dense_and_text(image, prompt, device)?;
        let tmg = self.nets.tmg.as_ref()?;
        // one image and one text: the released form's batch mean is over this text alone
        Some(tmg.text_mask(v, t, self.text_mask, &image.pixels))
    }

    /// The fused probability `σ(z_student + z_text)` (A6: `z_text = κ(Mₛ − θ)`; A8: the
    /// calibrated, refined logit times the trust ρ the model was trained with), `[1, 1, S, S]`;
    /// `None` without a TMG.
    pub fn fused_map(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<Tensor<B, 4>> {
        let (v, t) = self.dense_and_text(image, prompt, device)?;
        let tmg = self.nets.tmg.as_ref()?;
        let z_text = tmg.fusion(tmg.text_logit(v, t, &image.pixels));
        Some(sigmoid(self.student_logit(image) + z_text))
    }

    /// [`Self::probability_map`]'s `S·S` values (row-major).
    pub fn probability(&self, image: &EmbeddedImage<B>) -> Vec<f32> {
        to_vec(self.probability_map(image))
    }

    /// [`Self::text_mask_map`]'s `S·S` values.
    pub fn text_mask(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<Vec<f32>> {
        self.text_mask_map(image, prompt, device).map(to_vec)
    }

    /// [`Self::fused_map`]'s `S·S` values.
    pub fn fused(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<Vec<f32>> {
        self.fused_map(image, prompt, device).map(to_vec)
    }

    /// The pre-trained word-to-patch similarity of each word of `prompt` over `image` (issue 23:
    /// a word clicked in the page): the cosine of the text encoder's word slot `W_k` (A2, the
    /// local head) with each patch embedding `P_n`, `[1, L−1, g, g]` over the `g × g` patch grid,
    /// with the slots that are the user's words (not `[SEP]`, punctuation or the training's
    /// `EOF XXX` padding of short texts, spec A1): `(slot, word)`.
    pub fn word_maps(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Prompt,
        device: &B::Device,
    ) -> (Vec<(usize, String)>, Tensor<B, 4>) {
        let t = self
            .nets
            .encoders
            .encode_text(std::slice::from_ref(&prompt.encoded), device);
        let [_, n, _] = image.patches.dims();
        let g = (n as f64).sqrt().round() as usize;
        let [_, k, _] = t.words.dims();
        // both are unit vectors (the heads normalise): the dot product is the cosine
        let sims = t.words.matmul(image.patches.clone().swap_dims(1, 2));
        let words = t.strings[0]
            .iter()
            .enumerate()
            .filter(|(_, w)| w.as_str() != SEP && w.as_str() != PAD)
            .filter(|(_, w)| w.chars().any(char::is_alphanumeric))
            .take(prompt.words.len())
            .map(|(i, w)| (i, w.clone()))
            .collect();
        (words, sims.reshape([1, k, g, g]))
    }

    fn dense_and_text(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<(Tensor<B, 4>, Tensor<B, 2>)> {
        let tmg = self.nets.tmg.as_ref()?;
        let t = tmg.prompt.vectors(
            &self
                .nets
                .encoders
                .encode_text(std::slice::from_ref(prompt), device),
        );
        Some((tmg.dense(image.patches.clone()), t))
    }
}

/// A `size × size` map resized (bilinear, OpenCV's rule) to `width × height`, the image's own
/// size.
pub fn map_to_image(map: &[f32], size: usize, width: usize, height: usize) -> Vec<f32> {
    resize_linear(map, size, size, 1, width, height)
}

/// A map as 8-bit grey levels: thresholded at 0.5 to 0/255 (`binary`), else scaled to 0..255.
pub fn map_to_gray8(map: &[f32], binary: bool) -> Vec<u8> {
    map.iter()
        .map(|&v| match binary {
            true => 255 * (v > 0.5) as u8,
            false => (v.clamp(0.0, 1.0) * 255.0).round() as u8,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amvlm::AmvlmConfig;
    use crate::nets::UNet2dConfig;
    use crate::text::TextTokenizer;
    use burn::backend::Flex;

    #[test]
    fn word_maps_are_each_words_cosine_with_each_patch() {
        let dev = Default::default();
        let cfg = AmvlmConfig::tiny();
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nupper\nleft\nlung\n##s\n,\n";
        let tok = TextTokenizer::from_vocab_text(vocab, true)
            .unwrap()
            .with_max_len(cfg.max_text_len)
            .unwrap();
        let model = TextGuidedModel::<Flex> {
            nets: TextGuidedNets {
                encoders: cfg.init::<Flex>(tok.vocab_size(), &dev).encoders,
                tmg: None,
                student: UNet2dConfig::new().with_width(2).init(&dev),
            },
            text_mask: TextMaskForm::default(),
        };
        let s = cfg.image_size;
        let pixels: Vec<f32> = (0..3 * s * s)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let image = model.embed(
            &Image2d {
                size: s,
                data: pixels,
            },
            &dev,
        );
        // padded as training texts were ("upper, left lungs EOF XXX EOF XXX ...", spec A1)
        assert!(cfg.pad_short_text);
        let prompt = super::super::prepare_prompt("upper, left lungs", &tok, &cfg).unwrap();
        let (words, maps) = model.word_maps(&image, &prompt, &dev);
        let names: Vec<&str> = words.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            names,
            ["upper", "left", "lungs"],
            "the comma, the padding and [SEP] are not the user's words"
        );
        // independently: the word slot and every patch as plain vectors, dotted by hand
        let t = model
            .nets
            .encoders
            .encode_text(std::slice::from_ref(&prompt.encoded), &dev);
        let w: Vec<f32> = t.words.into_data().to_vec().unwrap();
        let p: Vec<f32> = image.patches.into_data().to_vec().unwrap();
        let [_, k, g, _] = maps.dims();
        let m: Vec<f32> = maps.into_data().to_vec().unwrap();
        let d = cfg.embed_dim;
        let n = g * g;
        assert_eq!(n * d, p.len());
        for &(slot, _) in &words {
            assert!(slot < k);
            for patch in [0, n / 2, n - 1] {
                let dot: f32 = (0..d).map(|c| w[slot * d + c] * p[patch * d + c]).sum();
                assert!((m[slot * n + patch] - dot).abs() < 1e-5);
                assert!(dot.abs() <= 1.0 + 1e-5, "unit vectors: a cosine");
            }
        }
    }

    #[test]
    fn maps_to_the_image_size_and_to_grey_levels() {
        // 2×2 -> 4×2 (width 4, height 2): columns interpolated, rows kept
        let m = map_to_image(&[0.0, 1.0, 0.5, 0.5], 2, 4, 2);
        assert_eq!(m.len(), 8);
        assert_eq!(&m[..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(
            map_to_gray8(&[0.2, 0.5, 0.51, 1.0], true),
            vec![0, 0, 255, 255]
        );
        assert_eq!(
            map_to_gray8(&[0.0, 0.5, 1.0, 2.0], false),
            vec![0, 128, 255, 255]
        );
    }
}
