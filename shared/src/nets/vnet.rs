//! The V-Net of UA-MT / SSL4MIS (`networks/vnet.py`, n_filters 16, batch norm, has_dropout) with
//! DTC's tanh signed-distance head, exactly as spec B2 lays it out: plain conv blocks, strided
//! conv down, transposed conv up, *additive* skips, `Dropout3d` on x5 and x9.

use super::batch_norm::{BatchNorm, BatchNormConfig};
use super::conv::{conv3d, conv_transpose3d};
use super::dropout3d::{Dropout3d, Dropout3dConfig};
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::PaddingConfig3d;
use burn::tensor::{activation::relu, backend::Backend, Tensor};

/// Configuration of [`VNet`]; defaults are SimCVD's (spec B2).
#[derive(Config, Debug)]
pub struct VNetConfig {
    /// Input channels (1 for MRI/CT).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Segmentation classes K (2: background and foreground, softmax).
    #[config(default = 2)]
    pub n_classes: usize,
    /// Width of the first stage; the stages have 1x, 2x, 4x, 8x, 16x this (16 in the papers).
    #[config(default = 16)]
    pub n_filters: usize,
    /// Channel dropout probability on x5 and x9 (0.5); 0 disables it.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// Add the 1-channel tanh signed-distance head (DTC `vnet_sdf`, SimCVD B4).
    #[config(default = true)]
    pub sdm_head: bool,
}

/// Conv 3³ (pad 1, bias) -> BN -> ReLU, `n` times (spec B2 "ConvBlock").
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    convs: Vec<Conv3d<B>>,
    norms: Vec<BatchNorm<B>>,
}

/// Conv or transposed conv with kernel 2, stride 2 -> BN -> ReLU.
#[derive(Module, Debug)]
pub struct Resample<B: Backend> {
    down: Option<Conv3d<B>>,
    up: Option<ConvTranspose3d<B>>,
    norm: BatchNorm<B>,
}

/// The V-Net.
#[derive(Module, Debug)]
pub struct VNet<B: Backend> {
    block1: ConvBlock<B>,
    down1: Resample<B>,
    block2: ConvBlock<B>,
    down2: Resample<B>,
    block3: ConvBlock<B>,
    down3: Resample<B>,
    block4: ConvBlock<B>,
    down4: Resample<B>,
    block5: ConvBlock<B>,
    up5: Resample<B>,
    block6: ConvBlock<B>,
    up6: Resample<B>,
    block7: ConvBlock<B>,
    up7: Resample<B>,
    block8: ConvBlock<B>,
    up8: Resample<B>,
    block9: ConvBlock<B>,
    seg_head: Conv3d<B>,
    sdm_head: Option<Conv3d<B>>,
    dropout: Dropout3d,
}

/// What a forward pass gives.
#[derive(Debug, Clone)]
pub struct VNetOutput<B: Backend> {
    /// Segmentation logits `[B, K, X, Y, Z]`.
    pub seg: Tensor<B, 5>,
    /// Signed distance map in [-1, 1], `[B, 1, X, Y, Z]` (if the head exists).
    pub sdm: Option<Tensor<B, 5>>,
    /// Encoder output x5 after dropout, `[B, 16·n_filters, X/16, Y/16, Z/16]` (SimCVD's L_pd).
    pub features: Tensor<B, 5>,
}

fn block<B: Backend>(n: usize, cin: usize, cout: usize, device: &B::Device) -> ConvBlock<B> {
    let convs = (0..n)
        .map(|i| {
            Conv3dConfig::new([if i == 0 { cin } else { cout }, cout], [3, 3, 3])
                .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                .init(device)
        })
        .collect();
    let norms = (0..n)
        .map(|_| BatchNormConfig::new(cout).init(device))
        .collect();
    ConvBlock { convs, norms }
}

fn down<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Resample<B> {
    Resample {
        down: Some(
            Conv3dConfig::new([cin, cout], [2, 2, 2])
                .with_stride([2, 2, 2])
                .init(device),
        ),
        up: None,
        norm: BatchNormConfig::new(cout).init(device),
    }
}

fn up<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Resample<B> {
    Resample {
        down: None,
        up: Some(
            ConvTranspose3dConfig::new([cin, cout], [2, 2, 2])
                .with_stride([2, 2, 2])
                .init(device),
        ),
        norm: BatchNormConfig::new(cout).init(device),
    }
}

impl<B: Backend> ConvBlock<B> {
    fn forward(&self, mut x: Tensor<B, 5>) -> Tensor<B, 5> {
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = relu(norm.forward(conv3d(conv, x)));
        }
        x
    }
}

impl<B: Backend> Resample<B> {
    fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let x = match (&self.down, &self.up) {
            (Some(d), _) => conv3d(d, x),
            (None, Some(u)) => conv_transpose3d(u, x),
            (None, None) => x,
        };
        relu(self.norm.forward(x))
    }
}

impl VNetConfig {
    /// Build the network. Spatial input sizes must be multiples of 16.
    pub fn init<B: Backend>(&self, device: &B::Device) -> VNet<B> {
        let f = self.n_filters;
        VNet {
            block1: block(1, self.in_channels, f, device),
            down1: down(f, 2 * f, device),
            block2: block(2, 2 * f, 2 * f, device),
            down2: down(2 * f, 4 * f, device),
            block3: block(3, 4 * f, 4 * f, device),
            down3: down(4 * f, 8 * f, device),
            block4: block(3, 8 * f, 8 * f, device),
            down4: down(8 * f, 16 * f, device),
            block5: block(3, 16 * f, 16 * f, device),
            up5: up(16 * f, 8 * f, device),
            block6: block(3, 8 * f, 8 * f, device),
            up6: up(8 * f, 4 * f, device),
            block7: block(3, 4 * f, 4 * f, device),
            up7: up(4 * f, 2 * f, device),
            block8: block(2, 2 * f, 2 * f, device),
            up8: up(2 * f, f, device),
            block9: block(1, f, f, device),
            seg_head: Conv3dConfig::new([f, self.n_classes], [1, 1, 1]).init(device),
            sdm_head: self
                .sdm_head
                .then(|| Conv3dConfig::new([f, 1], [1, 1, 1]).init(device)),
            dropout: Dropout3dConfig::new(self.dropout).init(),
        }
    }
}

impl<B: Backend> VNet<B> {
    /// `x`: `[B, C, X, Y, Z]` with X, Y, Z multiples of 16 -> logits, SDM and x5 features.
    pub fn forward(&self, x: Tensor<B, 5>) -> VNetOutput<B> {
        self.forward_observed(x, &mut |_| {})
    }

    /// [`VNet::forward`], calling `observe` with each stage output x1..x9 in order (for checks).
    pub fn forward_observed(
        &self,
        x: Tensor<B, 5>,
        observe: &mut dyn FnMut(&Tensor<B, 5>),
    ) -> VNetOutput<B> {
        let mut seen = |t: Tensor<B, 5>| {
            observe(&t);
            t
        };
        let x1 = seen(self.block1.forward(x));
        let x2 = seen(self.block2.forward(self.down1.forward(x1.clone())));
        let x3 = seen(self.block3.forward(self.down2.forward(x2.clone())));
        let x4 = seen(self.block4.forward(self.down3.forward(x3.clone())));
        let x5 = seen(
            self.dropout
                .forward(self.block5.forward(self.down4.forward(x4.clone()))),
        );
        let x6 = seen(self.block6.forward(self.up5.forward(x5.clone()) + x4));
        let x7 = seen(self.block7.forward(self.up6.forward(x6) + x3));
        let x8 = seen(self.block8.forward(self.up7.forward(x7) + x2));
        let x9 = seen(
            self.dropout
                .forward(self.block9.forward(self.up8.forward(x8) + x1)),
        );
        VNetOutput {
            seg: conv3d(&self.seg_head, x9.clone()),
            sdm: self.sdm_head.as_ref().map(|h| conv3d(h, x9).tanh()),
            features: x5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    /// BatchNorm channels of the V-Net with n_filters f (each has a running mean and variance,
    /// which burn's `num_params` counts and PyTorch's `parameters()` does not).
    fn bn_channels(f: usize) -> usize {
        f + 2 * f
            + 2 * 2 * f
            + 4 * f
            + 3 * 4 * f
            + 8 * f
            + 3 * 8 * f
            + 16 * f
            + 3 * 16 * f
            + 8 * f
            + 3 * 8 * f
            + 4 * f
            + 3 * 4 * f
            + 2 * f
            + 2 * 2 * f
            + f
            + f
    }

    #[test]
    fn parameter_count_is_the_papers() {
        let dev = Default::default();
        let net: VNet<Flex> = VNetConfig::new().with_sdm_head(false).init(&dev);
        // spec B2: 9,448,866 parameters with K = 2 (PyTorch count, no BN buffers)
        assert_eq!(net.num_params() - 2 * bn_channels(16), 9_448_866);
        let net: VNet<Flex> = VNetConfig::new().init(&dev);
        assert_eq!(net.num_params() - 2 * bn_channels(16), 9_448_866 + 17);
    }

    #[test]
    fn stage_shapes_follow_the_spec_table() {
        // the spec's table for 112x112x80, at n_filters 2 to keep the test small
        let dev = Default::default();
        let f = 2;
        let net: VNet<Flex> = VNetConfig::new().with_n_filters(f).init(&dev);
        let x = Tensor::<Flex, 5>::zeros([1, 1, 112, 112, 80], &dev);
        let mut s = Vec::new();
        let out = net.forward_observed(x, &mut |t| s.push(t.dims()));
        assert_eq!(s[0], [1, f, 112, 112, 80]);
        assert_eq!(s[1], [1, 2 * f, 56, 56, 40]);
        assert_eq!(s[2], [1, 4 * f, 28, 28, 20]);
        assert_eq!(s[3], [1, 8 * f, 14, 14, 10]);
        assert_eq!(s[4], [1, 16 * f, 7, 7, 5]);
        assert_eq!(s[5], [1, 8 * f, 14, 14, 10]);
        assert_eq!(s[6], [1, 4 * f, 28, 28, 20]);
        assert_eq!(s[7], [1, 2 * f, 56, 56, 40]);
        assert_eq!(s[8], [1, f, 112, 112, 80]);
        assert_eq!(out.seg.dims(), [1, 2, 112, 112, 80]);
        assert_eq!(out.sdm.unwrap().dims(), [1, 1, 112, 112, 80]);
        assert_eq!(out.features.dims(), [1, 16 * f, 7, 7, 5]);
    }
}
