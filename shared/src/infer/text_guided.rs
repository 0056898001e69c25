//! 2D text-guided inference (spec A6 at test time), the one code path of `semiseg predict
//! --prompt` and the browser page: an image (RGB in [0, 1] at the model's size, `Image2d`)
//! through the student gives the segmentation; the image's patch embeddings (computed once and
//! kept, so a new prompt costs only the text encoder and the TMG) and a prompt through the frozen
//! encoders and the Text Mask Generator give the text mask; the fused mask `σ(z_student + z_text)`
//! is the student's logit steered by the prompt (the fusion A6 [P] uses for pseudo labels).

use crate::amvlm::{AmvlmEncoders, TextMaskForm, TextMaskGenerator};
use crate::data::{resize_linear, Image2d};
use crate::nets::UNet2d;
use crate::text::Encoded;
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
        let (v, t, size) = self.dense_and_text(image, prompt, device)?;
        let tmg = self.nets.tmg.as_ref()?;
        // one image and one text: the released form's batch mean is over this text alone
        Some(tmg.text_mask(v, t, self.text_mask, size))
    }

    /// The fused probability `σ(z_student + κ(Mₛ − θ))`, `[1, 1, S, S]`; `None` without a TMG.
    pub fn fused_map(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<Tensor<B, 4>> {
        let (v, t, size) = self.dense_and_text(image, prompt, device)?;
        let z_text = self.nets.tmg.as_ref()?.text_logit(v, t, size);
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

    #[allow(clippy::type_complexity)]
    fn dense_and_text(
        &self,
        image: &EmbeddedImage<B>,
        prompt: &Encoded,
        device: &B::Device,
    ) -> Option<(Tensor<B, 4>, Tensor<B, 2>, [usize; 2])> {
        let tmg = self.nets.tmg.as_ref()?;
        let [_, _, h, w] = image.pixels.dims();
        let t = self
            .nets
            .encoders
            .encode_text(std::slice::from_ref(prompt), device)
            .global;
        Some((tmg.dense(image.patches.clone()), t, [h, w]))
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
