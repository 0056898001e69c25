//! The Text Mask Generator (spec A6 "TMG", from TCL by way of AMVLM's `TextMask_generation.py`):
//! the frozen pre-trained encoders give the patch embeddings P `[B, N, D]` on a g×g grid and the
//! prompt's global embedding t `[B, D]`; the trainable part is a small decoder plus a logit scale.
//!
//! 1. P → `[B, D, g, g]`.
//! 2. Two ResConv-up blocks: `x = up2_nearest(x); x = x + tanh(γ)·Conv3×3(ReLU(x))`, γ a scalar
//!    initialised to 0 in A6 (so the untrained decoder is a plain nearest upsampling), no norm.
//! 3. V = the result `[B, D, 4g, 4g]`, L2-normalised over channels.
//! 4. `Mₛ[b, n] = ⟨V_b(h, w), t_n⟩` (`[B, B, 4g, 4g]`; [`similarity`]).
//! 5. The text mask: ours (default, A6 [P]) uses the image's own text only,
//!    `y_text = 0.3·σ(κ(Mₛ[b,b] − θ)) + 0.7·σ(Mₛ[b,b])` with κ = 10, θ = 0.25, upsampled
//!    (bilinear) to the image; the released form ([`TextMaskForm::Released`]) averages that map
//!    over every text of the batch after upsampling and applies σ again. PAMR (which the released
//!    code calls and then discards) is not implemented.
//! 6. For the fused pseudo label (A6 [P]) the text's logit is `z_text = κ(Mₛ[b,b] − θ)`.
//!
//! Our additions (spec A8, each off in A6's configuration, [`TextMaskConfig::grounded`] turns them
//! on), for a VLM whose cosines M sit near 0 and do not localise:
//! - **Calibrated text logit** ([`TextCalibration`]): `z = w·M + b₀` with w, b₀ learnable from
//!   TCL's `sim2mask` values (10, −2.5), or θ = the batch median of M with κ fixed.
//! - **Resolution**: the gates start at `gate_init` (so the decoder is used from the first step);
//!   the pixel coordinates enter the decoder before its second block (a zero-initialised 1×1
//!   convolution: texts name places); a text adapter `t' = L2n(t + A·t)` (A zero-initialised)
//!   lets the prompt's vector move; an image head at the image's own size ([`RefineHead`], a
//!   two-level convolutional net on the image and the coordinates whose features the prompt
//!   modulates) draws what the prompt names, the calibrated map says where the VLM's features
//!   agree with it: the text mask is their product, `p = σ(up(w·M + b₀))·σ(r)`, and
//!   `z_text = logit(p)`. It can draw structures smaller than a patch (nuclei). The head's last
//!   convolution starts at weight 0 and bias 4 (`σ(r) ≈ 0.98`: the mask starts as the calibrated
//!   map's) and its modulation at 0 (the prompt acts first through the map).
//! - **Trust** ρ ∈ [0, 1] (a stored scalar, 0 at the start, updated by the trainer from the text
//!   mask's Dice on labeled images): the fusion uses `ρ·z_text` ([`TextMaskGenerator::fusion`]).
//! - With a calibrated logit the text mask is `σ(z_text)`, the probability of that same logit.
//!
//! L_tg, which trains the decoder, is in `tg_loss.rs`; A8's grounding loss in `seg_step.rs`.

use super::prompt_embedding::PromptEmbedding;
use crate::nets::{conv2d, l2_normalize};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::module::{interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{backend::Backend, ElementConversion, Tensor, TensorData};

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

/// How the text's logit comes from the similarity M (A6 step 6; A8 "Calibrated text logit").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TextCalibration {
    /// A6: `κ(M − θ)`, κ = 10 and θ = 0.25 fixed.
    #[default]
    Fixed,
    /// A8 (ours): `w·M + b₀`, w and b₀ learnable, initialised to TCL's 10 and −2.5.
    Learned,
    /// A8 option: `κ(M − median(M))`, the median over the batch's maps, κ fixed.
    Median,
}

impl TextCalibration {
    pub fn name(self) -> &'static str {
        match self {
            TextCalibration::Fixed => "fixed",
            TextCalibration::Learned => "learned",
            TextCalibration::Median => "median",
        }
    }
}

/// Configuration of [`TextMaskGenerator`] (spec A6; TCL's constants; A8's additions off).
#[derive(Config, Debug, PartialEq)]
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
    /// The ResConv gates' initial γ (A6: 0; A8: where the decoder is used).
    #[config(default = 0.0)]
    pub gate_init: f64,
    /// How the text logit comes from M (A6: fixed κ, θ).
    #[config(default = "TextCalibration::Fixed")]
    pub calibration: TextCalibration,
    /// A8: the learnable adapter on the prompt's vector.
    #[config(default = false)]
    pub adapter: bool,
    /// A8: channels of the refinement head at the image's size (0: none).
    #[config(default = 0)]
    pub refine_width: usize,
    /// A8: the pixel coordinates as an input of the decoder.
    #[config(default = false)]
    pub coords: bool,
    /// A8: a stored trust ρ that scales the text logit in the fusion (absent: ρ = 1).
    #[config(default = false)]
    pub trust: bool,
}

impl TextMaskConfig {
    /// A8's generator (ours): gates at 0.5, the learned calibration, the adapter, a refinement
    /// head of 16 channels and the trust.
    pub fn grounded(self) -> Self {
        self.with_gate_init(0.5)
            .with_calibration(TextCalibration::Learned)
            .with_adapter(true)
            .with_refine_width(16)
            .with_coords(true)
            .with_trust(true)
    }

    /// Does the text mask come from the calibrated logit (`σ(z_text)`, A8) rather than A6's mix?
    pub fn calibrated(&self) -> bool {
        self.calibration != TextCalibration::Fixed
    }
}

/// One ResConv-up block: `x = up2(x); x + tanh(γ)·Conv3×3(ReLU(x))`.
#[derive(Module, Debug)]
pub struct ResConvUp<B: Backend> {
    pub conv: Conv2d<B>,
    /// The gate γ (a scalar, 0 at initialisation in A6).
    pub gate: Param<Tensor<B, 1>>,
}

/// A8's learned calibration `z = w·M + b₀`.
#[derive(Module, Debug)]
pub struct LogitCalibration<B: Backend> {
    /// w (10 at initialisation).
    pub weight: Param<Tensor<B, 1>>,
    /// b₀ (−2.5 at initialisation).
    pub bias: Param<Tensor<B, 1>>,
}

/// A8's image head, 3×3 convolutions (c channels) at the image's size and at half of it, on
/// `x = [image, coordinates]` (5 channels), its features modulated by the prompt (FiLM:
/// `F(x) = x ⊙ (1 + γ(t')) + β(t')`, γ and β linear in the prompt's vector t', zero at the start):
/// `a = R(F₁(C₁(R(C₀(x)))))`, `h = up(R(F₂(C₂(maxpool₂(a)))))`, `r = C₄(R(C₃([a, h])))` with
/// R = ReLU; C₄ starts at weight 0 and bias 4. Its receptive field (about 15 pixels) spans a
/// lesion of the synthetic radiographs; the full-size path draws a nucleus; the modulation lets
/// a phrase choose among what it finds by where it is ("lower left").
#[derive(Module, Debug)]
pub struct RefineHead<B: Backend> {
    /// C₀..C₄.
    pub convs: Vec<Conv2d<B>>,
    /// t' → (γ₁, β₁, γ₂, β₂), `[D] -> [4c]`, zero at initialisation.
    pub film: Linear<B>,
}

impl<B: Backend> RefineHead<B> {
    /// `image [B, 3, H, W]` and the prompt's vector `t [B, D]` -> the logit r `[B, 1, H, W]`.
    pub fn forward(&self, image: Tensor<B, 4>, t: Tensor<B, 2>) -> Tensor<B, 4> {
        let [b, _, h, w] = image.dims();
        let coords = coordinates::<B>(b, [h, w], &image.device());
        let c = |i: usize, x: Tensor<B, 4>| conv2d(&self.convs[i], x);
        let width = self.convs[0].weight.dims()[0];
        let film = self.film.forward(t).reshape([b, 4 * width, 1, 1]);
        let modulate = |x: Tensor<B, 4>, k: usize| {
            let gamma = film.clone().narrow(1, 2 * k * width, width);
            let beta = film.clone().narrow(1, (2 * k + 1) * width, width);
            x.clone() + x * gamma + beta
        };
        let x = Tensor::cat(vec![image, coords], 1);
        let a = relu(modulate(c(1, relu(c(0, x))), 0));
        let half = max_pool2d(a.clone(), [2, 2], [2, 2], [0, 0], [1, 1], true);
        let up = interpolate(
            relu(modulate(c(2, half), 1)),
            [h, w],
            InterpolateOptions::new(InterpolateMode::Nearest),
        );
        c(4, relu(c(3, Tensor::cat(vec![a, up], 1))))
    }
}

/// The initial bias of the image head's last convolution: `σ(4) ≈ 0.98`.
const IMAGE_HEAD_BIAS: f64 = 4.0;

/// The pixel coordinates `[B, 2, H, W]`: row and column, each from −1 to 1.
pub fn coordinates<B: Backend>(b: usize, [h, w]: [usize; 2], device: &B::Device) -> Tensor<B, 4> {
    let at = |i: usize, n: usize| match n {
        1 => 0.0,
        _ => 2.0 * i as f32 / (n - 1) as f32 - 1.0,
    };
    let mut v = Vec::with_capacity(b * 2 * h * w);
    for _ in 0..b {
        v.extend((0..h * w).map(|p| at(p / w, h)));
        v.extend((0..h * w).map(|p| at(p % w, w)));
    }
    Tensor::from_data(TensorData::new(v, [b, 2, h, w]), device)
}

/// The trainable part of the TMG: the decoder and L_tg's logit scale ℓ (A6), with A8's
/// additions where configured.
#[derive(Module, Debug)]
pub struct TextMaskGenerator<B: Backend> {
    pub up1: ResConvUp<B>,
    pub up2: ResConvUp<B>,
    /// ℓ of `s = min(e^ℓ, s_max)`.
    pub logit_scale: Param<Tensor<B, 1>>,
    /// A8: w and b₀ of the learned calibration.
    pub calibration: Option<LogitCalibration<B>>,
    /// A8: the prompt adapter A `[D, D]` (zero at initialisation).
    pub adapter: Option<Linear<B>>,
    /// A8: the refinement head at the image's size.
    pub refine: Option<RefineHead<B>>,
    /// A8: the coordinates' 1×1 convolution into the decoder (2 → D, zero at initialisation).
    pub coords: Option<Conv2d<B>>,
    /// A8: the trust ρ `[1]` (no gradient; the trainer sets it).
    pub trust: Option<Param<Tensor<B, 1>>>,
    pub kappa: f64,
    pub theta: f64,
    pub sharp_weight: f64,
    pub max_scale: f64,
    /// The text vector t of step 4 (a setting, not a weight).
    #[module(skip)]
    pub prompt: PromptEmbedding,
    /// How the text logit comes from M (a setting, not a weight).
    #[module(skip)]
    pub calibration_mode: TextCalibration,
}

impl TextMaskConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> TextMaskGenerator<B> {
        let block = || ResConvUp {
            conv: Conv2dConfig::new([self.dim, self.dim], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            gate: Param::from_tensor(Tensor::full([1], self.gate_init, device)),
        };
        let scalar = |v: f64| Param::from_tensor(Tensor::from_floats([v as f32], device));
        let refine = (self.refine_width > 0).then(|| {
            let c = self.refine_width;
            let conv = |cin: usize, cout: usize| {
                Conv2dConfig::new([cin, cout], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            };
            RefineHead {
                convs: vec![
                    conv(5, c).init(device),
                    conv(c, c).init(device),
                    conv(c, c).init(device),
                    conv(2 * c, c).init(device),
                    {
                        let mut last = conv(c, 1).with_initializer(Initializer::Zeros).init(device);
                        last.bias = Some(Param::from_tensor(Tensor::full(
                            [1],
                            IMAGE_HEAD_BIAS,
                            device,
                        )));
                        last
                    },
                ],
                film: LinearConfig::new(self.dim, 4 * c)
                    .with_initializer(Initializer::Zeros)
                    .init(device),
            }
        });
        TextMaskGenerator {
            up1: block(),
            up2: block(),
            logit_scale: scalar(self.logit_scale_init),
            calibration: (self.calibration == TextCalibration::Learned).then(|| LogitCalibration {
                weight: scalar(10.0),
                bias: scalar(-2.5),
            }),
            adapter: self.adapter.then(|| {
                LinearConfig::new(self.dim, self.dim)
                    .with_bias(false)
                    .with_initializer(Initializer::Zeros)
                    .init(device)
            }),
            refine,
            coords: self.coords.then(|| {
                Conv2dConfig::new([2, self.dim], [1, 1])
                    .with_initializer(Initializer::Zeros)
                    .init(device)
            }),
            trust: self
                .trust
                .then(|| Param::from_tensor(Tensor::zeros([1], device)).set_require_grad(false)),
            kappa: self.kappa,
            theta: self.theta,
            sharp_weight: self.sharp_weight,
            max_scale: self.max_scale,
            prompt: self.prompt,
            calibration_mode: self.calibration,
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
        x.clone() + conv2d(&self.conv, relu(x)) * gate
    }
}

/// The spatial size `[H, W]` of images `[B, C, H, W]`.
fn size_of<B: Backend>(images: &Tensor<B, 4>) -> [usize; 2] {
    let [_, _, h, w] = images.dims();
    [h, w]
}

impl<B: Backend> TextMaskGenerator<B> {
    /// Dense features V, unit vectors over channels: patches `[B, N, D]` of a g×g grid (N = g²)
    /// -> `[B, D, 4g, 4g]` (steps 1-3).
    pub fn dense(&self, patches: Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, n, d] = patches.dims();
        let g = (n as f64).sqrt().round() as usize;
        assert_eq!(g * g, n, "the patches must form a square grid");
        let x = patches.swap_dims(1, 2).reshape([b, d, g, g]);
        let mut x = self.up1.forward(x);
        if let Some(c) = &self.coords {
            let [_, _, h, w] = x.dims();
            let device = x.device();
            x = x + conv2d(c, coordinates::<B>(b, [h, w], &device));
        }
        let x = self.up2.forward(x);
        let [_, _, h, w] = x.dims();
        // unit length over channels: as tokens [B, hw, D]
        let tokens = l2_normalize(x.reshape([b, d, h * w]).swap_dims(1, 2));
        tokens.swap_dims(1, 2).reshape([b, d, h, w])
    }

    /// The prompt vectors the maps compare with: `t` `[B, D]` unit vectors, through the adapter
    /// when there is one (A8: `L2n(t + A·t)`), else unchanged.
    pub fn prompt_vectors(&self, texts: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.adapter {
            Some(a) => l2_normalize(texts.clone() + a.forward(texts)),
            None => texts,
        }
    }

    /// L_tg's scale `s = min(e^ℓ, s_max)`, `[1]`.
    pub fn scale(&self) -> Tensor<B, 1> {
        self.logit_scale.val().exp().clamp_max(self.max_scale)
    }

    /// Is the text mask the calibrated logit's probability (A8) rather than A6's mix?
    pub fn calibrated(&self) -> bool {
        self.calibration_mode != TextCalibration::Fixed
    }

    /// The text mask in [0, 1] at the size of `images` `[B, 3, H, W]` (step 5; with A8's
    /// calibration `σ(z_text)`). `v`: `[B, D, h, w]`; `texts`: `[B, D]` unit vectors, text b
    /// belonging to image b (before the adapter).
    pub fn text_mask(
        &self,
        v: Tensor<B, 4>,
        texts: Tensor<B, 2>,
        form: TextMaskForm,
        images: &Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        if self.calibrated() {
            return sigmoid(self.text_logit(v, texts, images));
        }
        let size = size_of(images);
        let texts = self.prompt_vectors(texts);
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

    /// The text's logit at the size of `images` `[B, 3, H, W]`, `[B, 1, H, W]`: A6's
    /// `κ(Mₛ[b,b] − θ)` (step 6), or A8's calibrated logit, refined at the image's size when the
    /// generator has the head.
    pub fn text_logit(
        &self,
        v: Tensor<B, 4>,
        texts: Tensor<B, 2>,
        images: &Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        let t = self.prompt_vectors(texts);
        let m = own_similarity(v, t.clone());
        let low = match (&self.calibration, self.calibration_mode) {
            // A8: w·M + b₀
            (Some(c), _) => {
                m * c.weight.val().reshape([1, 1, 1, 1]) + c.bias.val().reshape([1, 1, 1, 1])
            }
            // A8 option: κ(M − median of the batch's M)
            (None, TextCalibration::Median) => {
                let median = batch_median(m.clone().detach());
                (m - median) * self.kappa
            }
            // A6: κ(M − θ)
            _ => (m - self.theta) * self.kappa,
        };
        let z = resize_bilinear(low, size_of(images));
        match &self.refine {
            // logit(σ(z)·σ(r)), with log p ≤ log(1 − 10⁻⁶) so that log(1 − p) stays finite
            Some(head) => {
                let log_p = (log_sigmoid(z) + log_sigmoid(head.forward(images.clone(), t)))
                    .clamp_max(-1e-6);
                log_p.clone() - log_p.exp().neg().log1p()
            }
            None => z,
        }
    }

    /// The text's term of the fused logit `z_t + ρ·z_text` (A8's trust; A6: `z_text`).
    pub fn fusion(&self, z_text: Tensor<B, 4>) -> Tensor<B, 4> {
        match &self.trust {
            Some(rho) => z_text * rho.val().reshape([1, 1, 1, 1]),
            None => z_text,
        }
    }

    /// The trust ρ (1 without one).
    pub fn trust_value(&self) -> f64 {
        self.trust
            .as_ref()
            .map_or(1.0, |r| r.val().into_scalar().elem::<f64>())
    }

    /// Set the trust ρ (no effect without one).
    pub fn with_trust(mut self, rho: f64) -> Self {
        if let Some(p) = self.trust.take() {
            let device = p.val().device();
            let id = p.id;
            self.trust = Some(
                Param::initialized(id, Tensor::from_floats([rho as f32], &device))
                    .set_require_grad(false),
            );
        }
        self
    }
}

/// The median of every value of `m` (a scalar broadcast as `[1, 1, 1, 1]`): the lower middle
/// value of the sorted values.
fn batch_median<B: Backend>(m: Tensor<B, 4>) -> Tensor<B, 4> {
    let n = m.shape().num_elements();
    m.reshape([n])
        .sort(0)
        .narrow(0, (n - 1) / 2, 1)
        .reshape([1, 1, 1, 1])
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
        let img = Tensor::<F, 4>::zeros([2, 3, 8, 8], &dev);
        // at the model's own size, bilinear is the identity
        let ours = vals(tmg.text_mask(v.clone(), texts.clone(), TextMaskForm::Ours, &img));
        assert!((ours[8 * 8 + 7 * 8] as f64 - mask(dot(1, 1, 2))).abs() < 1e-6);
        let released = vals(tmg.text_mask(v.clone(), texts.clone(), TextMaskForm::Released, &img));
        let want = sig((mask(dot(1, 0, 2)) + mask(dot(1, 1, 2))) / 2.0);
        assert!((released[8 * 8 + 7 * 8] as f64 - want).abs() < 1e-6);
        let z = vals(tmg.text_logit(v, texts, &img));
        assert!((z[8 * 8 + 7 * 8] as f64 - 10.0 * (dot(1, 1, 2) - 0.25)).abs() < 1e-5);
        // s = 1/0.07 at initialisation, capped at 100
        assert!((vals(tmg.scale())[0] as f64 - 1.0 / 0.07).abs() < 1e-4);
    }

    /// A8's pieces against hand values: the learned calibration `w·M + b₀` at its start (10,
    /// −2.5), the median calibration `κ(M − median)`, the adapter at its start (the identity),
    /// the image head at its start (`r = 4` everywhere, so `z_text = logit(σ(z)·σ(4))`), the
    /// fusion `ρ·z_text` and the coordinates.
    #[test]
    fn a8_pieces_against_hand_values() {
        let dev = Default::default();
        // one image, D = 2, g = 1 (one patch, a 4×4 map), t at 0.6, 0.8
        let patches =
            Tensor::<F, 3>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 1, 2]), &dev);
        let texts = Tensor::<F, 2>::from_data(TensorData::new(vec![0.6f32, 0.8], [1, 2]), &dev);
        let img = Tensor::<F, 4>::zeros([1, 3, 4, 4], &dev);
        let m = 0.6 * 0.6 + 0.8 * 0.8; // the unit patch (0.6, 0.8) against t: 1
        let learned = TextMaskConfig::new(2)
            .with_calibration(TextCalibration::Learned)
            .init::<F>(&dev);
        let z = vals(learned.text_logit(learned.dense(patches.clone()), texts.clone(), &img));
        assert!(
            z.iter()
                .all(|&v| (v as f64 - (10.0 * m - 2.5)).abs() < 1e-5),
            "{z:?}"
        );
        assert!(learned.calibrated());
        let mask = vals(learned.text_mask(
            learned.dense(patches.clone()),
            texts.clone(),
            TextMaskForm::Ours,
            &img,
        ));
        assert!((mask[0] as f64 - sig(7.5)).abs() < 1e-6, "σ(z_text)");
        // the median of a batch of two maps: M = 1 (image 0) and 0.6 (image 1, patch (1, 0))
        let two = Tensor::<F, 3>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 1.0, 0.0], [2, 1, 2]),
            &dev,
        );
        let t2 =
            Tensor::<F, 2>::from_data(TensorData::new(vec![0.6f32, 0.8, 0.6, 0.8], [2, 2]), &dev);
        let median = TextMaskConfig::new(2)
            .with_calibration(TextCalibration::Median)
            .init::<F>(&dev);
        let img2 = Tensor::<F, 4>::zeros([2, 3, 4, 4], &dev);
        let z = vals(median.text_logit(median.dense(two), t2, &img2));
        // 32 values, 16 of 1 and 16 of 0.6: the lower middle one is 0.6
        assert!(
            (z[0] as f64 - 10.0 * (1.0 - 0.6)).abs() < 1e-5 && z[16].abs() < 1e-5,
            "{z:?}"
        );
        // the whole of A8 at its start (gates at 0 here, so V is the patch upsampled)
        let tmg = TextMaskConfig::new(2)
            .grounded()
            .with_gate_init(0.0)
            .init::<F>(&dev);
        assert!(tmg.adapter.is_some() && tmg.refine.is_some() && tmg.coords.is_some());
        let t = vals2(tmg.prompt_vectors(texts.clone()));
        assert!(
            (t[0] - 0.6).abs() < 1e-6 && (t[1] - 0.8).abs() < 1e-6,
            "the adapter starts at 0"
        );
        let low = 10.0 * m - 2.5;
        let want = {
            let p = sig(low) * sig(4.0);
            (p / (1.0 - p)).ln()
        };
        let z = vals(tmg.text_logit(tmg.dense(patches), texts, &img));
        assert!(
            z.iter().all(|&v| (v as f64 - want).abs() < 1e-4),
            "{z:?} vs {want}"
        );
        // the trust starts at 0; the fusion scales by it
        assert_eq!(tmg.trust_value(), 0.0);
        let zt = Tensor::<F, 4>::from_data(TensorData::new(vec![2.0f32, -4.0], [1, 1, 1, 2]), &dev);
        assert_eq!(vals(tmg.fusion(zt.clone())), vec![0.0, 0.0]);
        let tmg = tmg.with_trust(0.25);
        assert_eq!(vals(tmg.fusion(zt.clone())), vec![0.5, -1.0]);
        let a6 = TextMaskConfig::new(2).init::<F>(&dev);
        assert_eq!(
            (a6.trust_value(), vals(a6.fusion(zt))),
            (1.0, vec![2.0, -4.0])
        );
        // coordinates: rows then columns, −1 to 1
        let c = vals(coordinates::<F>(1, [3, 2], &dev));
        assert_eq!(c, vec![-1., -1., 0., 0., 1., 1., -1., 1., -1., 1., -1., 1.]);
    }

    fn vals2(t: Tensor<F, 2>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
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
