//! The Text Mask Generator (spec A6 "TMG", from TCL by way of AMVLM's `TextMask_generation.py`):
//! the frozen pre-trained encoders give the patch embeddings P `[B, N, D]` on a g×g grid and the
//! prompt's global embedding t `[B, D]`; the trainable part is a small decoder plus a logit scale.
//!
//! 1. P → `[B, D, g, g]`.
//! 2. Two ResConv-up blocks: `x = up2_nearest(x); x = x + tanh(γ)·Conv3×3(ReLU(x))`, γ a scalar
//!    initialised to 0 (so the untrained decoder is a plain nearest upsampling), no norm.
//! 3. V = the result `[B, D, 4g, 4g]`, L2-normalised over channels.
//! 4. `Mₛ[b, n] = ⟨V_b(h, w), t_n⟩` (`[B, B, 4g, 4g]`; [`similarity`]).
//! 5. The text mask: ours (default, A6 [P]) uses the image's own text only,
//!    `y_text = 0.3·σ(κ(Mₛ[b,b] − θ)) + 0.7·σ(Mₛ[b,b])` with κ = 10, θ = 0.25, upsampled
//!    (bilinear) to the image; the released form ([`TextMaskForm::Released`]) averages that map
//!    over every text of the batch after upsampling and applies σ again. PAMR (which the released
//!    code calls and then discards) is not implemented.
//! 6. For the fused pseudo label (A6 [P]) the text's logit is `z_text = κ(Mₛ[b,b] − θ)`.
//!
//! L_tg, which trains the decoder, is in `tg_loss.rs`.

use super::prompt_embedding::PromptEmbedding;
use crate::nets::l2_normalize;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{backend::Backend, Tensor};

/// Which text mask the generator gives (spec A6 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TextMaskForm {
    /// The image's own text, no outer sigmoid (A6 [P]).
    #[default]
    Ours,
    /// The released code: the mask of every text of the batch, averaged, then σ again.
    Released,
}

/// Configuration of [`TextMaskGenerator`] (spec A6; TCL's constants).
#[derive(Config, Debug)]
pub struct TextMaskConfig {
    /// Embedding width D of the pre-trained projection heads (128).
    pub dim: usize,
    /// κ and θ of the sharp ("kp") branch `σ(κ(M − θ))` and of the text logit (10, 0.25).
    #[config(default = 10.0)]
    pub kappa: f64,
    #[config(default = 0.25)]
    pub theta: f64,
    /// Weight of the sharp branch in the mask (0.3; the plain `σ(M)` gets the rest).
    #[config(default = 0.3)]
    pub sharp_weight: f64,
    /// Initial ℓ of L_tg's scale `s = min(e^ℓ, s_max)`: ln(1/0.07).
    #[config(default = 2.659260036932778)]
    pub logit_scale_init: f64,
    /// The cap s_max of the scale (100).
    #[config(default = 100.0)]
    pub max_scale: f64,
    /// Which vector of the prompt the dense features are compared with (`prompt_embedding.rs`).
    #[config(default = "PromptEmbedding::Global")]
    pub prompt: PromptEmbedding,
}

/// One ResConv-up block: `x = up2(x); x + tanh(γ)·Conv3×3(ReLU(x))`.
#[derive(Module, Debug)]
pub struct ResConvUp<B: Backend> {
    pub conv: Conv2d<B>,
    /// The gate γ (a scalar, 0 at initialisation).
    pub gate: Param<Tensor<B, 1>>,
}

/// The trainable part of the TMG: the decoder and L_tg's logit scale ℓ.
#[derive(Module, Debug)]
pub struct TextMaskGenerator<B: Backend> {
    pub up1: ResConvUp<B>,
    pub up2: ResConvUp<B>,
    /// ℓ of `s = min(e^ℓ, s_max)`.
    pub logit_scale: Param<Tensor<B, 1>>,
    pub kappa: f64,
    pub theta: f64,
    pub sharp_weight: f64,
    pub max_scale: f64,
    /// The text vector t of step 4 (a setting, not a weight).
    #[module(skip)]
    pub prompt: PromptEmbedding,
}

impl TextMaskConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> TextMaskGenerator<B> {
        let block = || ResConvUp {
            conv: Conv2dConfig::new([self.dim, self.dim], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            gate: Param::from_tensor(Tensor::zeros([1], device)),
        };
        TextMaskGenerator {
            up1: block(),
            up2: block(),
            logit_scale: Param::from_tensor(Tensor::from_floats(
                [self.logit_scale_init as f32],
                device,
            )),
            kappa: self.kappa,
            theta: self.theta,
            sharp_weight: self.sharp_weight,
            max_scale: self.max_scale,
            prompt: self.prompt,
        }
    }
}

/// Nearest upsampling by 2 (each pixel becomes a 2×2 block), `[B, C, H, W]` -> `[B, C, 2H, 2W]`.
pub fn up2_nearest<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    interpolate(
        x,
        [2 * h, 2 * w],
        InterpolateOptions::new(InterpolateMode::Nearest).with_align_corners(false),
    )
    .reshape([b, c, 2 * h, 2 * w])
}

/// Bilinear resize of `[B, C, h, w]` to `[B, C, H, W]` (PyTorch's `align_corners=False`).
pub fn resize_bilinear<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    interpolate(
        x,
        size,
        InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false),
    )
}

impl<B: Backend> ResConvUp<B> {
    /// `[B, D, h, w]` -> `[B, D, 2h, 2w]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = up2_nearest(x);
        let gate = self.gate.val().tanh().reshape([1, 1, 1, 1]);
        x.clone() + self.conv.forward(relu(x)) * gate
    }
}

impl<B: Backend> TextMaskGenerator<B> {
    /// Dense features V, unit vectors over channels: patches `[B, N, D]` of a g×g grid (N = g²)
    /// -> `[B, D, 4g, 4g]` (steps 1-3).
    pub fn dense(&self, patches: Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, n, d] = patches.dims();
        let g = (n as f64).sqrt().round() as usize;
        assert_eq!(g * g, n, "the patches must form a square grid");
        let x = patches.swap_dims(1, 2).reshape([b, d, g, g]);
        let x = self.up2.forward(self.up1.forward(x));
        let [_, _, h, w] = x.dims();
        // unit length over channels: as tokens [B, hw, D]
        let tokens = l2_normalize(x.reshape([b, d, h * w]).swap_dims(1, 2));
        tokens.swap_dims(1, 2).reshape([b, d, h, w])
    }

    /// L_tg's scale `s = min(e^ℓ, s_max)`, `[1]`.
    pub fn scale(&self) -> Tensor<B, 1> {
        self.logit_scale.val().exp().clamp_max(self.max_scale)
    }

    /// The text mask in [0, 1] at `size` (step 5). `v`: `[B, D, h, w]`; `texts`: `[B, D]` unit
    /// vectors, text b belonging to image b.
    pub fn text_mask(
        &self,
        v: Tensor<B, 4>,
        texts: Tensor<B, 2>,
        form: TextMaskForm,
        size: [usize; 2],
    ) -> Tensor<B, 4> {
        match form {
            TextMaskForm::Ours => resize_bilinear(self.mask_of(own_similarity(v, texts)), size),
            TextMaskForm::Released => {
                let m = resize_bilinear(self.mask_of(similarity(v, texts)), size);
                sigmoid(m.mean_dim(1))
            }
        }
    }

    /// `0.3·σ(κ(M − θ)) + 0.7·σ(M)`, element-wise.
    pub fn mask_of(&self, m: Tensor<B, 4>) -> Tensor<B, 4> {
        let sharp = sigmoid((m.clone() - self.theta) * self.kappa);
        sharp * self.sharp_weight + sigmoid(m) * (1.0 - self.sharp_weight)
    }

    /// The text's logit `z_text = κ(Mₛ[b,b] − θ)` at `size` (step 6), `[B, 1, H, W]`.
    pub fn text_logit(
        &self,
        v: Tensor<B, 4>,
        texts: Tensor<B, 2>,
        size: [usize; 2],
    ) -> Tensor<B, 4> {
        let m = resize_bilinear(own_similarity(v, texts), size);
        (m - self.theta) * self.kappa
    }
}

/// `Mₛ[b, n] = ⟨V_b, t_n⟩` for every image b and text n: `v [B, D, h, w]`, `texts [T, D]` ->
/// `[B, T, h, w]`.
pub fn similarity<B: Backend>(v: Tensor<B, 4>, texts: Tensor<B, 2>) -> Tensor<B, 4> {
    let [b, d, h, w] = v.dims();
    let t = texts.dims()[0];
    let sim = texts
        .unsqueeze::<3>()
        .expand([b, t, d])
        .matmul(v.reshape([b, d, h * w]));
    sim.reshape([b, t, h, w])
}

/// `Mₛ[b, b] = ⟨V_b, t_b⟩`: each image with its own text, `[B, 1, h, w]`.
pub fn own_similarity<B: Backend>(v: Tensor<B, 4>, texts: Tensor<B, 2>) -> Tensor<B, 4> {
    let [b, d, _, _] = v.dims();
    (v * texts.reshape([b, d, 1, 1])).sum_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type F = Flex;

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn vals<const D: usize>(t: Tensor<F, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// An untrained decoder (γ = 0) is nearest upsampling ×4 followed by L2 normalisation;
    /// the similarity and both mask forms against values computed here by hand loops.
    #[test]
    fn untrained_generator_against_hand_values() {
        let dev = Default::default();
        let tmg = TextMaskConfig::new(2).init::<F>(&dev);
        // 2 images, 4 patches (g = 2), D = 2
        let p: Vec<f32> = vec![
            3.0, 4.0, 1.0, 0.0, 0.0, -2.0, 1.0,
            1.0, // image 0: patches (0,0) (0,1) (1,0) (1,1)
            0.5, 0.5, -1.0, 2.0, 2.0, 0.0, 0.0, 1.0, // image 1
        ];
        let v = tmg.dense(Tensor::<F, 3>::from_data(
            TensorData::new(p.clone(), [2, 4, 2]),
            &dev,
        ));
        assert_eq!(v.dims(), [2, 2, 8, 8]);
        let unit = |b: usize, k: usize| {
            let (x, y) = (p[(b * 4 + k) * 2] as f64, p[(b * 4 + k) * 2 + 1] as f64);
            let n = (x * x + y * y).sqrt();
            [x / n, y / n]
        };
        let got = vals(v.clone());
        for b in 0..2 {
            for i in 0..8 {
                for j in 0..8 {
                    let want = unit(b, (i / 4) * 2 + j / 4);
                    for c in 0..2 {
                        let g = got[((b * 2 + c) * 8 + i) * 8 + j] as f64;
                        assert!((g - want[c]).abs() < 1e-6, "V[{b},{c},{i},{j}] = {g}");
                    }
                }
            }
        }
        // texts: unit vectors
        let t = [[0.6f64, 0.8], [1.0, 0.0]];
        let texts = Tensor::<F, 2>::from_data(
            TensorData::new(t.iter().flatten().map(|&x| x as f32).collect(), [2, 2]),
            &dev,
        );
        let m = vals(similarity(v.clone(), texts.clone()));
        let dot = |b: usize, n: usize, k: usize| {
            let u = unit(b, k);
            u[0] * t[n][0] + u[1] * t[n][1]
        };
        for b in 0..2 {
            for n in 0..2 {
                // pixel (1, 6) lies in patch (0, 1) = index 1
                let g = m[((b * 2 + n) * 8 + 1) * 8 + 6] as f64;
                assert!((g - dot(b, n, 1)).abs() < 1e-6);
            }
        }
        let own = vals(own_similarity(v.clone(), texts.clone()));
        assert!((own[(8 + 7) * 8] as f64 - dot(1, 1, 2)).abs() < 1e-6);
        let mask = |x: f64| 0.3 * sig(10.0 * (x - 0.25)) + 0.7 * sig(x);
        // at the model's own size, bilinear is the identity
        let ours = vals(tmg.text_mask(v.clone(), texts.clone(), TextMaskForm::Ours, [8, 8]));
        assert!((ours[8 * 8 + 7 * 8] as f64 - mask(dot(1, 1, 2))).abs() < 1e-6);
        let released =
            vals(tmg.text_mask(v.clone(), texts.clone(), TextMaskForm::Released, [8, 8]));
        let want = sig((mask(dot(1, 0, 2)) + mask(dot(1, 1, 2))) / 2.0);
        assert!((released[8 * 8 + 7 * 8] as f64 - want).abs() < 1e-6);
        let z = vals(tmg.text_logit(v, texts, [8, 8]));
        assert!((z[8 * 8 + 7 * 8] as f64 - 10.0 * (dot(1, 1, 2) - 0.25)).abs() < 1e-5);
        // s = 1/0.07 at initialisation, capped at 100
        assert!((vals(tmg.scale())[0] as f64 - 1.0 / 0.07).abs() < 1e-4);
    }

    /// The prompt setting is part of the generator, not of its weights: it survives `valid()`
    /// (training -> evaluation) and loading a record into a generator built from the config.
    #[test]
    fn the_prompt_setting_travels_with_the_generator() {
        use crate::amvlm::PromptEmbedding;
        use burn::backend::Autodiff;
        use burn::module::AutodiffModule;
        let dev = Default::default();
        let cfg = TextMaskConfig::new(2).with_prompt(PromptEmbedding::Words);
        let trained = cfg.init::<Autodiff<F>>(&dev);
        assert_eq!(trained.prompt, PromptEmbedding::Words);
        let inner = trained.valid();
        assert_eq!(inner.prompt, PromptEmbedding::Words);
        let loaded = cfg.init::<F>(&dev).load_record(inner.into_record());
        assert_eq!(loaded.prompt, PromptEmbedding::Words);
        assert_eq!(TextMaskConfig::new(2).prompt, PromptEmbedding::Global);
    }

    /// `up2_nearest` copies each pixel into a 2×2 block; bilinear resizing follows PyTorch's
    /// half-pixel rule (`F.interpolate(x, 4, mode="bilinear")` of [[0, 1], [2, 3]] gives the
    /// first row 0, 0.25, 0.75, 1).
    #[test]
    fn resampling() {
        let dev = Default::default();
        let x = Tensor::<F, 4>::from_data(
            TensorData::new(vec![0.0f32, 1., 2., 3.], [1, 1, 2, 2]),
            &dev,
        );
        assert_eq!(
            vals(up2_nearest(x.clone())),
            vec![0., 0., 1., 1., 0., 0., 1., 1., 2., 2., 3., 3., 2., 2., 3., 3.]
        );
        let r = vals(resize_bilinear(x, [4, 4]));
        for (g, w) in r[..4].iter().zip([0.0, 0.25, 0.75, 1.0]) {
            assert!((g - w).abs() < 1e-6, "{r:?}");
        }
    }
}
