//! LViT's `UNet(n_channels=3, n_classes=1)` (`utils/UNet.py`), the student and teacher of AMVLM's
//! text-guided segmentation, exactly as spec A6 lays it out: `inc` conv 3×3-BN-ReLU 3→64; four
//! downs (max-pool 2, then two conv-BN-ReLU) 64→128→256→512→512; four ups (transposed conv 2×2
//! stride 2 C/2→C/2, concatenate the skip, two conv-BN-ReLU) 1024→256→128→64→64; a 1×1 conv.
//! 14,751,873 parameters at width 64 (DuSSS's 14.75M); the width is configurable for tests and
//! the browser. The forward pass returns the logit; `sigmoid` of it is LViT's output.

use super::batch_norm::{BatchNorm, BatchNormConfig};
use super::conv::{conv2d, conv_transpose2d};
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::{activation::relu, backend::Backend, Tensor};

/// Configuration of [`UNet2d`]; defaults are LViT's (spec A6).
#[derive(Config, Debug)]
pub struct UNet2dConfig {
    /// Input channels (3: images are read as RGB, A1).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Output channels (1: a foreground logit).
    #[config(default = 1)]
    pub n_classes: usize,
    /// Width of the first stage (64); the stages have 1x, 2x, 4x, 8x, 8x this.
    #[config(default = 64)]
    pub width: usize,
}

/// `n` × (conv 3×3 pad 1 with bias → BN → ReLU), LViT's `_make_nConv` of `ConvBatchNorm`s.
#[derive(Module, Debug)]
pub struct ConvStack<B: Backend> {
    convs: Vec<Conv2d<B>>,
    norms: Vec<BatchNorm<B>>,
}

/// LViT's `UpBlock`: transposed conv 2×2 stride 2 (C/2 → C/2), concatenate the skip, two convs.
#[derive(Module, Debug)]
pub struct UpBlock<B: Backend> {
    up: ConvTranspose2d<B>,
    convs: ConvStack<B>,
}

/// The UNet.
#[derive(Module, Debug)]
pub struct UNet2d<B: Backend> {
    inc: ConvStack<B>,
    down1: ConvStack<B>,
    down2: ConvStack<B>,
    down3: ConvStack<B>,
    down4: ConvStack<B>,
    pool: MaxPool2d,
    up4: UpBlock<B>,
    up3: UpBlock<B>,
    up2: UpBlock<B>,
    up1: UpBlock<B>,
    outc: Conv2d<B>,
}

fn stack<B: Backend>(n: usize, cin: usize, cout: usize, device: &B::Device) -> ConvStack<B> {
    ConvStack {
        convs: (0..n)
            .map(|i| {
                Conv2dConfig::new([if i == 0 { cin } else { cout }, cout], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect(),
        norms: (0..n)
            .map(|_| BatchNormConfig::new(cout).init(device))
            .collect(),
    }
}

fn up_block<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> UpBlock<B> {
    UpBlock {
        up: ConvTranspose2dConfig::new([cin / 2, cin / 2], [2, 2])
            .with_stride([2, 2])
            .init(device),
        convs: stack(2, cin, cout, device),
    }
}

impl UNet2dConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> UNet2d<B> {
        let w = self.width;
        UNet2d {
            inc: stack(1, self.in_channels, w, device),
            down1: stack(2, w, 2 * w, device),
            down2: stack(2, 2 * w, 4 * w, device),
            down3: stack(2, 4 * w, 8 * w, device),
            down4: stack(2, 8 * w, 8 * w, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            up4: up_block(16 * w, 4 * w, device),
            up3: up_block(8 * w, 2 * w, device),
            up2: up_block(4 * w, w, device),
            up1: up_block(2 * w, w, device),
            outc: Conv2dConfig::new([w, self.n_classes], [1, 1]).init(device),
        }
    }
}

impl<B: Backend> ConvStack<B> {
    fn forward(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = relu(norm.forward(conv2d(conv, x)));
        }
        x
    }
}

impl<B: Backend> UpBlock<B> {
    fn forward(&self, x: Tensor<B, 4>, skip: Tensor<B, 4>) -> Tensor<B, 4> {
        self.convs
            .forward(Tensor::cat(vec![conv_transpose2d(&self.up, x), skip], 1))
    }
}

impl<B: Backend> UNet2d<B> {
    /// `x`: `[B, C, H, W]` with H and W multiples of 16 -> logits `[B, n_classes, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x1 = self.inc.forward(x);
        let x2 = self.down1.forward(self.pool.forward(x1.clone()));
        let x3 = self.down2.forward(self.pool.forward(x2.clone()));
        let x4 = self.down3.forward(self.pool.forward(x3.clone()));
        let x5 = self.down4.forward(self.pool.forward(x4.clone()));
        let x = self.up4.forward(x5, x4);
        let x = self.up3.forward(x, x3);
        let x = self.up2.forward(x, x2);
        let x = self.up1.forward(x, x1);
        conv2d(&self.outc, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    /// Trainable parameters (burn's `num_params` also counts BatchNorm's running statistics).
    fn trainable<M: Module<Autodiff<Flex>>>(m: &M) -> usize {
        struct Count(usize);
        impl burn::module::ModuleVisitor<Autodiff<Flex>> for Count {
            fn visit_float<const D: usize>(
                &mut self,
                p: &burn::module::Param<Tensor<Autodiff<Flex>, D>>,
            ) {
                if p.val().is_require_grad() {
                    self.0 += p.shape().num_elements();
                }
            }
        }
        let mut c = Count(0);
        m.visit(&mut c);
        c.0
    }

    /// The paper-size net has LViT's 14,751,873 parameters (spec A6; by hand in the spec's
    /// layer list: inc 1,920; downs 221,952 + 886,272 + 3,542,016 + 4,721,664; ups 3,999,744 +
    /// 1,000,448 + 250,368 + 127,424; outc 65).
    #[test]
    fn paper_size_parameter_count() {
        let net: UNet2d<Autodiff<Flex>> = UNet2dConfig::new().init(&Default::default());
        assert_eq!(trainable(&net), 14_751_873);
        assert_eq!(trainable(&net.inc), 1_920);
        assert_eq!(trainable(&net.down4), 4_721_664);
        assert_eq!(trainable(&net.up4), 3_999_744);
        // plus the running mean and variance of the 3,904 normalised channels
        assert_eq!(net.num_params(), 14_751_873 + 2 * 3_904);
    }

    #[test]
    fn shapes_at_a_small_width() {
        let dev = Default::default();
        let net: UNet2d<Flex> = UNet2dConfig::new().with_width(4).init(&dev);
        let x = Tensor::<Flex, 4>::random([2, 3, 32, 48], Distribution::Default, &dev);
        assert_eq!(net.forward(x).dims(), [2, 1, 32, 48]);
    }
}
