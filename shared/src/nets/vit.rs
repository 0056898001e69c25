//! The image encoder E_v (spec A2): a BLIP/DeiT-style Vision Transformer. Patch embedding by a
//! strided convolution, a learned CLS token and position embedding, pre-LayerNorm blocks, a final
//! LayerNorm. The last block's attention is returned so that AMVLM can weight patches by the
//! CLS→patch attention (A5 L_CSS patch side).

use super::attention::{AttentionOutput, SelfAttention, SelfAttentionConfig};
use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{activation::gelu, backend::Backend, Tensor};

/// Configuration of [`Vit`]. Defaults are the paper's ViT-B/16 at 224×224 (spec A2).
#[derive(Config, Debug)]
pub struct VitConfig {
    /// Side of the (square) input image in pixels.
    #[config(default = 224)]
    pub image_size: usize,
    /// Side of a patch in pixels.
    #[config(default = 16)]
    pub patch_size: usize,
    /// Input channels (RGB).
    #[config(default = 3)]
    pub channels: usize,
    /// Token width.
    #[config(default = 768)]
    pub width: usize,
    /// Number of transformer blocks.
    #[config(default = 12)]
    pub depth: usize,
    /// Attention heads per block.
    #[config(default = 12)]
    pub heads: usize,
    /// Hidden width of each block's MLP.
    #[config(default = 3072)]
    pub mlp_width: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-6)]
    pub layer_norm_eps: f64,
}

impl VitConfig {
    /// The paper's ViT-B/16 (86 M parameters).
    pub fn base() -> Self {
        Self::new()
    }

    /// A tiny ViT for tests, CPU runs and the browser.
    pub fn tiny(image_size: usize, patch_size: usize) -> Self {
        Self::new()
            .with_image_size(image_size)
            .with_patch_size(patch_size)
            .with_width(64)
            .with_depth(2)
            .with_heads(4)
            .with_mlp_width(128)
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Number of patch tokens (196 for ViT-B/16 at 224).
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Vit<B> {
        assert!(
            self.image_size.is_multiple_of(self.patch_size),
            "image size must be a multiple of the patch size"
        );
        let small = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        Vit {
            patch_embed: Conv2dConfig::new(
                [self.channels, self.width],
                [self.patch_size, self.patch_size],
            )
            .with_stride([self.patch_size, self.patch_size])
            .init(device),
            cls_token: small.init([1, 1, self.width], device),
            pos_embed: small.init([1, self.num_patches() + 1, self.width], device),
            blocks: (0..self.depth)
                .map(|_| VitBlock {
                    norm1: LayerNormConfig::new(self.width)
                        .with_epsilon(self.layer_norm_eps)
                        .init(device),
                    attn: SelfAttentionConfig::new(self.width, self.heads).init(device),
                    norm2: LayerNormConfig::new(self.width)
                        .with_epsilon(self.layer_norm_eps)
                        .init(device),
                    fc1: LinearConfig::new(self.width, self.mlp_width).init(device),
                    fc2: LinearConfig::new(self.mlp_width, self.width).init(device),
                })
                .collect(),
            norm: LayerNormConfig::new(self.width)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
        }
    }
}

/// One pre-LN transformer block: `x + attn(LN(x))`, then `x + MLP(LN(x))`.
#[derive(Module, Debug)]
pub struct VitBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: SelfAttention<B>,
    pub norm2: LayerNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

impl<B: Backend> VitBlock<B> {
    fn forward(&self, x: Tensor<B, 3>) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let AttentionOutput { context, probs } =
            self.attn.forward(self.norm1.forward(x.clone()), None);
        let x = x + context;
        let h = self
            .fc2
            .forward(gelu(self.fc1.forward(self.norm2.forward(x.clone()))));
        (x + h, probs)
    }
}

/// The Vision Transformer.
#[derive(Module, Debug)]
pub struct Vit<B: Backend> {
    pub patch_embed: Conv2d<B>,
    pub cls_token: Param<Tensor<B, 3>>,
    pub pos_embed: Param<Tensor<B, 3>>,
    pub blocks: Vec<VitBlock<B>>,
    pub norm: LayerNorm<B>,
}

/// What [`Vit::forward`] returns.
pub struct VitOutput<B: Backend> {
    /// CLS token `f_v`, `[B, width]`.
    pub cls: Tensor<B, 2>,
    /// Patch tokens `F_p`, `[B, N, width]` in row-major patch order.
    pub patches: Tensor<B, 3>,
    /// Last block's CLS→patch attention averaged over heads, `[B, N]`.
    pub cls_attention: Tensor<B, 2>,
}

impl<B: Backend> Vit<B> {
    /// `images`: `[B, C, S, S]` with `S = image_size`.
    pub fn forward(&self, images: Tensor<B, 4>) -> VitOutput<B> {
        let x = super::conv::conv2d(&self.patch_embed, images); // [B, W, g, g]
        let [b, w, gh, gw] = x.dims();
        let n = gh * gw;
        let x = x.reshape([b, w, n]).swap_dims(1, 2);
        let cls = self.cls_token.val().expand([b, 1, w]);
        let mut x = Tensor::cat(vec![cls, x], 1) + self.pos_embed.val();
        let mut last = None;
        for block in &self.blocks {
            let (y, probs) = block.forward(x);
            x = y;
            last = Some(probs);
        }
        let x = self.norm.forward(x);
        let probs = last.expect("a ViT has at least one block");
        let heads = probs.dims()[1];
        let cls_attention = probs
            .slice([0..b, 0..heads, 0..1, 1..n + 1])
            .mean_dim(1)
            .reshape([b, n]);
        VitOutput {
            cls: x.clone().slice([0..b, 0..1, 0..w]).reshape([b, w]),
            patches: x.slice([0..b, 1..n + 1, 0..w]),
            cls_attention,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    #[test]
    fn base_has_vit_b16_parameter_count() {
        // ViT-B/16 without a classifier: 85,798,656 parameters (timm `vit_base_patch16_224`,
        // num_classes=0).
        let vit = VitConfig::base().init::<B>(&Default::default());
        assert_eq!(vit.num_params(), 85_798_656);
    }

    #[test]
    fn shapes_and_attention_rows() {
        let cfg = VitConfig::tiny(32, 8);
        let dev = Default::default();
        let vit = cfg.init::<B>(&dev);
        let x = Tensor::<B, 4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &dev);
        let out = vit.forward(x);
        assert_eq!(out.cls.dims(), [2, 64]);
        assert_eq!(out.patches.dims(), [2, 16, 64]);
        assert_eq!(out.cls_attention.dims(), [2, 16]);
        // CLS→patch weights are probabilities that leave out only the CLS→CLS entry.
        let sums = out
            .cls_attention
            .sum_dim(1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| *s > 0.0 && *s < 1.0));
    }
}
