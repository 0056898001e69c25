//! An opened 2D image in the page (PNG, JPEG, TIFF or single-frame DICOM): what is drawn (its own pixels, any depth,
//! with window/level), the text-guided model's maps brought back to the image's own size by the
//! shared `map_to_image` (as `semiseg predict --prompt`), a ground-truth mask with Dice and IoU
//! from the shared metrics, and the downloads (the same 8-bit PNGs `predict` writes).
//! The file's header is read before anything is decoded: an image too large for the page is
//! refused from its dimensions. The logic is plain Rust (`*_inner`, `String` errors), tested
//! natively; the `#[wasm_bindgen]` methods only turn errors into JavaScript exceptions.

use crate::samples::Samples;
use image::{DynamicImage, ImageFormat, ImageReader};
use semiseg::data::{finite_extent, foreground_pixels, mid_tone_share, read_dicom};
use semiseg::infer::{map_to_gray8, map_to_image, ImageFile, ModelCard, TextGuidedMemory};
use semiseg::metrics::{dice, jaccard};
use std::io::Cursor;
use wasm_bindgen::prelude::*;

/// The largest image the page opens (pixels): the shared readers' 64 megapixels (a 256 MB RGBA
/// canvas and its maps).
pub use semiseg::data::MAX_PIXELS;

/// Overlay colours (RGB) of the mask and the ground truth: those of the 3D viewer
/// (`web/src/view.rs`, another wasm module).
pub const MASK_RGB: [u8; 3] = [255, 64, 32];
pub const TRUTH_RGB: [u8; 3] = [40, 220, 90];

/// What each file kind is called in messages.
fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// The share of mid-tone pixels above which a ground truth is not a mask ([`mid_tone_share`]).
const MAX_MID_TONES: f64 = 0.01;

/// Whether `bytes` look like a NIfTI (single file, plain or gzip by name) or NRRD scan.
fn is_scan(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let by_name = [".nii", ".nii.gz", ".nrrd", ".nhdr"]
        .iter()
        .any(|e| lower.ends_with(e));
    let nifti = bytes
        .get(344..348)
        .is_some_and(|m| m == b"n+1\0" || m == b"ni1\0")
        || bytes.get(4..8).is_some_and(|m| m == b"n+2\0");
    by_name || nifti || bytes.starts_with(b"NRRD")
}

/// Whether `bytes` look like a DICOM file (the "DICM" marker after the 128-byte preamble, or the
/// name).
pub fn is_dicom(name: &str, bytes: &[u8]) -> bool {
    semiseg::data::is_dicom(bytes) || name.to_ascii_lowercase().ends_with(".dcm")
}

/// Decode `bytes` as PNG, JPEG or TIFF after checking the header's dimensions.
pub fn decode_checked(name: &str, bytes: &[u8]) -> Result<(DynamicImage, ImageFormat), String> {
    if is_dicom(name, bytes) {
        return Err(format!(
            "{name} is a DICOM file; a ground-truth mask is read from a PNG, JPEG or TIFF of the \
             image's size (a DICOM can be opened as the image)"
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("{name}: {e}"))?;
    // only the header is read here; the size is checked below, with a message
    reader.no_limits();
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Tiff)) => f,
        _ => {
            return Err(format!(
                "{name} is not a PNG, JPEG, TIFF or DICOM image (the 2D images this page opens), \
                 nor a NIfTI or NRRD scan"
            ))
        }
    };
    // a PNG's size is in its first chunk: read it directly (the png decoder refuses a huge one
    // with "Memory limit exceeded" on 32-bit wasm, whatever the limits say)
    let png_size = (format == ImageFormat::Png && bytes.get(12..16) == Some(b"IHDR")).then(|| {
        let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    });
    let (w, h) = match png_size.filter(|_| bytes.len() >= 24) {
        Some(size) => size,
        None => reader.into_dimensions().map_err(|e| match e {
            image::ImageError::Limits(_) => format!(
                "{name} is larger than this page handles ({} megapixels); shrink it first",
                MAX_PIXELS >> 20
            ),
            e => format!("{name}: not a readable {}: {e}", format_name(format)),
        })?,
    };
    if w == 0 || h == 0 {
        return Err(format!("{name}: the image is empty ({w}×{h} pixels)"));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!(
            "{name} is {w}×{h} pixels, more than this page handles ({} megapixels); shrink it \
             first (the model sees it at its own small size anyway)",
            MAX_PIXELS >> 20
        ));
    }
    let img = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| format!("{name}: a damaged {} file: {e}", format_name(format)))?;
    Ok((img, format))
}

/// A 2D image, the model's maps at its size and an optional ground truth.
#[wasm_bindgen]
pub struct Picture {
    name: String,
    width: usize,
    height: usize,
    /// Grey (1) or colour (3) channels of `pixels`, and the bits of each.
    channels: usize,
    bits: u16,
    /// Whether the file has an alpha channel (dropped here; what reading it costs the worker).
    alpha: bool,
    /// The decoded values, interleaved, in the file's own units (0..255, 0..65535 or floats).
    pixels: Samples,
    describe: String,
    /// The file's own display window (DICOM), else the values' range.
    window: Option<(f32, f32)>,
    /// MONOCHROME1 (DICOM): the lowest value is drawn white.
    inverted: bool,
    /// Whether the file is a DICOM, and its length (what reading it costs the worker).
    dicom: bool,
    file_len: usize,
    /// The student's (or the fused) probability at the image's size.
    mask: Option<Vec<f32>>,
    /// The prompt's text mask at the image's size.
    text: Option<Vec<f32>>,
    truth: Option<Vec<bool>>,
    /// A clicked word's similarity over the image (min to max as 0 to 1), drawn in place of
    /// the text mask while set.
    word: Option<Vec<f32>>,
}

impl Picture {
    pub fn open_inner(name: &str, bytes: &[u8]) -> Result<Picture, String> {
        if is_dicom(name, bytes) {
            // the shared reader, as `semiseg predict` reads it (data/dicom.rs)
            let d = read_dicom(bytes, name).map_err(|e| e.to_string())?;
            return Ok(Picture {
                name: name.to_string(),
                width: d.width,
                height: d.height,
                channels: d.channels,
                bits: d.bits,
                alpha: false,
                pixels: Samples::F32(d.values),
                describe: d.describe,
                window: Some(d.window),
                inverted: d.inverted,
                dicom: true,
                file_len: bytes.len(),
                mask: None,
                text: None,
                truth: None,
                word: None,
            });
        }
        let (img, format) = decode_checked(name, bytes)?;
        let (width, height) = (img.width() as usize, img.height() as usize);
        let colour = img.color();
        let channels = if colour.has_color() { 3 } else { 1 };
        let bits = colour.bits_per_pixel() / colour.channel_count() as u16;
        // `into_*` keeps the decoded buffer when it already has that layout (no copy)
        let pixels = match (channels, bits) {
            (1, 8) => Samples::U8(img.into_luma8().into_raw()),
            (1, 16) => Samples::U16(img.into_luma16().into_raw()),
            (1, _) => Samples::F32(img.to_luma32f().into_raw()),
            (_, 8) => Samples::U8(img.into_rgb8().into_raw()),
            (_, 16) => Samples::U16(img.into_rgb16().into_raw()),
            _ => Samples::F32(img.into_rgb32f().into_raw()),
        };
        let describe = format!(
            "{width}×{height} pixels, {} {bits}-bit, {}",
            if channels == 1 { "grey" } else { "colour" },
            format_name(format)
        );
        Ok(Picture {
            name: name.to_string(),
            width,
            height,
            channels,
            bits,
            alpha: colour.has_alpha(),
            pixels,
            describe,
            window: None,
            inverted: false,
            dicom: false,
            file_len: bytes.len(),
            mask: None,
            text: None,
            truth: None,
            word: None,
        })
    }

    /// The memory estimate of segmenting this image with a bundle (its card as JSON).
    pub fn memory_inner(&self, card: &str, bundle_len: usize) -> Result<TextGuidedMemory, String> {
        let card: ModelCard =
            serde_json::from_str(card).map_err(|e| format!("the model card: {e}"))?;
        let c = card
            .image2d
            .as_ref()
            .ok_or("this is a 3D V-Net (a scan), not a 2D text-guided model")?;
        let image = ImageFile {
            width: self.width,
            height: self.height,
            channels: self.channels,
            alpha: self.alpha,
            bits: self.bits,
            dicom: self.dicom,
            file_len: self.file_len,
        };
        Ok(TextGuidedMemory::estimate(
            c,
            card.precision,
            card.weights_len,
            bundle_len,
            &image,
        ))
    }

    /// Take the model's maps (`size × size`, row-major): the mask's probability and, for a
    /// prompt, the text mask. Returns the mask's foreground pixels at the image's size.
    pub fn set_maps_inner(
        &mut self,
        size: usize,
        mask: &[f32],
        text: Option<&[f32]>,
    ) -> Result<usize, String> {
        let n = size * size;
        if size == 0 || mask.len() != n || text.is_some_and(|t| t.len() != n) {
            return Err(format!(
                "the model's maps do not have its {size}×{size} pixels (a mismatched bundle?)"
            ));
        }
        let (w, h) = (self.width, self.height);
        let mask = map_to_image(mask, size, w, h);
        let fg = mask.iter().filter(|&&v| v > 0.5).count();
        self.mask = Some(mask);
        self.text = text.map(|t| map_to_image(t, size, w, h));
        self.word = None;
        Ok(fg)
    }

    /// Show a word's similarity map (`grid × grid` cosines, row-major) over the image: scaled
    /// from its lowest (0) to its highest value (1) and brought to the image's size as the
    /// model's maps are; `None` clears it. Returns the map's lowest and highest cosine.
    pub fn set_word_map_inner(
        &mut self,
        grid: usize,
        map: Option<&[f32]>,
    ) -> Result<(f32, f32), String> {
        let Some(map) = map else {
            self.word = None;
            return Ok((0.0, 0.0));
        };
        if grid == 0 || map.len() != grid * grid || map.iter().any(|v| !v.is_finite()) {
            return Err(format!("a word map needs {grid}×{grid} finite values"));
        }
        let lo = map.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let scaled: Vec<f32> = map.iter().map(|v| (v - lo) / span).collect();
        self.word = Some(map_to_image(&scaled, grid, self.width, self.height));
        Ok((lo, hi))
    }

    /// A ground-truth mask of the same size: a pixel is foreground when any channel is non-zero.
    /// A 3D scan, or an image whose values are not a mask's (more than 1 % of its pixels between
    /// 10 % and 90 % of the range: a photograph, the image itself), is refused.
    pub fn open_truth_inner(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        if is_scan(name, bytes) {
            return Err(format!(
                "{name} is a NIfTI or NRRD scan, a 3D ground truth; the ground truth of a 2D image \
                 is a PNG, JPEG or TIFF mask of the image's size (open a scan as the image to use \
                 its label)"
            ));
        }
        let (img, _) = decode_checked(name, bytes)?;
        let mid = mid_tone_share(&img);
        if mid > MAX_MID_TONES {
            return Err(format!(
                "{name} is not a mask: {:.0}% of its pixels are mid-tones (a mask is background and \
                 foreground: 0 and non-zero values, black and white); open the manual \
                 segmentation of {}, not an image",
                100.0 * mid,
                self.name
            ));
        }
        let (w, h) = (img.width() as usize, img.height() as usize);
        if (w, h) != (self.width, self.height) {
            return Err(format!(
                "{name} is {w}×{h} pixels and {} is {}×{}: a ground truth must have its image's size",
                self.name, self.width, self.height
            ));
        }
        // the shared rule, as the 2D datasets read a mask (`Mask2d`: any colour channel non-zero)
        self.truth = Some(foreground_pixels(&img));
        Ok(())
    }

    /// Dice and IoU of the mask (> 0.5) against the ground truth, as JSON.
    pub fn metrics_inner(&self) -> Result<String, String> {
        let (Some(mask), Some(truth)) = (&self.mask, &self.truth) else {
            return Err("segment the image and open its ground truth first".into());
        };
        let pred: Vec<bool> = mask.iter().map(|&v| v > 0.5).collect();
        Ok(format!(
            r#"{{"dice":{},"iou":{}}}"#,
            dice(&pred, truth),
            jaccard(&pred, truth)
        ))
    }

    /// The display window: the lowest and highest value (8-bit images: 0 to 255).
    pub fn default_window_inner(&self) -> (f32, f32) {
        if let Some(w) = self.window {
            return w;
        }
        if self.bits == 8 {
            return (0.0, 255.0);
        }
        self.pixels.range()
    }

    /// RGBA pixels: the image through the window, the text mask as a heat map (blue to red,
    /// `text_opacity` × its value; with `view.stretch`, its value scaled from the map's lowest
    /// to its highest, display only), then the mask and the ground truth (`opacity`).
    pub fn render_inner(&self, window: (f32, f32), view: &View) -> Vec<u8> {
        let (lo, hi) = window;
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        let n = self.width * self.height;
        let text_range = match (&self.text, view.stretch) {
            (Some(t), true) => stretch_range(t),
            _ => (0.0, 1.0),
        };
        let mut out = Vec::with_capacity(n * 4);
        for i in 0..n {
            let mut px = [0f32; 3];
            for (k, p) in px.iter_mut().enumerate() {
                let c = if self.channels == 1 { 0 } else { k };
                *p = ((self.pixels.get(i * self.channels + c) - lo) * scale).clamp(0.0, 255.0);
                if self.inverted {
                    *p = 255.0 - *p;
                }
            }
            let heat = match &self.word {
                Some(w) => Some((w, (0.0, 1.0))),
                None => self
                    .text
                    .as_ref()
                    .filter(|_| view.text)
                    .map(|t| (t, text_range)),
            };
            if let Some((t, (tlo, thi))) = heat.filter(|(t, _)| t[i].is_finite()) {
                let v = ((t[i] - tlo) / (thi - tlo)).clamp(0.0, 1.0);
                let a = view.text_opacity.clamp(0.0, 1.0) * v;
                let heat = heat_rgb(v);
                for k in 0..3 {
                    px[k] = px[k] * (1.0 - a) + heat[k] * a;
                }
            }
            let a = view.opacity.clamp(0.0, 1.0);
            let layers = [
                (
                    view.truth && self.truth.as_ref().is_some_and(|t| t[i]),
                    TRUTH_RGB,
                ),
                (
                    view.mask && self.mask.as_ref().is_some_and(|m| m[i] > 0.5),
                    MASK_RGB,
                ),
            ];
            for (on, rgb) in layers {
                if on {
                    for k in 0..3 {
                        px[k] = px[k] * (1.0 - a) + rgb[k] as f32 * a;
                    }
                }
            }
            out.extend_from_slice(&[px[0] as u8, px[1] as u8, px[2] as u8, 255]);
        }
        out
    }

    /// The mask as `predict -o` writes it: 8-bit PNG, 255 where the probability is above 0.5.
    pub fn mask_png_inner(&self) -> Result<Vec<u8>, String> {
        let m = self.mask.as_ref().ok_or("segment the image first")?;
        gray_png(&map_to_gray8(m, true), self.width, self.height)
    }

    /// The text mask as `predict --text-mask` writes it: 8-bit PNG, 0..255.
    pub fn text_png_inner(&self) -> Result<Vec<u8>, String> {
        let t = self.text.as_ref().ok_or("segment with a prompt first")?;
        gray_png(&map_to_gray8(t, false), self.width, self.height)
    }

    fn stem(&self) -> &str {
        let lower = self.name.to_ascii_lowercase();
        for ext in [".png", ".jpeg", ".jpg", ".tiff", ".tif", ".dcm", ".dicom"] {
            if lower.ends_with(ext) {
                return &self.name[..self.name.len() - ext.len()];
            }
        }
        &self.name
    }
}

/// Which layers `render` draws.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub mask: bool,
    pub text: bool,
    pub truth: bool,
    pub opacity: f32,
    pub text_opacity: f32,
    /// Draw the text mask from its lowest to its highest value (display only: a text mask
    /// whose values span 0.35 to 0.65 shows where a prompt moved it).
    pub stretch: bool,
}

#[wasm_bindgen]
impl View {
    #[wasm_bindgen(constructor)]
    pub fn new(
        mask: bool,
        text: bool,
        truth: bool,
        opacity: f32,
        text_opacity: f32,
        stretch: bool,
    ) -> View {
        View {
            mask,
            text,
            truth,
            opacity,
            text_opacity,
            stretch,
        }
    }
}

/// Narrower maps are drawn as they are: stretching them would show float noise as structure.
const MIN_STRETCH_SPAN: f32 = 0.01;

/// The lowest and highest finite value of a map, for drawing it stretched; (0, 1) for a map
/// spanning less than [`MIN_STRETCH_SPAN`] or empty (nothing worth stretching).
pub fn stretch_range(map: &[f32]) -> (f32, f32) {
    finite_extent(map)
        .filter(|(lo, hi)| hi - lo >= MIN_STRETCH_SPAN)
        .unwrap_or((0.0, 1.0))
}

/// A blue (0) – cyan – yellow – red (1) heat map colour.
pub fn heat_rgb(v: f32) -> [f32; 3] {
    let v = v.clamp(0.0, 1.0);
    let stops = [
        [0.0, 0.0, 255.0],
        [0.0, 255.0, 255.0],
        [255.0, 255.0, 0.0],
        [255.0, 0.0, 0.0],
    ];
    let x = v * 3.0;
    let i = (x.floor() as usize).min(2);
    let f = x - i as f32;
    std::array::from_fn(|k| stops[i][k] * (1.0 - f) + stops[i + 1][k] * f)
}

fn gray_png(pixels: &[u8], w: usize, h: usize) -> Result<Vec<u8>, String> {
    let img = image::GrayImage::from_raw(w as u32, h as u32, pixels.to_vec())
        .ok_or("a map of the wrong length")?;
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn js(e: String) -> JsError {
    JsError::new(&e)
}

#[wasm_bindgen]
impl Picture {
    pub fn open(name: &str, bytes: &[u8]) -> Result<Picture, JsError> {
        Self::open_inner(name, bytes).map_err(js)
    }

    pub fn name(&self) -> String {
        self.name.clone()
    }

    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    pub fn width(&self) -> u32 {
        self.width as u32
    }

    pub fn height(&self) -> u32 {
        self.height as u32
    }

    pub fn default_window(&self) -> Vec<f32> {
        let (lo, hi) = self.default_window_inner();
        vec![lo, hi]
    }

    pub fn render(&self, lo: f32, hi: f32, view: &View) -> Vec<u8> {
        self.render_inner((lo, hi), view)
    }

    /// `text` empty: no text mask.
    pub fn set_maps(&mut self, size: u32, mask: &[f32], text: &[f32]) -> Result<u32, JsError> {
        let text = (!text.is_empty()).then_some(text);
        self.set_maps_inner(size as usize, mask, text)
            .map(|n| n as u32)
            .map_err(js)
    }

    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// Show a word's similarity map (see `set_word_map_inner`); an empty `map` clears it.
    /// Returns `[lowest, highest]` cosine.
    pub fn set_word_map(&mut self, grid: u32, map: &[f32]) -> Result<Vec<f32>, JsError> {
        let map = (!map.is_empty()).then_some(map);
        let (lo, hi) = self.set_word_map_inner(grid as usize, map).map_err(js)?;
        Ok(vec![lo, hi])
    }

    pub fn has_text(&self) -> bool {
        self.text.is_some()
    }

    pub fn open_truth(&mut self, name: &str, bytes: &[u8]) -> Result<(), JsError> {
        self.open_truth_inner(name, bytes).map_err(js)
    }

    pub fn has_truth(&self) -> bool {
        self.truth.is_some()
    }

    pub fn metrics(&self) -> Result<String, JsError> {
        self.metrics_inner().map_err(js)
    }

    pub fn mask_png(&self) -> Result<Vec<u8>, JsError> {
        self.mask_png_inner().map_err(js)
    }

    pub fn text_png(&self) -> Result<Vec<u8>, JsError> {
        self.text_png_inner().map_err(js)
    }

    /// `[wasm bytes on the CPU backend, largest tensor bytes, wasm bytes on WebGPU]` that
    /// segmenting this image with the bundle of `bundle_len` bytes whose card is `card` (JSON)
    /// needs (`TextGuidedMemory`; checked by the worker against the device's limits).
    pub fn estimate_memory(&self, card: &str, bundle_len: f64) -> Result<Vec<f64>, JsError> {
        let m = self.memory_inner(card, bundle_len as usize).map_err(js)?;
        Ok(vec![
            m.cpu_bytes() as f64,
            m.largest_tensor_bytes as f64,
            m.webgpu_wasm_bytes() as f64,
        ])
    }

    /// `chest.png` -> `chest_mask.png`; a mask steered by `prompt` (not empty) names it:
    /// `chest_mask_lower-left-lung.png`.
    pub fn mask_file_name(&self, prompt: &str) -> String {
        format!("{}_mask{}.png", self.stem(), prompt_slug(prompt))
    }

    /// `chest.png` and the prompt `lower left lung` -> `chest_text_mask_lower-left-lung.png`.
    pub fn text_file_name(&self, prompt: &str) -> String {
        format!("{}_text_mask{}.png", self.stem(), prompt_slug(prompt))
    }
}

/// `_` and the prompt's words, lower-case, joined by `-` (letters and digits only, at most 48
/// characters, cut at a word); empty for an empty prompt.
fn prompt_slug(prompt: &str) -> String {
    let mut slug = String::new();
    for w in prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = w.to_lowercase();
        if slug.len() + w.len() + 1 > 48 {
            break;
        }
        slug.push(if slug.is_empty() { '_' } else { '-' });
        slug.push_str(&w);
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut b = Vec::new();
        img.write_to(&mut Cursor::new(&mut b), ImageFormat::Png)
            .unwrap();
        b
    }

    fn grey(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        png(DynamicImage::ImageLuma8(image::GrayImage::from_fn(
            w,
            h,
            |x, y| image::Luma([f(x, y)]),
        )))
    }

    #[test]
    fn the_memory_estimate_reads_the_card_and_the_image() {
        let models =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/assets/models");
        let shipped = std::fs::read(models.join("synth-radiograph.semiseg")).unwrap();
        let card = semiseg::infer::ModelBundle::decode(&shipped).unwrap().card;
        let json = serde_json::to_string(&card).unwrap();
        let bytes = grey(100, 50, |x, y| (x + y) as u8);
        let p = Picture::open_inner("a.png", &bytes).unwrap();
        let want = TextGuidedMemory::estimate(
            card.image2d.as_ref().unwrap(),
            card.precision,
            card.weights_len,
            shipped.len(),
            &ImageFile {
                width: 100,
                height: 50,
                channels: 1,
                alpha: false,
                bits: 8,
                dicom: false,
                file_len: bytes.len(),
            },
        );
        assert_eq!(p.memory_inner(&json, shipped.len()).unwrap(), want);
        // a DICOM is counted as one (its parser's copy of the file, its samples)
        let dcm_path = models.join("../../../tests/fixtures/dicom/chest_cr.dcm");
        let dcm = std::fs::read(dcm_path).unwrap();
        let d = Picture::open_inner("chest_cr.dcm", &dcm).unwrap();
        let image = ImageFile {
            width: 368,
            height: 391,
            channels: 1,
            alpha: false,
            bits: d.bits,
            dicom: true,
            file_len: dcm.len(),
        };
        let want = TextGuidedMemory::estimate(
            card.image2d.as_ref().unwrap(),
            card.precision,
            card.weights_len,
            shipped.len(),
            &image,
        );
        assert_eq!(d.memory_inner(&json, shipped.len()).unwrap(), want);
        assert_eq!(want.image_bytes, image.read_bytes());
        assert!(want.image_bytes > 2 * dcm.len() as u64);
        // an alpha channel is recorded: the worker copies an 8-bit image without it
        let rgba = png(DynamicImage::ImageRgba8(image::RgbaImage::from_fn(
            40,
            30,
            |x, y| image::Rgba([x as u8, y as u8, 7, 200]),
        )));
        let q = Picture::open_inner("rgba.png", &rgba).unwrap();
        let m = q.memory_inner(&json, shipped.len()).unwrap();
        let image = ImageFile {
            width: 40,
            height: 30,
            channels: 3,
            alpha: true,
            bits: 8,
            dicom: false,
            file_len: rgba.len(),
        };
        assert_eq!(m.image_bytes, image.read_bytes());
        assert_eq!(m.image_bytes, rgba.len() as u64 + 1200 * 7);
        // a 3D bundle's card and a card that is not JSON are refused with a message
        let la = std::fs::read(models.join("la-light.semiseg")).unwrap();
        let card3d = semiseg::infer::ModelBundle::decode(&la).unwrap().card;
        let err = p
            .memory_inner(&serde_json::to_string(&card3d).unwrap(), la.len())
            .unwrap_err();
        assert!(err.contains("3D V-Net"), "{err}");
        let err = p.memory_inner("{", 10).unwrap_err();
        assert!(err.starts_with("the model card"), "{err}");
    }

    #[test]
    fn opens_images_and_refuses_what_it_cannot_read() {
        let p = Picture::open_inner("a.png", &grey(6, 4, |x, _| x as u8 * 10)).unwrap();
        assert_eq!((p.width, p.height, p.channels), (6, 4, 1));
        assert_eq!(p.describe, "6×4 pixels, grey 8-bit, PNG");
        assert_eq!(p.default_window_inner(), (0.0, 255.0));
        // 16-bit: the window spans the data
        let img16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(3, 2, |x, y| {
            image::Luma([1000 + 500 * (x + y) as u16])
        });
        let p16 = Picture::open_inner("b.png", &png(DynamicImage::ImageLuma16(img16))).unwrap();
        assert_eq!(p16.default_window_inner(), (1000.0, 2500.0));
        assert!(p16.describe.contains("grey 16-bit"), "{}", p16.describe);
        let plain = View::new(false, false, false, 0.5, 0.5, false);
        // drawn through the window 1000..2500: 1500 is a third of the way, 85
        assert_eq!(
            &p16.render_inner((1000.0, 2500.0), &plain)[4..8],
            &[85, 85, 85, 255]
        );
        // colour with alpha: drawn as its RGB (alpha dropped), in 8 bits as the file has them
        let rgba = png(DynamicImage::ImageRgba8(image::RgbaImage::from_fn(
            2,
            1,
            |x, _| image::Rgba([10 + x as u8, 200, 30, 0]),
        )));
        let pc = Picture::open_inner("c.png", &rgba).unwrap();
        assert_eq!((pc.channels, pc.bits, pc.alpha), (3, 8, true));
        assert_eq!(pc.pixels, Samples::U8(vec![10, 200, 30, 11, 200, 30]));
        assert_eq!(
            pc.render_inner(pc.default_window_inner(), &plain),
            [10, 200, 30, 255, 11, 200, 30, 255]
        );

        let e = Picture::open_inner("notes.png", b"not an image")
            .err()
            .unwrap();
        assert!(e.contains("not a PNG, JPEG, TIFF or DICOM"), "{e}");
        let mut dicom = vec![0u8; 132];
        dicom[128..].copy_from_slice(b"DICM");
        let e = Picture::open_inner("x-ray", &dicom).err().unwrap();
        assert!(e.contains("damaged DICOM"), "{e}");
        // a real chest radiograph (MONOCHROME1): the file's window, drawn inverted, and the
        // downloads named after it
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/dicom/chest_cr.dcm"
        );
        let bytes = std::fs::read(path).unwrap();
        let p = Picture::open_inner("chest_cr.dcm", &bytes).unwrap();
        let d = semiseg::data::read_dicom(&bytes, "chest_cr.dcm").unwrap();
        assert_eq!((p.width, p.height, p.channels), (368, 391, 1));
        assert_eq!(p.default_window_inner(), d.window);
        assert!(p.describe.contains("CR chest") && p.describe.contains("MONOCHROME1"));
        let (lo, hi) = d.window;
        let rgba = p.render_inner((lo, hi), &View::new(false, false, false, 0.5, 0.5, false));
        for i in [0, 5000, 100_000, d.values.len() - 1] {
            let g = ((d.values[i] - lo) * 255.0 / (hi - lo)).clamp(0.0, 255.0);
            let want = (255.0 - g) as u8;
            assert_eq!(
                &rgba[4 * i..4 * i + 4],
                &[want, want, want, 255],
                "pixel {i}"
            );
        }
        assert_eq!(p.mask_file_name(""), "chest_cr_mask.png");
        // a DICOM is no ground truth: that is a PNG, JPEG or TIFF
        let mut p = p;
        let e = p.open_truth_inner("chest_cr.dcm", &bytes).err().unwrap();
        assert!(e.contains("ground-truth mask is read from a PNG"), "{e}");
        // a truncated PNG: its header reads, its pixels do not
        let full = grey(64, 64, |x, y| (x * y) as u8);
        let e = Picture::open_inner("cut.png", &full[..full.len() / 2])
            .err()
            .unwrap();
        assert!(e.contains("damaged PNG"), "{e}");
    }

    #[test]
    fn a_huge_image_is_refused_from_its_header() {
        // a PNG header claiming 60000×60000 pixels, with no pixels at all
        let mut b = grey(1, 1, |_, _| 0);
        b[16..20].copy_from_slice(&60000u32.to_be_bytes());
        b[20..24].copy_from_slice(&60000u32.to_be_bytes());
        // fix the IHDR CRC so the header itself is valid
        let crc = crc32(&b[12..29]);
        b[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = Picture::open_inner("huge.png", &b).err().unwrap();
        assert!(e.contains("60000×60000 pixels, more than"), "{e}");
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn maps_come_back_at_the_image_size_and_score_against_the_truth() {
        let mut p = Picture::open_inner("img.png", &grey(4, 2, |_, _| 100)).unwrap();
        // a 2×2 map: the left half foreground
        let n = p
            .set_maps_inner(2, &[1.0, 0.0, 1.0, 0.0], Some(&[0.0; 4]))
            .unwrap();
        // 4 wide: columns 0,1 at 1.0 and 0.75, 2,3 at 0.25 and 0: 2 per row above 0.5
        assert_eq!(n, 4);
        assert!(p.set_maps_inner(3, &[0.0; 4], None).is_err());
        // the truth: columns 0..3 of each row (3 per row)
        p.open_truth_inner("gt.png", &grey(4, 2, |x, _| if x < 3 { 255 } else { 0 }))
            .unwrap();
        let m: serde_json::Value = serde_json::from_str(&p.metrics_inner().unwrap()).unwrap();
        // overlap 4, |pred| 4, |gt| 6: Dice 8/10, IoU 4/6
        assert!((m["dice"].as_f64().unwrap() - 0.8).abs() < 1e-12, "{m}");
        assert!(
            (m["iou"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-12,
            "{m}"
        );
        let e = p
            .open_truth_inner("small.png", &grey(2, 2, |_, _| 255))
            .unwrap_err();
        assert!(e.contains("must have its image's size"), "{e}");
        // an image of grey levels (the image itself) is not a mask; a label of values 0..2 is
        let e = p
            .open_truth_inner("img.png", &grey(4, 2, |x, y| 40 + 40 * (x + y) as u8))
            .unwrap_err();
        assert!(
            e.contains("img.png is not a mask: 100% of its pixels are mid-tones"),
            "{e}"
        );
        p.open_truth_inner("labels.png", &grey(4, 2, |x, _| x.min(2) as u8))
            .unwrap();
        // a NIfTI or NRRD scan is named as one, not as an unreadable file
        let mut nii = vec![0u8; 352];
        nii[344..348].copy_from_slice(b"n+1\0");
        for (name, bytes) in [
            ("label.nii.gz", vec![0x1f, 0x8b, 8]),
            ("label", nii),
            ("x", b"NRRD0004\n".to_vec()),
        ] {
            let e = p.open_truth_inner(name, &bytes).unwrap_err();
            assert!(
                e.contains("is a NIfTI or NRRD scan, a 3D ground truth"),
                "{name}: {e}"
            );
        }
        p.open_truth_inner("gt.png", &grey(4, 2, |x, _| if x < 3 { 255 } else { 0 }))
            .unwrap();
        // the download is predict's PNG: 0/255 at the image's size
        let back = image::load_from_memory(&p.mask_png_inner().unwrap())
            .unwrap()
            .to_luma8();
        assert_eq!(back.dimensions(), (4, 2));
        assert_eq!(back.as_raw(), &[255, 255, 0, 0, 255, 255, 0, 0]);
        assert_eq!(p.mask_file_name(""), "img_mask.png");
        assert_eq!(p.text_file_name(""), "img_text_mask.png");
        // each prompt its own file name
        assert_eq!(
            p.text_file_name("Lower-left lung, opacity!"),
            "img_text_mask_lower-left-lung-opacity.png"
        );
        assert_eq!(
            p.mask_file_name("upper right lung"),
            "img_mask_upper-right-lung.png"
        );
        let long = "an opacity at the base of the left lung near the heart border";
        assert_eq!(
            p.text_file_name(long),
            "img_text_mask_an-opacity-at-the-base-of-the-left-lung-near.png"
        );
    }

    #[test]
    fn a_word_map_is_scaled_min_to_max_and_drawn_in_place_of_the_text_mask() {
        let mut p = Picture::open_inner("a.png", &grey(4, 2, |_, _| 0)).unwrap();
        // cosines -0.2 .. 0.6 on a 2×2 grid: scaled to 0 .. 1, then to the image's 4×2 pixels
        let (lo, hi) = p
            .set_word_map_inner(2, Some(&[-0.2, 0.6, 0.2, 0.2]))
            .unwrap();
        assert_eq!((lo, hi), (-0.2, 0.6));
        let w = p.word.clone().unwrap();
        assert_eq!(w.len(), 8);
        assert_eq!(&w[..4], &[0.0, 0.25, 0.75, 1.0]);
        // drawn with the text opacity, even with the text mask switched off: the highest
        // similarity is red (heat_rgb(1))
        let rgba = p.render_inner(
            (0.0, 255.0),
            &View::new(false, false, false, 0.5, 1.0, false),
        );
        let red = heat_rgb(1.0);
        assert_eq!(&rgba[12..15], &[red[0] as u8, red[1] as u8, red[2] as u8]);
        assert!(p.set_word_map_inner(3, Some(&[0.0; 4])).is_err());
        assert!(p.set_word_map_inner(2, Some(&[f32::NAN; 4])).is_err());
        // cleared by None and by a new segmentation
        p.set_word_map_inner(2, None).unwrap();
        assert!(p.word.is_none());
        p.set_word_map_inner(2, Some(&[0.0, 1.0, 0.0, 1.0]))
            .unwrap();
        p.set_maps_inner(2, &[0.0; 4], None).unwrap();
        assert!(p.word.is_none());
    }

    #[test]
    fn renders_window_heat_map_and_overlays() {
        let mut p =
            Picture::open_inner("img.png", &grey(2, 1, |x, _| 100 + 100 * x as u8)).unwrap();
        p.set_maps_inner(1, &[0.0], Some(&[1.0])).unwrap();
        let view = View::new(true, true, false, 0.5, 0.5, false);
        let rgba = p.render_inner((100.0, 200.0), &view);
        // pixel 0: grey 0 blended half with red (the heat map's 1.0); pixel 1: 255 likewise
        assert_eq!(&rgba[..4], &[127, 0, 0, 255]);
        assert_eq!(&rgba[4..], &[255, 127, 127, 255]);
        assert_eq!(heat_rgb(0.0), [0.0, 0.0, 255.0]);
        assert_eq!(heat_rgb(0.5), [127.5, 255.0, 127.5]);
    }

    /// Stretched, a text mask of 0.4 and 0.6 is drawn as 0 (blue, transparent) and 1 (red, at
    /// the text opacity); unstretched as its own values; a flat map is drawn as it is.
    #[test]
    fn a_stretched_text_mask_spans_the_heat_map() {
        let mut p = Picture::open_inner("img.png", &grey(2, 1, |_, _| 0)).unwrap();
        // a 2×2 model map brought to the 2×1 image: columns 0.4 and 0.6
        p.set_maps_inner(2, &[0.0; 4], Some(&[0.4, 0.6, 0.4, 0.6]))
            .unwrap();
        let text = p.text.clone().unwrap();
        assert!(
            (text[0] - 0.4).abs() < 1e-6 && (text[1] - 0.6).abs() < 1e-6,
            "{text:?}"
        );
        assert_eq!(stretch_range(&text), (text[0], text[1]));
        let stretched =
            p.render_inner((0.0, 255.0), &View::new(false, true, false, 0.5, 1.0, true));
        assert_eq!(&stretched[..4], &[0, 0, 0, 255]);
        assert_eq!(&stretched[4..], &[255, 0, 0, 255]);
        let plain = p.render_inner(
            (0.0, 255.0),
            &View::new(false, true, false, 0.5, 1.0, false),
        );
        let want = |v: f32| heat_rgb(v).map(|c| (c * v) as u8);
        assert_eq!(&plain[..3], &want(text[0]));
        assert_eq!(&plain[4..7], &want(text[1]));
        assert_eq!(stretch_range(&[0.5, 0.5]), (0.0, 1.0));
        assert_eq!(stretch_range(&[0.5, 0.505]), (0.0, 1.0));
        assert_eq!(stretch_range(&[f32::NAN, 0.2, 0.7]), (0.2, 0.7));
    }
}
