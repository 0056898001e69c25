//! How much memory the page's worker needs to segment a 2D image with a text-guided bundle (spec
//! A6 at test time), estimated before running so that a model or an image too large for the
//! browser gets a message instead of a crash (the wasm CPU backend has at most 4 GiB, WebGPU a
//! per-buffer limit). The 3D counterpart is [`super::InferenceMemory`].
//!
//! The worker's wasm memory only grows, so what it needs is its high-water mark over loading the
//! bundle, reading the image at its own size (before it is resized to the model's input) and the
//! forward pass at the model's input size. The image's buffers are freed before the forward pass,
//! which reuses their space, so the estimate takes the larger of the two; but it adds that to
//! loading instead of counting only the loaded model beside it, because the allocator cannot
//! always put the image's large buffers into the space the loading freed (measured: a 37.6
//! M-parameter bundle and a 4096² RGB image needed 716 MiB, more than loading alone, 527, or the
//! model beside reading the image, 520). The counts are an upper bound of what the page's worker
//! was measured to use on the wasm CPU backend, by 1.1 to 1.9 times (docs/benchmarks.md, "Memory
//! of the page's 2D worker").

use super::bundle::{Image2dCard, Precision};

/// The wasm module's own memory: its data, stack and the allocator's first pages (measured: the
/// whole worker holds 22 MiB after a 64 x 64 image with the shipped 2.7 MB model).
const RUNTIME_BYTES: u64 = 16 << 20;

/// Copies of the bundle's bytes alive while it loads: the file as the worker passes it in, the
/// weights cut out of it, and the copy the record reader consumes.
const LOAD_BUNDLE_COPIES: u64 = 3;

/// f32 copies of the parameters alive while the record loads: the freshly initialised model and
/// the loaded one (the record's own values are in the bundle's precision, counted apart).
const LOAD_PARAM_COPIES: u64 = 2;

/// Input-sized f32 tensors with the UNet's width of channels alive at once in its forward pass:
/// the first stage's skip, the decoder's upsampled input and the concatenation (two widths), a
/// convolution's output beside its batch norm's and activation's, and the convolution's unfolded
/// input tile. Fitted: a 448 x 448 model with a width-64 UNet and a 32-wide TMG took 554 MiB, of
/// which about 480 the forward pass (docs/benchmarks.md).
const UNET_FEATURE_TENSORS: u64 = 9;

/// Input-sized f32 tensors of the TMG's embedding width: the second ResConv-up block's input,
/// output and residual, and the normalised dense features V.
const TMG_FEATURE_TENSORS: u64 = 4;

/// A 2D image file as the page opened it (its header and decoded type): what reading it at its
/// own size costs before the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFile {
    pub width: usize,
    pub height: usize,
    /// 1 (grey) or 3 (colour).
    pub channels: usize,
    /// Bits of each sample: 8, 16 or 32 (floats).
    pub bits: u16,
    pub dicom: bool,
    /// The file's length in bytes.
    pub file_len: usize,
}

impl ImageFile {
    /// Bytes per pixel alive while the image is read and converted for resizing
    /// (`Image2d::from_bytes`): the decoded pixels (an alpha channel counted for colour), their
    /// 8-bit RGB copy (8-bit files) and the f32 RGB the resize reads; for DICOM the pixel data
    /// as stored and decoded, its f32 values, the 8-bit windowed copy and its f32 copy.
    pub fn working_bytes_per_pixel(&self) -> u64 {
        let c = self.channels.max(1) as u64;
        let sample = (self.bits as u64).div_ceil(8).max(1);
        if self.dicom {
            return 2 * c * sample + 4 * c + c + 4 * c;
        }
        let decoded = if c == 1 { 2 } else { 4 } * sample;
        match sample {
            1 => decoded + 3 + 12,
            _ => decoded + 12,
        }
    }

    /// Everything reading the image holds at once: the file (twice for DICOM, whose parser keeps
    /// its own copy) and the working pixels.
    pub fn read_bytes(&self) -> u64 {
        let files = if self.dicom { 2 } else { 1 };
        files * self.file_len as u64
            + (self.width as u64 * self.height as u64) * self.working_bytes_per_pixel()
    }
}

/// Estimated memory of text-guided inference on one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextGuidedMemory {
    /// Loading the bundle: [`LOAD_BUNDLE_COPIES`] of its bytes and [`LOAD_PARAM_COPIES`] f32
    /// copies of the parameters.
    pub load_bytes: u64,
    /// Reading the image at its own size ([`ImageFile::read_bytes`]).
    pub image_bytes: u64,
    /// One forward pass at the model's input size: the UNet's and the TMG's input-sized
    /// activations, the ViT's tokens (its MLP's hidden layer) and one layer's attention scores.
    pub forward_bytes: u64,
    /// The largest single tensor (a weight or an activation): what a GPU buffer must hold.
    pub largest_tensor_bytes: u64,
}

impl TextGuidedMemory {
    /// The estimate for a bundle of `bundle_len` bytes whose card is `card` (weights of
    /// `weights_len` bytes in `precision`) and an image `image`.
    pub fn estimate(
        card: &Image2dCard,
        precision: Precision,
        weights_len: usize,
        bundle_len: usize,
        image: &ImageFile,
    ) -> Self {
        let v = &card.vlm;
        // the weights are a MessagePack record: its values dominate (names and shapes add well
        // under 1%), so their length over the value size bounds the parameter count
        let value_bytes = match precision {
            Precision::F16 => 2,
            Precision::F32 => 4,
        };
        let params = weights_len as u64 / value_bytes;
        let pixels = (v.image_size * v.image_size) as u64;
        let tokens = ((v.image_size / v.patch_size.max(1)).pow(2) + 1) as u64;
        let unet = UNET_FEATURE_TENSORS * card.unet_width as u64 * pixels * 4;
        let tmg = match card.has_tmg {
            true => TMG_FEATURE_TENSORS * v.embed_dim as u64 * pixels * 4,
            false => 0,
        };
        let vit = (tokens * (v.vit_mlp + 3 * v.vit_width) as u64
            + v.vit_heads as u64 * tokens * tokens)
            * 4;
        let vocab = card.vocab.lines().count() as u64;
        let largest_weight = (vocab * v.text_width as u64)
            .max(v.vit_width as u64 * v.vit_mlp as u64)
            .max(64 * card.unet_width.pow(2) as u64 * 9)
            * 4;
        let largest_activation = [
            2 * card.unet_width as u64 * pixels,
            v.embed_dim as u64 * pixels,
            v.vit_heads as u64 * tokens * tokens,
            tokens * v.vit_mlp as u64,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
            * 4;
        TextGuidedMemory {
            load_bytes: LOAD_BUNDLE_COPIES * bundle_len as u64 + LOAD_PARAM_COPIES * 4 * params,
            image_bytes: image.read_bytes(),
            forward_bytes: unet + tmg + vit,
            largest_tensor_bytes: largest_weight.max(largest_activation),
        }
    }

    /// What the CPU backend needs in all: loading, then the larger of reading the image and the
    /// forward pass (module docs: the allocator does not always reuse what loading freed).
    pub fn cpu_bytes(&self) -> u64 {
        RUNTIME_BYTES + self.load_bytes + self.image_bytes.max(self.forward_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amvlm::{AmvlmConfig, PromptEmbedding, TextMaskForm};

    /// A card with these encoder sizes, a vocabulary of `vocab` words and a UNet of `unet` width.
    #[allow(clippy::too_many_arguments)]
    fn card(
        image: usize,
        patch: usize,
        vit: (usize, usize, usize),
        text_width: usize,
        embed: usize,
        unet: usize,
        vocab: usize,
    ) -> Image2dCard {
        let vlm = AmvlmConfig {
            image_size: image,
            patch_size: patch,
            vit_width: vit.0,
            vit_heads: vit.1,
            vit_mlp: vit.2,
            text_width,
            embed_dim: embed,
            ..AmvlmConfig::tiny()
        };
        Image2dCard {
            vlm,
            vocab: (0..vocab).map(|i| format!("w{i}\n")).collect(),
            unet_width: unet,
            has_tmg: true,
            text_mask: TextMaskForm::Ours,
            prompt_embedding: PromptEmbedding::Global,
            kappa: 10.0,
            theta: 0.25,
            metrics: None,
        }
    }

    fn png(width: usize, channels: usize, bits: u16, file_len: usize) -> ImageFile {
        ImageFile {
            width,
            height: width,
            channels,
            bits,
            dicom: false,
            file_len,
        }
    }

    #[test]
    fn working_bytes_per_pixel_by_hand() {
        // 8-bit: decoded (grey+alpha 2, colour+alpha 4) + RGB8 3 + f32 RGB 12
        assert_eq!(png(1, 1, 8, 0).working_bytes_per_pixel(), 17);
        assert_eq!(png(1, 3, 8, 0).working_bytes_per_pixel(), 19);
        // 16-bit: decoded (4 or 8) + f32 RGB 12; 32-bit floats: 8 or 16 + 12
        assert_eq!(png(1, 1, 16, 0).working_bytes_per_pixel(), 16);
        assert_eq!(png(1, 3, 16, 0).working_bytes_per_pixel(), 20);
        assert_eq!(png(1, 3, 32, 0).working_bytes_per_pixel(), 28);
        // DICOM, 12 bits stored in 2 bytes, grey: stored 2 + decoded 2 + f32 4 + 8-bit 1 + f32 4
        let ct = ImageFile {
            dicom: true,
            ..png(10, 1, 12, 500)
        };
        assert_eq!(ct.working_bytes_per_pixel(), 13);
        assert_eq!(ct.read_bytes(), 2 * 500 + 100 * 13);
        assert_eq!(png(10, 1, 8, 300).read_bytes(), 300 + 100 * 17);
    }

    #[test]
    fn estimate_by_hand() {
        // 32 x 32 input, 16-pixel patches (5 tokens), ViT 8 wide, 2 heads, MLP 16; text 8 wide;
        // D = 4; UNet 2 wide; 10 words. f16 weights of 2000 bytes: 1000 parameters.
        let c = card(32, 16, (8, 2, 16), 8, 4, 2, 10);
        let img = png(4, 1, 8, 50);
        let m = TextGuidedMemory::estimate(&c, Precision::F16, 2000, 2100, &img);
        assert_eq!(m.load_bytes, 3 * 2100 + 2 * 4 * 1000);
        assert_eq!(m.image_bytes, 50 + 16 * 17);
        let pixels = 32 * 32;
        let unet = 9 * 2 * pixels * 4;
        let tmg = 4 * 4 * pixels * 4;
        let vit = (5 * (16 + 3 * 8) + 2 * 5 * 5) * 4;
        assert_eq!(m.forward_bytes, unet + tmg + vit);
        // the largest tensor: the UNet's concatenation, 2 x 2 channels x 1024 pixels
        assert_eq!(m.largest_tensor_bytes, 2 * 2 * pixels * 4);
        assert_eq!(
            m.cpu_bytes(),
            (16 << 20) + m.load_bytes + m.image_bytes.max(m.forward_bytes)
        );
        // f32 weights hold half as many parameters per byte; a baseline has no TMG
        let f32 = TextGuidedMemory::estimate(&c, Precision::F32, 2000, 2100, &img);
        assert_eq!(f32.load_bytes, 3 * 2100 + 2 * 4 * 500);
        let base = TextGuidedMemory::estimate(
            &Image2dCard {
                has_tmg: false,
                ..c.clone()
            },
            Precision::F16,
            2000,
            2100,
            &img,
        );
        assert_eq!(base.forward_bytes, unet + vit);
        // a real BERT's vocabulary makes the word embeddings the largest tensor
        let bert = card(32, 16, (8, 2, 16), 384, 4, 2, 30522);
        let m = TextGuidedMemory::estimate(&bert, Precision::F16, 2000, 2100, &img);
        assert_eq!(m.largest_tensor_bytes, 30522 * 384 * 4);
    }

    #[test]
    fn the_measured_page_runs_are_within_the_estimate() {
        // wasm memory (MiB) of the page's worker after a CPU run (docs/benchmarks.md, "Memory of
        // the page's 2D worker", tests/browser/bench2d.mjs): the bound must hold, and not by
        // more than 2x (an estimate that refuses what runs is also wrong)
        let shipped = (
            card(64, 16, (64, 4, 128), 64, 64, 16, 66),
            2_736_763,
            2_739_518,
        );
        let med = card(224, 16, (256, 4, 1024), 384, 128, 64, 30522);
        let med_f16 = (med.clone(), 75_306_252, 75_570_034);
        let med_f32 = (med, 150_592_289, 150_856_072);
        let big = (
            card(224, 16, (768, 12, 3072), 384, 128, 64, 30522),
            258_492_500,
            258_756_285,
        );
        let wide = (
            card(448, 32, (64, 4, 128), 64, 32, 64, 66),
            30_439_958,
            30_442_041,
        );
        let sample = png(64, 1, 8, 3_197);
        let g8 = png(4096, 1, 8, 16_786_495);
        let rgb8 = png(4096, 3, 8, 50_351_162);
        let g16 = png(4096, 1, 16, 33_568_831);
        let rgba8 = png(2048, 3, 8, 16_784_447);
        let chest = ImageFile {
            dicom: true,
            height: 391,
            ..png(368, 1, 15, 289_818)
        };
        let runs = [
            (&shipped, Precision::F16, sample, 22),
            (&shipped, Precision::F16, g8, 294),
            (&shipped, Precision::F16, rgb8, 358),
            (&shipped, Precision::F16, g16, 278),
            (&shipped, Precision::F16, rgba8, 114),
            (&shipped, Precision::F16, chest, 22),
            (&med_f16, Precision::F16, sample, 524),
            (&med_f16, Precision::F16, rgb8, 716),
            (&med_f32, Precision::F32, sample, 744),
            (&big, Precision::F16, sample, 1750),
            (&wide, Precision::F16, sample, 554),
            (&wide, Precision::F16, g8, 507),
        ];
        for (i, ((c, weights, bundle), precision, image, measured_mib)) in
            runs.into_iter().enumerate()
        {
            let est =
                TextGuidedMemory::estimate(c, precision, *weights, *bundle, &image).cpu_bytes();
            let measured = measured_mib << 20;
            assert!(est >= measured, "run {i}: {est} < {measured}");
            assert!(est < 2 * measured, "run {i}: {est} >= 2 x {measured}");
        }
    }
}
