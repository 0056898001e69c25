//! 2D images and masks as the AMVLM/LViT loaders see them (spec A1): any PNG, JPEG or TIFF (gray,
//! RGB, RGBA, 8 or 16 bits) becomes RGB floats in [0, 1], channel-first, resized to a square
//! `size x size` (224 by default) with OpenCV's `INTER_LINEAR` rule; no mean/std normalisation.
//! Masks become 0/1 bytes: foreground is any non-zero value, resized nearest-neighbour (or, as the
//! reference loaders do, bilinearly and then `> 0`: see [`MaskResize`]).
//!
//! Checked against OpenCV 5.0 on a MoNuSeg image (512 to 224, 100 and 700 pixels): images agree
//! to within one grey level (cv2 uses fixed-point weights; 13% of values differ by 1/255), masks
//! resized nearest-neighbour agree exactly, and bilinear-then-`> 0` masks agree exactly when
//! shrinking (5 of 211 458 foreground pixels differ when enlarging to 700).
//!
//! Channel order: the reference code reads with `cv2.imread`, so its network sees **BGR**. These
//! images are RGB; [`Image2d::swap_red_blue`] gives the BGR order where weights trained on cv2's
//! order are reused.

use super::dicom::{dicom_dimensions, is_dicom, read_dicom};
use image::DynamicImage;
use std::path::{Path, PathBuf};

/// The AMVLM input side (224 x 224).
pub const DEFAULT_IMAGE_SIZE: usize = 224;

/// Why an image or mask could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Image2dError {
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{name}: not a readable PNG, JPEG, TIFF or DICOM image ({reason})")]
    Decode { name: String, reason: String },
    #[error("{name}: {reason}")]
    Dicom { name: String, reason: String },
    #[error("{name}: the image has no pixels ({width} x {height})")]
    Empty {
        name: String,
        width: u32,
        height: u32,
    },
    #[error("output size {0} is not usable; use a side of at least 1 pixel (AMVLM uses 224)")]
    BadSize(usize),
    #[error("{name}: {width} x {height} pixels is more than semiseg reads ({} megapixels); downsample or crop it first", MAX_PIXELS >> 20)]
    TooLarge {
        name: String,
        width: u32,
        height: u32,
    },
    #[error("{name}: {got} values given for a {width} x {height} image, expected {expected}")]
    WrongLength {
        name: String,
        width: usize,
        height: usize,
        got: usize,
        expected: usize,
    },
}

/// An RGB image, channel-first (`data[(c * size + row) * size + col]`), values in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Image2d {
    pub size: usize,
    /// `3 * size * size` values: the red plane, then green, then blue.
    pub data: Vec<f32>,
}

/// A binary mask (`data[row * size + col]` is 0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask2d {
    pub size: usize,
    pub data: Vec<u8>,
}

/// How a mask is brought to the model's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskResize {
    /// Nearest neighbour (OpenCV `INTER_NEAREST`): the mask keeps its shape and never grows.
    #[default]
    Nearest,
    /// What the LViT and AMVLM loaders do: `cv2.resize` of the 0/255 mask with the default
    /// `INTER_LINEAR`, then `> 0`. Every output pixel that any foreground pixel contributes to (by at
    /// least half a grey level) is foreground, so masks grow by up to a pixel when downsampled.
    LinearAny,
}

/// The largest image read: 64 megapixels (as the page), checked from the header before decoding.
pub const MAX_PIXELS: u64 = 1 << 26;

/// An image file's width and height from its header alone (PNG, JPEG, TIFF), checked: a file
/// that is not an image, has no pixels, or passes [`MAX_PIXELS`] is an error.
pub fn image_dimensions(path: &Path) -> Result<(u32, u32), Image2dError> {
    let io = |cause| Image2dError::Io {
        path: path.into(),
        cause,
    };
    let reader = image::ImageReader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?;
    checked_dimensions(reader, &path.display().to_string())
}

/// An image's width and height from its bytes' header alone (PNG, JPEG, TIFF or DICOM), checked
/// as [`image_dimensions`].
pub fn bytes_dimensions(bytes: &[u8], name: &str) -> Result<(u32, u32), Image2dError> {
    if is_dicom(bytes) {
        return dicom_dimensions(bytes, name);
    }
    checked_dimensions(guessed_reader(bytes, name)?, name)
}

/// A reader of `bytes` whose format is guessed from their first bytes.
fn guessed_reader<'a>(
    bytes: &'a [u8],
    name: &str,
) -> Result<image::ImageReader<std::io::Cursor<&'a [u8]>>, Image2dError> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Image2dError::Decode {
            name: name.to_string(),
            reason: e.to_string(),
        })
}

fn checked_dimensions<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    name: &str,
) -> Result<(u32, u32), Image2dError> {
    let (width, height) = reader.into_dimensions().map_err(|e| Image2dError::Decode {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    if width == 0 || height == 0 {
        return Err(Image2dError::Empty {
            name: name.to_string(),
            width,
            height,
        });
    }
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(Image2dError::TooLarge {
            name: name.to_string(),
            width,
            height,
        });
    }
    Ok((width, height))
}

fn decode(bytes: &[u8], name: &str) -> Result<DynamicImage, Image2dError> {
    checked_dimensions(guessed_reader(bytes, name)?, name)?;
    let img = image::load_from_memory(bytes).map_err(|e| Image2dError::Decode {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Image2dError::Empty {
            name: name.to_string(),
            width: img.width(),
            height: img.height(),
        });
    }
    Ok(img)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, Image2dError> {
    std::fs::read(path).map_err(|cause| Image2dError::Io {
        path: path.into(),
        cause,
    })
}

fn check_size(size: usize) -> Result<(), Image2dError> {
    if size == 0 {
        return Err(Image2dError::BadSize(size));
    }
    Ok(())
}

/// Resize an interleaved image (`src[(row * width + col) * channels + c]`) with OpenCV's
/// `INTER_LINEAR` rule: the output pixel `d` samples the input at `(d + 0.5) * in / out - 0.5`,
/// bilinearly, with positions clamped to the border (no antialiasing when shrinking, as cv2).
/// It reads 8-bit pixels as they are (`T = u8`), so that a large decoded image needs no f32 copy.
///
/// # Panics
/// If `src` does not hold `width * height * channels` values or a side is 0 (a caller's bug:
/// decoded images always fit).
pub fn resize_linear<T: Copy + Into<f32>>(
    src: &[T],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<f32> {
    assert_eq!(
        src.len(),
        width * height * channels,
        "resize_linear: bad length"
    );
    assert!(width > 0 && height > 0, "resize_linear: empty image");
    let xs = linear_taps(width, out_width);
    let ys = linear_taps(height, out_height);
    let mut out = vec![0.0f32; out_width * out_height * channels];
    for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, wx)) in xs.iter().enumerate() {
            for c in 0..channels {
                let at = |y: usize, x: usize| -> f32 { src[(y * width + x) * channels + c].into() };
                let top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx;
                let bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx;
                out[(oy * out_width + ox) * channels + c] = top * (1.0 - wy) + bottom * wy;
            }
        }
    }
    out
}

/// For each output index: the two input indices and the weight of the second (cv2's rule).
fn linear_taps(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut s = f.floor();
            let mut w = f - s;
            if s < 0.0 {
                s = 0.0;
                w = 0.0;
            }
            let mut s = s as usize;
            if s >= input - 1 {
                s = input - 1;
                w = 0.0;
            }
            (s, (s + 1).min(input - 1), w as f32)
        })
        .collect()
}

/// Resize an interleaved image nearest-neighbour with OpenCV's `INTER_NEAREST` rule: output pixel
/// `d` takes input `floor(d * in / out)`.
///
/// # Panics
/// As [`resize_linear`].
pub fn resize_nearest<T: Copy>(
    src: &[T],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<T> {
    assert_eq!(
        src.len(),
        width * height * channels,
        "resize_nearest: bad length"
    );
    assert!(width > 0 && height > 0, "resize_nearest: empty image");
    let pick = |input: usize, output: usize| -> Vec<usize> {
        let scale = input as f64 / output as f64;
        (0..output)
            .map(|d| ((d as f64 * scale).floor() as usize).min(input - 1))
            .collect()
    };
    let xs = pick(width, out_width);
    let ys = pick(height, out_height);
    let mut out = Vec::with_capacity(out_width * out_height * channels);
    for &y in &ys {
        for &x in &xs {
            out.extend_from_slice(&src[(y * width + x) * channels..][..channels]);
        }
    }
    out
}

impl Image2d {
    /// Decode PNG, JPEG or TIFF bytes (`name` is used in error messages) and resize to `size`.
    ///
    /// Gray images are repeated over the three channels and alpha is dropped (as `cv2.imread`).
    /// 8-bit images are rounded to whole grey levels after resizing, as cv2 returns `uint8`, then
    /// divided by 255; 16-bit and float images keep their precision (16-bit divided by 65535).
    ///
    /// A DICOM file (see `data/dicom.rs`) is read through its own display window as 8-bit.
    pub fn from_bytes(bytes: &[u8], name: &str, size: usize) -> Result<Image2d, Image2dError> {
        check_size(size)?;
        if is_dicom(bytes) {
            let d = read_dicom(bytes, name)?;
            let eight = d.to_8bit();
            if d.channels == 1 {
                return Self::from_gray8(&eight, d.width, d.height, size);
            }
            let rgb: Vec<f32> = resize_linear(&eight, d.width, d.height, 3, size, size)
                .into_iter()
                .map(|v| v.round().clamp(0.0, 255.0) / 255.0)
                .collect();
            return Ok(Self::from_interleaved(&rgb, size));
        }
        let img = decode(bytes, name)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let eight_bit = matches!(
            img,
            DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_)
        );
        let grey = matches!(
            img,
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_)
        );
        if grey {
            // resizing the grey plane and repeating it equals resizing its RGB copy
            return Self::from_gray8(img.into_luma8().as_raw(), w, h, size);
        }
        let interleaved: Vec<f32> = if eight_bit {
            // `into_rgb8` keeps an RGB image's own buffer; RGBA is converted and then freed
            let rgb = img.into_rgb8();
            resize_linear(rgb.as_raw(), w, h, 3, size, size)
                .into_iter()
                .map(|v| v.round().clamp(0.0, 255.0) / 255.0)
                .collect()
        } else {
            let rgb = img.to_rgb32f();
            resize_linear(rgb.as_raw(), w, h, 3, size, size)
                .into_iter()
                .map(|v| v.clamp(0.0, 1.0))
                .collect()
        };
        Ok(Self::from_interleaved(&interleaved, size))
    }

    /// Read and decode an image file (see [`Image2d::from_bytes`]).
    pub fn read(path: &Path, size: usize) -> Result<Image2d, Image2dError> {
        Self::from_bytes(&read_bytes(path)?, &path.display().to_string(), size)
    }

    /// A grey 8-bit image (`pixels[row * width + col]`), e.g. a synthetic radiograph, resized to
    /// `size` like a decoded file would be.
    pub fn from_gray8(
        pixels: &[u8],
        width: usize,
        height: usize,
        size: usize,
    ) -> Result<Image2d, Image2dError> {
        check_size(size)?;
        if pixels.len() != width * height || pixels.is_empty() {
            return Err(Image2dError::WrongLength {
                name: "grey image".into(),
                width,
                height,
                got: pixels.len(),
                expected: width * height,
            });
        }
        let gray: Vec<f32> = resize_linear(pixels, width, height, 1, size, size)
            .into_iter()
            .map(|v| v.round().clamp(0.0, 255.0) / 255.0)
            .collect();
        let mut data = Vec::with_capacity(3 * size * size);
        for _ in 0..3 {
            data.extend_from_slice(&gray);
        }
        Ok(Image2d { size, data })
    }

    fn from_interleaved(rgb: &[f32], size: usize) -> Image2d {
        let n = size * size;
        let mut data = vec![0.0f32; 3 * n];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[c * n + i] = px[c];
            }
        }
        Image2d { size, data }
    }

    /// The value of channel `c` (0 red, 1 green, 2 blue) at (`row`, `col`).
    pub fn get(&self, c: usize, row: usize, col: usize) -> f32 {
        self.data[(c * self.size + row) * self.size + col]
    }

    /// The same image with the red and blue planes exchanged (RGB <-> BGR, cv2's order).
    pub fn swap_red_blue(&self) -> Image2d {
        let n = self.size * self.size;
        let mut data = Vec::with_capacity(3 * n);
        data.extend_from_slice(&self.data[2 * n..]);
        data.extend_from_slice(&self.data[n..2 * n]);
        data.extend_from_slice(&self.data[..n]);
        Image2d {
            size: self.size,
            data,
        }
    }
}

/// Which pixels of a decoded mask are foreground: any colour channel non-zero (alpha ignored), as
/// the reference loaders read a mask through its RGB values. Read from the decoded samples
/// without an f32 copy.
pub fn foreground_pixels(img: &DynamicImage) -> Vec<bool> {
    fn any<T: Copy + PartialOrd + Default>(raw: &[T], channels: usize, colour: usize) -> Vec<bool> {
        raw.chunks_exact(channels)
            .map(|px| px[..colour].iter().any(|&v| v > T::default()))
            .collect()
    }
    match img {
        DynamicImage::ImageLuma8(b) => any(b.as_raw(), 1, 1),
        DynamicImage::ImageLumaA8(b) => any(b.as_raw(), 2, 1),
        DynamicImage::ImageRgb8(b) => any(b.as_raw(), 3, 3),
        DynamicImage::ImageRgba8(b) => any(b.as_raw(), 4, 3),
        DynamicImage::ImageLuma16(b) => any(b.as_raw(), 1, 1),
        DynamicImage::ImageLumaA16(b) => any(b.as_raw(), 2, 1),
        DynamicImage::ImageRgb16(b) => any(b.as_raw(), 3, 3),
        DynamicImage::ImageRgba16(b) => any(b.as_raw(), 4, 3),
        DynamicImage::ImageRgb32F(b) => any(b.as_raw(), 3, 3),
        DynamicImage::ImageRgba32F(b) => any(b.as_raw(), 4, 3),
        other => any(other.to_rgb32f().as_raw(), 3, 3),
    }
}

/// The share of a decoded image's pixels whose brightest colour channel lies strictly between
/// 10 % and 90 % of the pixel type's range (alpha ignored): near 0 for a mask (0/255, 0/1 or a
/// few label values; a JPEG's ringing at edges stays well under 1 %), large for a photograph, a
/// radiograph or a stained slide. Read from the decoded samples without an f32 copy.
pub fn mid_tone_share(img: &DynamicImage) -> f64 {
    fn share<T: Copy + Into<f64>>(raw: &[T], channels: usize, colour: usize, top: f64) -> f64 {
        let mut mid = 0usize;
        let mut n = 0usize;
        for px in raw.chunks_exact(channels) {
            let v = px[..colour]
                .iter()
                .map(|&c| c.into())
                .fold(f64::MIN, f64::max)
                / top;
            mid += (v > 0.1 && v < 0.9) as usize;
            n += 1;
        }
        mid as f64 / n.max(1) as f64
    }
    match img {
        DynamicImage::ImageLuma8(b) => share(b.as_raw(), 1, 1, 255.0),
        DynamicImage::ImageLumaA8(b) => share(b.as_raw(), 2, 1, 255.0),
        DynamicImage::ImageRgb8(b) => share(b.as_raw(), 3, 3, 255.0),
        DynamicImage::ImageRgba8(b) => share(b.as_raw(), 4, 3, 255.0),
        DynamicImage::ImageLuma16(b) => share(b.as_raw(), 1, 1, 65535.0),
        DynamicImage::ImageLumaA16(b) => share(b.as_raw(), 2, 1, 65535.0),
        DynamicImage::ImageRgb16(b) => share(b.as_raw(), 3, 3, 65535.0),
        DynamicImage::ImageRgba16(b) => share(b.as_raw(), 4, 3, 65535.0),
        DynamicImage::ImageRgb32F(b) => share(b.as_raw(), 3, 3, 1.0),
        DynamicImage::ImageRgba32F(b) => share(b.as_raw(), 4, 3, 1.0),
        other => share(other.to_rgb32f().as_raw(), 3, 3, 1.0),
    }
}

impl Mask2d {
    /// Decode a mask (PNG, JPEG or TIFF; any depth and channels, alpha ignored): a pixel is
    /// foreground when any colour channel is non-zero. Resized to `size` as `how` says.
    pub fn from_bytes(
        bytes: &[u8],
        name: &str,
        size: usize,
        how: MaskResize,
    ) -> Result<Mask2d, Image2dError> {
        check_size(size)?;
        let img = decode(bytes, name)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let binary: Vec<u8> = foreground_pixels(&img)
            .into_iter()
            .map(|f| f as u8)
            .collect();
        Ok(Self::resize_binary(&binary, w, h, size, how))
    }

    /// Read and decode a mask file (see [`Mask2d::from_bytes`]).
    pub fn read(path: &Path, size: usize, how: MaskResize) -> Result<Mask2d, Image2dError> {
        Self::from_bytes(&read_bytes(path)?, &path.display().to_string(), size, how)
    }

    /// A mask from values where non-zero is foreground (`values[row * width + col]`), resized.
    pub fn from_values(
        values: &[u8],
        width: usize,
        height: usize,
        size: usize,
        how: MaskResize,
    ) -> Result<Mask2d, Image2dError> {
        check_size(size)?;
        if values.len() != width * height || values.is_empty() {
            return Err(Image2dError::WrongLength {
                name: "mask".into(),
                width,
                height,
                got: values.len(),
                expected: width * height,
            });
        }
        let binary: Vec<u8> = values.iter().map(|&v| (v > 0) as u8).collect();
        Ok(Self::resize_binary(&binary, width, height, size, how))
    }

    fn resize_binary(binary: &[u8], w: usize, h: usize, size: usize, how: MaskResize) -> Mask2d {
        let data = match how {
            MaskResize::Nearest => resize_nearest(binary, w, h, 1, size, size),
            MaskResize::LinearAny => {
                let src: Vec<u8> = binary.iter().map(|&v| v * 255).collect();
                resize_linear(&src, w, h, 1, size, size)
                    .into_iter()
                    .map(|v| (v.round() > 0.0) as u8)
                    .collect()
            }
        };
        Mask2d { size, data }
    }

    /// The value at (`row`, `col`).
    pub fn get(&self, row: usize, col: usize) -> u8 {
        self.data[row * self.size + col]
    }

    /// The number of foreground pixels.
    pub fn foreground(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
    use std::io::Cursor;

    fn encode<P: image::Pixel + image::PixelWithColorType>(
        img: ImageBuffer<P, Vec<P::Subpixel>>,
        format: ImageFormat,
    ) -> Vec<u8>
    where
        ImageBuffer<P, Vec<P::Subpixel>>: Into<DynamicImage>,
    {
        let dynamic: DynamicImage = img.into();
        let mut out = Cursor::new(Vec::new());
        dynamic.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn two_by_two_to_four_by_four_as_cv2() {
        // cv2.resize(np.array([[0, 200], [100, 40]], np.uint8), (4, 4)) computed by hand:
        // column weights (of the right pixel) 0, 1/4, 3/4, 1, the same for rows.
        let img = ImageBuffer::from_fn(2, 2, |x, y| {
            Luma([[[0u8, 200], [100, 40]][y as usize][x as usize]])
        });
        let got = Image2d::from_bytes(&encode(img, ImageFormat::Png), "t.png", 4).unwrap();
        let w = [0.0, 0.25, 0.75, 1.0];
        let px = [[0.0f32, 200.0], [100.0, 40.0]];
        for r in 0..4 {
            for c in 0..4 {
                let top = px[0][0] * (1.0 - w[c]) + px[0][1] * w[c];
                let bottom = px[1][0] * (1.0 - w[c]) + px[1][1] * w[c];
                let want = (top * (1.0 - w[r]) + bottom * w[r]).round() / 255.0;
                for ch in 0..3 {
                    assert_eq!(got.get(ch, r, c), want, "({r}, {c}) channel {ch}");
                }
            }
        }
        // spot values: the corners keep theirs, (1, 1) mixes 9/16, 3/16, 3/16, 1/16
        assert_eq!(got.get(0, 3, 3), 40.0 / 255.0);
        assert_eq!(
            got.get(0, 1, 1),
            (0.5625f32 * 0.0 + 0.1875 * 200.0 + 0.1875 * 100.0 + 0.0625 * 40.0).round() / 255.0
        );
    }

    #[test]
    fn colour_channels_are_rgb_and_alpha_is_dropped() {
        let img = ImageBuffer::from_fn(3, 2, |x, _| Rgba([10 * x as u8, 100, 255, (x * 60) as u8]));
        let got = Image2d::from_bytes(&encode(img, ImageFormat::Png), "rgba.png", 3).unwrap();
        assert_eq!(got.data.len(), 3 * 9);
        for r in 0..3 {
            for c in 0..3 {
                assert_eq!(got.get(0, r, c), (10 * c) as f32 / 255.0);
                assert_eq!(got.get(1, r, c), 100.0 / 255.0);
                assert_eq!(got.get(2, r, c), 1.0);
            }
        }
        let bgr = got.swap_red_blue();
        assert_eq!(bgr.get(0, 0, 2), 1.0);
        assert_eq!(bgr.get(2, 0, 2), 20.0 / 255.0);
    }

    #[test]
    fn sixteen_bit_keeps_precision() {
        let img: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(2, 1, |x, _| Luma([[1000u16, 65535][x as usize]]));
        let got = Image2d::from_bytes(&encode(img, ImageFormat::Png), "g16.png", 2).unwrap();
        assert!((got.get(1, 0, 0) - 1000.0 / 65535.0).abs() < 1e-6);
        assert_eq!(got.get(2, 1, 1), 1.0);
        // a 16-bit mask with the value 1 is foreground (cv2's 8-bit conversion would lose it)
        let m: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(2, 2, |x, y| Luma([(x == 1 && y == 0) as u16]));
        let mask = Mask2d::from_bytes(
            &encode(m, ImageFormat::Png),
            "m16.png",
            2,
            MaskResize::Nearest,
        )
        .unwrap();
        assert_eq!(mask.data, vec![0, 1, 0, 0]);
    }

    #[test]
    fn jpeg_and_tiff_decode() {
        let img = ImageBuffer::from_fn(8, 8, |_, _| Rgb([128u8, 128, 128]));
        let jpg = Image2d::from_bytes(&encode(img.clone(), ImageFormat::Jpeg), "a.jpg", 4).unwrap();
        assert!(jpg
            .data
            .iter()
            .all(|&v| (v - 128.0 / 255.0).abs() < 3.0 / 255.0));
        let tif = Image2d::from_bytes(&encode(img, ImageFormat::Tiff), "a.tif", 8).unwrap();
        assert!(tif.data.iter().all(|&v| v == 128.0 / 255.0));
    }

    #[test]
    fn masks_resize_nearest_or_like_the_reference_loaders() {
        // 4x4 with a single foreground pixel at (1, 2), value 255
        let mut values = vec![0u8; 16];
        values[4 + 2] = 255;
        let near = Mask2d::from_values(&values, 4, 4, 2, MaskResize::Nearest).unwrap();
        // nearest picks inputs 0 and 2 in each direction: (1, 2) is not picked
        assert_eq!(near.data, vec![0, 0, 0, 0]);
        let any = Mask2d::from_values(&values, 4, 4, 2, MaskResize::LinearAny).unwrap();
        // linear samples at 0.5 and 2.5: output (0, 1) mixes rows 0-1 and columns 2-3
        assert_eq!(any.data, vec![0, 1, 0, 0]);
        let up = Mask2d::from_values(&[0, 7, 0, 0], 2, 2, 4, MaskResize::Nearest).unwrap();
        assert_eq!(up.foreground(), 4);
        assert_eq!(up.get(0, 2), 1);
        assert_eq!(up.get(1, 3), 1);
        assert_eq!(up.get(2, 3), 0);
    }

    #[test]
    fn bad_bytes_name_the_file() {
        let err = Image2d::from_bytes(b"not an image", "scan_01.png", 224).unwrap_err();
        assert!(err.to_string().contains("scan_01.png"), "{err}");
        let err = Mask2d::from_bytes(b"", "m.png", 224, MaskResize::Nearest).unwrap_err();
        assert!(err.to_string().contains("m.png"), "{err}");
        let err = Image2d::from_gray8(&[1, 2, 3], 2, 2, 4).unwrap_err();
        assert!(err.to_string().contains("expected 4"), "{err}");
        assert!(matches!(
            Image2d::from_gray8(&[1; 4], 2, 2, 0),
            Err(Image2dError::BadSize(0))
        ));
    }

    /// 8-bit images are resized from their decoded pixels (no f32 copy); grey ones through their
    /// grey plane. Reference: the former route, each pixel's RGB8 copy as f32 resized and rounded.
    #[test]
    fn eight_bit_images_resize_as_their_rgb_copy() {
        let v = |x: u32, y: u32, k: u32| ((x * 37 + y * 91 + k * 53) % 256) as u8;
        let images: Vec<DynamicImage> = vec![
            ImageBuffer::from_fn(7, 5, |x, y| Luma([v(x, y, 0)])).into(),
            ImageBuffer::from_fn(7, 5, |x, y| image::LumaA([v(x, y, 0), v(x, y, 3)])).into(),
            ImageBuffer::from_fn(7, 5, |x, y| Rgb([v(x, y, 0), v(x, y, 1), v(x, y, 2)])).into(),
            ImageBuffer::from_fn(7, 5, |x, y| {
                Rgba([v(x, y, 0), v(x, y, 1), v(x, y, 2), v(x, y, 3)])
            })
            .into(),
        ];
        for (i, img) in images.into_iter().enumerate() {
            let mut png = Cursor::new(Vec::new());
            img.write_to(&mut png, ImageFormat::Png).unwrap();
            let rgb: Vec<f32> = img.to_rgb8().as_raw().iter().map(|&b| b as f32).collect();
            for size in [3, 9] {
                let want: Vec<f32> = resize_linear(&rgb, 7, 5, 3, size, size)
                    .into_iter()
                    .map(|x| x.round().clamp(0.0, 255.0) / 255.0)
                    .collect();
                let got = Image2d::from_bytes(png.get_ref(), "e.png", size).unwrap();
                assert_eq!(
                    got,
                    Image2d::from_interleaved(&want, size),
                    "image {i}, size {size}"
                );
            }
        }
    }

    /// Mid-tones by hand: the brightest colour channel over the type's range, strictly inside
    /// (0.1, 0.9); alpha ignored.
    #[test]
    fn mid_tone_shares_by_hand() {
        // 0, 25 (0.098), 26 (0.102), 229 (0.898), 230 (0.902), 255: two of six are mid-tones
        let grey: DynamicImage = ImageBuffer::from_fn(6, 1, |x, _| {
            Luma([[0u8, 25, 26, 229, 230, 255][x as usize]])
        })
        .into();
        assert!((mid_tone_share(&grey) - 2.0 / 6.0).abs() < 1e-12);
        // RGB: the brightest channel counts (128 in one channel: a mid-tone; 255 anywhere: not)
        let rgb: DynamicImage = ImageBuffer::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgb([0u8, 128, 3])
            } else {
                Rgb([255, 128, 0])
            }
        })
        .into();
        assert_eq!(mid_tone_share(&rgb), 0.5);
        // alpha is not a colour: a half-transparent black is black
        let rgba: DynamicImage = ImageBuffer::from_fn(1, 1, |_, _| Rgba([0u8, 0, 0, 128])).into();
        assert_eq!(mid_tone_share(&rgba), 0.0);
        // 16-bit: the range is 65535
        let deep: DynamicImage =
            ImageBuffer::from_fn(2, 1, |x, _| Luma([[255u16, 30000][x as usize]])).into();
        assert_eq!(mid_tone_share(&deep), 0.5);
    }

    /// The foreground rule read from the decoded samples equals the former one, any channel of
    /// the f32 RGB copy above 0, for every sample type (alpha alone is not foreground).
    #[test]
    fn foreground_pixels_as_their_rgb_values() {
        let v = |x: u32, k: u32| [0u8, 0, 1, 0, 200][((x + k) % 5) as usize];
        let w = |x: u32, k: u32| v(x, k) as u16 * (1 + x as u16 % 2);
        let images: Vec<DynamicImage> = vec![
            ImageBuffer::from_fn(9, 2, |x, _| Luma([v(x, 0)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| image::LumaA([v(x, 0), 255])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgb([v(x, 0), v(x, 1), v(x, 3)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgba([v(x, 0), v(x, 1), 0, v(x, 2)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Luma([w(x, 0)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| image::LumaA([w(x, 0), 1])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgb([w(x, 0), 0, w(x, 2)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgba([0, w(x, 1), 0, w(x, 3)])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgb([v(x, 0) as f32 - 0.5, -1.0, 0.0])).into(),
            ImageBuffer::from_fn(9, 2, |x, _| Rgba([0.0, v(x, 1) as f32, 0.0, 1.0])).into(),
        ];
        for (i, img) in images.iter().enumerate() {
            let want: Vec<bool> = img
                .to_rgb32f()
                .as_raw()
                .chunks_exact(3)
                .map(|px| px.iter().any(|&c| c > 0.0))
                .collect();
            let got = foreground_pixels(img);
            assert_eq!(got, want, "image {i}");
            assert!(
                got.iter().any(|&f| f) && got.iter().any(|&f| !f),
                "image {i}"
            );
        }
    }

    #[test]
    fn gray8_matches_a_decoded_png() {
        let px: Vec<u8> = (0..30u8).map(|v| v * 8).collect();
        let img = ImageBuffer::from_raw(6, 5, px.clone())
            .map(|b: ImageBuffer<Luma<u8>, _>| b)
            .unwrap();
        let a = Image2d::from_bytes(&encode(img, ImageFormat::Png), "g.png", 7).unwrap();
        let b = Image2d::from_gray8(&px, 6, 5, 7).unwrap();
        assert_eq!(a, b);
    }
}
