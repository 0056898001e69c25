//! How much memory the page's worker needs to segment a 2D image with a text-guided bundle (spec
//! A6 at test time), estimated before running so that a model or an image too large for the
//! browser gets a message instead of a crash (the wasm CPU backend has at most 4 GiB, WebGPU a
//! per-buffer limit). The 3D counterpart is [`super::InferenceMemory`].
//!
//! The worker's wasm memory only grows, so what it needs is its high-water mark over loading the
//! bundle, reading the image at its own size (before it is resized to the model's input) and the
//! forward pass at the model's input size. The decoded image is freed before the forward pass,
//! which reuses its space (only the file's bytes stay), so the estimate takes the larger of the
//! two; but it adds that to loading instead of counting only the loaded model beside it, because
//! the allocator cannot always put the image's large buffers into the space the loading freed
//! (measured when 8-bit images were still copied to f32 for the resize: a 37.6 M-parameter
//! bundle, whose loading alone the estimate puts at 503 MiB, and a 4096² RGB image needed 716 MiB). The ViT, the TMG and the UNet run one after another; their
//! activations are added all the same (an upper bound). The counts bound what the page's worker
//! was measured to use on the wasm CPU backend, from above and by less than 2 times
//! (docs/benchmarks.md, "Memory of the page's 2D worker", where the ratios are).

use super::bundle::{Image2dCard, Precision};

/// The wasm module's own memory: its data, stack and the allocator's first pages. Not measured
/// apart: the whole worker holds 16.4 MiB after the 64 x 64 sample with the shipped 2.7 MB model,
/// of which the estimate puts 15.7 MiB in loading; 8 MiB leaves a margin for small models.
const RUNTIME_BYTES: u64 = 8 << 20;

/// Copies of the bundle's bytes alive while it loads: the file as the worker passes it in, whose
/// buffer becomes the weights the record reader consumes (`ModelBundle::decode_owned`,
/// `into_text_guided`), and the decoded record's values (in the bundle's precision).
const LOAD_BUNDLE_COPIES: u64 = 2;

/// f32 copies of the parameters alive while the record loads: the freshly initialised model and
/// the loaded one. With the bundle copies this bounds the measured peak of the three 224²
/// bundles, whose loading dominates, from above by less than 1.6 times (within 2 % while the
/// weights were copied twice more: that peak fell by more than the two copies, 27 to 39 %).
const LOAD_PARAM_COPIES: u64 = 2;

/// Input-sized f32 tensors with the UNet's width of channels alive at once in its forward pass:
/// the first stage's skip, the decoder's upsampled input and the concatenation (two widths), a
/// convolution's output beside its batch norm's and activation's, and the convolution's unfolded
/// input tile. Fitted on the 448 x 448 model with a width-64 UNet (49 MiB a tensor), whose
/// forward pass dominates: it took 554 MiB with about 200 MiB of loading, so its forward pass
/// needed at least about 340 MiB, 7 such tensors; 9 leave a margin (docs/benchmarks.md).
const UNET_FEATURE_TENSORS: u64 = 9;

/// f32 tensors of the TMG's embedding width on its 4g x 4g grid (g = image / patch; text_mask.rs):
/// the second ResConv-up block's input, output and residual, and the normalised features V.
const TMG_FEATURE_TENSORS: u64 = 4;

/// A 2D image file as the page opened it (its header and decoded type): what reading it at its
/// own size costs before the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFile {
    pub width: usize,
    pub height: usize,
    /// 1 (grey) or 3 (colour).
    pub channels: usize,
    /// Whether the file has an alpha channel besides (never for DICOM).
    pub alpha: bool,
    /// Bits of each sample: 8, 16 or 32 (floats); for DICOM its Bits Stored.
    pub bits: u16,
    pub dicom: bool,
    /// The file's length in bytes.
    pub file_len: usize,
}

impl ImageFile {
    /// Bytes per pixel alive while the image is read and converted for resizing
    /// (`Image2d::from_bytes`). 8-bit files: the decoded pixels, which the resize reads as they
    /// are, and for a file with alpha their copy without it. Deeper ones: the decoded pixels (an
    /// alpha channel always counted: a margin) and the f32 RGB the resize reads. DICOM
    /// (`read_dicom`): the pixel data as the parser holds them and as decoded (grey samples
    /// counted as at least 16 bits allocated: Bits Stored does not say), their f32 values and the
    /// 8-bit windowed copy the resize reads.
    pub fn working_bytes_per_pixel(&self) -> u64 {
        let c = self.channels.max(1) as u64;
        let sample = (self.bits as u64).div_ceil(8).max(1);
        if self.dicom {
            let stored = if c == 1 { sample.max(2) } else { 1 };
            return 2 * c * stored + 4 * c + c;
        }
        match sample {
            1 if self.alpha => (c + 1) + c,
            1 => c,
            _ => (if c == 1 { 2 } else { 4 }) * sample + 12,
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
    /// One forward pass at the model's input size: the UNet's input-sized activations
    /// ([`UNET_FEATURE_TENSORS`]), the TMG's on its grid ([`TMG_FEATURE_TENSORS`]), the ViT's
    /// tokens (with its MLP's hidden layer) and one layer's attention scores; and the image
    /// file's bytes, held until the image is embedded.
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
        let grid = (v.image_size / v.patch_size.max(1)) as u64;
        let tokens = grid * grid + 1;
        // the TMG's features are on a 4g x 4g grid (two 2x up-blocks), only in a model with one;
        // A8's refinement head adds its channels at the image's size
        let refine = card
            .tmg
            .as_ref()
            .map_or(0, |t| t.refine_width as u64 * pixels);
        let tmg_values = match card.has_tmg {
            true => v.embed_dim as u64 * (4 * grid).pow(2) + refine,
            false => 0,
        };
        let unet = UNET_FEATURE_TENSORS * card.unet_width as u64 * pixels * 4;
        let tmg = TMG_FEATURE_TENSORS * tmg_values * 4;
        let vit = (tokens * (v.vit_mlp + 3 * v.vit_width) as u64
            + v.vit_heads as u64 * tokens * tokens)
            * 4;
        let vocab = card.vocab.lines().count() as u64;
        let (w, d) = (card.unet_width as u64, v.embed_dim as u64);
        let largest_weight = [
            vocab * v.text_width as u64,
            v.vit_width as u64 * v.vit_mlp as u64,
            v.text_width as u64 * v.text_intermediate as u64,
            v.head_hidden as u64 * v.vit_width.max(v.text_width) as u64,
            if card.has_tmg { 9 * d * d } else { 0 },
            // the UNet's deepest 3x3 convolutions: 8w channels in and out (or 16w in, 4w out)
            9 * 64 * w * w,
        ];
        let largest_activation = [
            2 * w * pixels,
            tmg_values,
            v.vit_heads as u64 * tokens * tokens,
            tokens * v.vit_mlp as u64,
        ];
        let largest = largest_weight
            .into_iter()
            .chain(largest_activation)
            .max()
            .unwrap_or(0);
        TextGuidedMemory {
            load_bytes: LOAD_BUNDLE_COPIES * bundle_len as u64 + LOAD_PARAM_COPIES * 4 * params,
            image_bytes: image.read_bytes(),
            forward_bytes: image.file_len as u64 + unet + tmg + vit,
            largest_tensor_bytes: 4 * largest,
        }
    }

    /// What the CPU backend needs in all: loading, then the larger of reading the image and the
    /// forward pass (module docs: the allocator does not always reuse what loading freed).
    pub fn cpu_bytes(&self) -> u64 {
        RUNTIME_BYTES + self.load_bytes + self.image_bytes.max(self.forward_bytes)
    }

    /// What the wasm memory needs on WebGPU, where the forward pass is on the GPU: loading the
    /// bundle (its record is read on the CPU before it is uploaded) and reading the image.
    pub fn webgpu_wasm_bytes(&self) -> u64 {
        RUNTIME_BYTES + self.load_bytes + self.image_bytes
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
            text_intermediate: 2 * text_width,
            embed_dim: embed,
            head_hidden: 2 * embed,
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
            tmg: None,
        }
    }

    fn png(width: usize, channels: usize, bits: u16, file_len: usize) -> ImageFile {
        ImageFile {
            width,
            height: width,
            channels,
            alpha: false,
            bits,
            dicom: false,
            file_len,
        }
    }

    #[test]
    fn working_bytes_per_pixel_by_hand() {
        // 8-bit: decoded, which the resize reads as it is (grey 1, colour 3); with alpha, decoded
        // (grey+alpha 2, colour+alpha 4) and the copy without it (1 or 3)
        assert_eq!(png(1, 1, 8, 0).working_bytes_per_pixel(), 1);
        assert_eq!(png(1, 3, 8, 0).working_bytes_per_pixel(), 3);
        let with_alpha = |c| ImageFile {
            alpha: true,
            ..png(1, c, 8, 0)
        };
        assert_eq!(with_alpha(1).working_bytes_per_pixel(), 3);
        assert_eq!(with_alpha(3).working_bytes_per_pixel(), 7);
        // 16-bit: decoded (4 or 8) + f32 RGB 12; 32-bit floats: 8 or 16 + 12
        assert_eq!(png(1, 1, 16, 0).working_bytes_per_pixel(), 16);
        assert_eq!(png(1, 3, 16, 0).working_bytes_per_pixel(), 20);
        assert_eq!(png(1, 3, 32, 0).working_bytes_per_pixel(), 28);
        // DICOM, 12 bits stored in 2 bytes, grey: stored 2 + decoded 2 + f32 4 + 8-bit 1
        let ct = ImageFile {
            dicom: true,
            ..png(10, 1, 12, 500)
        };
        assert_eq!(ct.working_bytes_per_pixel(), 9);
        // Bits Stored 8 may be allocated 16: counted as 16; colour DICOM is 8-bit RGB:
        // stored 3 + decoded 3 + f32 12 + 8-bit 3
        let dicom8 = ImageFile { bits: 8, ..ct };
        assert_eq!(dicom8.working_bytes_per_pixel(), 9);
        let rgb = ImageFile {
            channels: 3,
            bits: 8,
            ..ct
        };
        assert_eq!(rgb.working_bytes_per_pixel(), 21);
        assert_eq!(ct.read_bytes(), 2 * 500 + 100 * 9);
        assert_eq!(png(10, 1, 8, 300).read_bytes(), 300 + 100);
    }

    #[test]
    fn estimate_by_hand() {
        // 32 x 32 input, 16-pixel patches (g = 2, 5 tokens), ViT 8 wide, 2 heads, MLP 16; text 8
        // wide (intermediate 16); D = 3 (head 6); UNet 2 wide; 10 words. f16 weights of 2000
        // bytes: 1000 parameters.
        let c = card(32, 16, (8, 2, 16), 8, 3, 2, 10);
        let img = png(4, 1, 8, 50);
        let m = TextGuidedMemory::estimate(&c, Precision::F16, 2000, 2100, &img);
        assert_eq!(m.load_bytes, 2 * 2100 + 2 * 4 * 1000);
        assert_eq!(m.image_bytes, 50 + 16);
        let pixels = 32 * 32;
        let unet = 9 * 2 * pixels * 4;
        // the TMG's features: D = 3 channels on the 4g x 4g = 8 x 8 grid
        let tmg = 4 * 3 * 64 * 4;
        let vit = (5 * (16 + 3 * 8) + 2 * 5 * 5) * 4;
        assert_eq!(m.forward_bytes, 50 + unet + tmg + vit);
        // the largest tensor: the UNet's concatenation, 2 x 2 channels x 1024 pixels (weights:
        // the UNet's deepest convolution 9 x 64 x 2², the rest smaller)
        assert_eq!(m.largest_tensor_bytes, 2 * 2 * pixels * 4);
        assert_eq!(
            m.cpu_bytes(),
            (8 << 20) + m.load_bytes + m.image_bytes.max(m.forward_bytes)
        );
        assert_eq!(
            m.webgpu_wasm_bytes(),
            (8 << 20) + m.load_bytes + m.image_bytes
        );
        // a large image: reading it outweighs the forward pass
        let big = png(1000, 3, 16, 7000);
        let m = TextGuidedMemory::estimate(&c, Precision::F16, 2000, 2100, &big);
        assert_eq!(m.image_bytes, 7000 + 1_000_000 * 20);
        assert_eq!(m.cpu_bytes(), (8 << 20) + m.load_bytes + m.image_bytes);
        // f32 weights hold half as many parameters per byte; a baseline has no TMG
        let f32 = TextGuidedMemory::estimate(&c, Precision::F32, 2000, 2100, &img);
        assert_eq!(f32.load_bytes, 2 * 2100 + 2 * 4 * 500);
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
        assert_eq!(base.forward_bytes, 50 + unet + vit);
        // a real BERT's vocabulary makes the word embeddings the largest tensor
        let bert = card(32, 16, (8, 2, 16), 384, 3, 2, 30522);
        let m = TextGuidedMemory::estimate(&bert, Precision::F16, 2000, 2100, &img);
        assert_eq!(m.largest_tensor_bytes, 30522 * 384 * 4);
        // a wide UNet on a small input: its deepest convolution's weights
        let wide = card(32, 16, (8, 2, 16), 8, 3, 64, 10);
        let m = TextGuidedMemory::estimate(&wide, Precision::F16, 2000, 2100, &img);
        assert_eq!(m.largest_tensor_bytes, 9 * 64 * 64 * 64 * 4);
    }

    #[test]
    fn the_measured_page_runs_are_within_the_estimate() {
        // wasm memory (MiB, as bench2d.mjs prints it) of the page's worker after a CPU run (docs/benchmarks.md, "Memory of
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
        let rgba8 = ImageFile {
            alpha: true,
            ..png(2048, 3, 8, 16_784_447)
        };
        let chest = ImageFile {
            dicom: true,
            height: 391,
            ..png(368, 1, 15, 289_818)
        };
        let dicom16 = ImageFile {
            dicom: true,
            ..png(4096, 1, 12, 33_554_870)
        };
        let runs = [
            (&shipped, Precision::F16, sample, 16.4),
            (&shipped, Precision::F16, g8, 48.6),
            (&shipped, Precision::F16, rgb8, 112.6),
            (&shipped, Precision::F16, g16, 272.6),
            (&shipped, Precision::F16, rgba8, 60.6),
            (&shipped, Precision::F16, chest, 16.4),
            (&shipped, Precision::F16, dicom16, 208.8),
            (&med_f16, Precision::F16, sample, 380.6),
            (&med_f16, Precision::F16, rgb8, 380.6),
            (&med_f32, Precision::F32, sample, 457.2),
            (&big, Precision::F16, sample, 1256.8),
            (&wide, Precision::F16, sample, 495.8),
            (&wide, Precision::F16, g8, 502.3),
        ];
        for (i, ((c, weights, bundle), precision, image, measured_mib)) in
            runs.into_iter().enumerate()
        {
            let est = TextGuidedMemory::estimate(c, precision, *weights, *bundle, &image)
                .cpu_bytes() as f64;
            let measured = measured_mib * (1u64 << 20) as f64;
            assert!(est >= measured, "run {i}: {est} < {measured}");
            assert!(est < 2.0 * measured, "run {i}: {est} >= 2 x {measured}");
        }
    }
}
