//! Single-frame DICOM images (issue 23): a radiograph, one CT or MR slice, a secondary capture.
//! Read with the dicom-rs crates (pure Rust, so the page reads them too): uncompressed
//! (implicit or explicit VR), RLE lossless and JPEG (baseline, extended, lossless) pixel data;
//! grey (MONOCHROME1/2) at any bit depth, RGB at 8 bits. Everything else is refused with what
//! is read and how to convert: JPEG 2000, JPEG-LS and deflated files, multi-frame objects,
//! palette colour.
//!
//! Grey values are those of the modality LUT (Rescale Slope and Intercept: Hounsfield units
//! for CT). The display window is the file's first VOI window (Window Center/Width, linear, DICOM
//! PS3.3 C.11.2.1.2), else the values' range; MONOCHROME1 is drawn inverted (low values white).
//! The model sees the image through that window as an 8-bit grey picture ([`DicomImage::to_8bit`]),
//! as a radiograph exported to PNG would be.

use super::image2d::{Image2dError, MAX_PIXELS};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::meta::FileMetaTable;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{
    ConvertOptions, ModalityLutOption, PhotometricInterpretation, PixelDecoder,
    PlanarConfiguration, VoiLutOption,
};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Whether `bytes` are a DICOM file (Part 10: "DICM" after the 128-byte preamble).
pub fn is_dicom(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM")
}

/// What the reader says it supports, for messages.
const SUPPORTED: &str = "semiseg reads single-frame DICOM images, uncompressed, RLE or JPEG \
                         (baseline, extended, lossless), grey or 8-bit RGB";

/// An opened DICOM image in its own units.
#[derive(Debug, Clone)]
pub struct DicomImage {
    pub width: usize,
    pub height: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// `width * height * channels` values, interleaved, row-major: grey after the modality LUT,
    /// RGB as stored (0..255).
    pub values: Vec<f32>,
    /// The display window (lowest, highest value shown), in the units of `values`.
    pub window: (f32, f32),
    /// MONOCHROME1: the lowest value is white.
    pub inverted: bool,
    /// Bits Stored of each sample.
    pub bits: u16,
    /// One line for the page and the CLI: modality, body part, size, encoding.
    pub describe: String,
}

fn error(name: &str, reason: impl Into<String>) -> Image2dError {
    Image2dError::Dicom {
        name: name.to_string(),
        reason: reason.into(),
    }
}

fn parse(bytes: &[u8], name: &str, header_only: bool) -> Result<DefaultDicomObject, Image2dError> {
    if !is_dicom(bytes) {
        return Err(error(
            name,
            "not a DICOM file (no \"DICM\" after the 128-byte preamble); a DICOM file without \
             its preamble (a bare data set) is not read: re-save it as a DICOM file, e.g. with \
             pydicom's `dcmwrite(..., enforce_file_format=True)` or dcmtk's `dcmconv`",
        ));
    }
    // the transfer syntax first: a data set that cannot be decoded (deflated, say) is named
    check_lengths(bytes, None).map_err(|reason| error(name, reason))?;
    let meta = std::panic::catch_unwind(|| FileMetaTable::from_reader(&bytes[128..]));
    let Ok(Ok(meta)) = meta else {
        return Err(error(
            name,
            "a damaged DICOM file (its file meta information cannot be read)",
        ));
    };
    let ts_uid = meta.transfer_syntax().to_string();
    match TransferSyntaxRegistry.get(&ts_uid) {
        Some(t) if t.can_decode_all() => {}
        t => {
            let ts_name =
                t.map_or_else(|| format!("transfer syntax {ts_uid}"), |t| t.name().into());
            return Err(error(
                name,
                format!(
                    "it is encoded as {ts_name}, which semiseg cannot decode; {SUPPORTED}. \
                     Convert it first, e.g. `gdcmconv --raw in.dcm out.dcm` or dcmtk's \
                     `dcmdjpls` / `dcmdjp2k`"
                ),
            ));
        }
    }
    check_lengths(bytes, Some(&ts_uid)).map_err(|reason| error(name, reason))?;
    let mut options = OpenFileOptions::new();
    if header_only {
        options = options.read_until(tags::PIXEL_DATA);
    }
    // the data set's own parse can panic on a malformed file in third-party code: refuse it
    let parsed = std::panic::catch_unwind(|| options.from_reader(&bytes[128..]));
    match parsed {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(e)) => Err(error(name, format!("a damaged DICOM file ({e})"))),
        Err(_) => Err(error(
            name,
            "a damaged DICOM file (its data set cannot be parsed)",
        )),
    }
}

/// Check that every element's length fits in the file before dicom-rs reads it: the parser
/// allocates what a length says (up to 4 GiB) before it finds the file too short, which a damaged
/// length turns into an abort (natively) or a dead page (wasm). Walks the file meta group
/// (explicit VR little endian) and the data set in `ts_uid`'s encoding, entering sequences and
/// items (the dictionary names sequences where the VR is implicit).
/// The VRs whose explicit length has 2 bytes (DICOM PS3.5 7.1.2).
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

fn check_lengths(bytes: &[u8], ts_uid: Option<&str>) -> Result<(), String> {
    const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
    const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
    // the file meta group starts with its length, (0002,0000) UL, as dicom-rs reads it
    let meta_end = match bytes.get(132..144) {
        Some(h) if h[..8] == [2, 0, 0, 0, b'U', b'L', 4, 0] => {
            144 + u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize
        }
        _ => return Err("a damaged DICOM file (its file meta information has no length)".into()),
    };
    let mut at = 132usize;
    let mut fragments = false;
    while at < bytes.len() {
        // a few bytes of padding at the end are left to the parser
        let Some(head) = bytes.get(at..at + 8) else {
            break;
        };
        let meta = at < meta_end;
        // without the transfer syntax, only the file meta group is walked
        let Some(ts_uid) = ts_uid.or(meta.then_some("")) else {
            break;
        };
        let big = !meta && ts_uid == EXPLICIT_BE;
        let u16_at = |i: usize| {
            let b = [head[i], head[i + 1]];
            if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let (group, element) = (u16_at(0), u16_at(2));
        let tag = dicom_core::Tag(group, element);
        let u32_of = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let explicit = meta || ts_uid != IMPLICIT_LE;
        // items and delimiters: tag and a 4-byte length, no VR
        let (len, header, sequence) = if group == 0xFFFE {
            (u32_of(&head[4..8]), 8, element == 0xE000)
        } else if explicit {
            let vr = [head[4], head[5]];
            // the VRs with a 2-byte length; any other, unknown ones included (read as UN by
            // dicom-rs), has 2 reserved bytes and a 4-byte length
            let short = SHORT_VRS.contains(&&vr);
            if !short {
                let long = bytes
                    .get(at + 8..at + 12)
                    .ok_or("a damaged DICOM file (it ends inside an element)")?;
                (u32_of(long), 12, &vr == b"SQ")
            } else {
                (u16_at(6) as u32, 8, false)
            }
        } else {
            use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
            let sq = dicom_dictionary_std::StandardDataDictionary
                .by_tag(tag)
                .is_some_and(|e| matches!(e.vr(), VirtualVr::Exact(dicom_core::VR::SQ)));
            (u32_of(&head[4..8]), 8, sq)
        };
        at += header;
        // encapsulated pixel data: items of bytes (fragments) up to the sequence delimiter
        if fragments {
            if (group, element) == (0xFFFE, 0xE0DD) {
                fragments = false;
                continue;
            }
        } else if tag == dicom_core::Tag(0x7FE0, 0x0010) && len == u32::MAX {
            fragments = true;
            continue;
        }
        // an undefined length (sequences, items, encapsulated pixel data) or a sequence: what
        // follows is elements, walked in turn
        if !fragments && (len == u32::MAX || sequence) {
            continue;
        }
        let left = bytes.len() - at;
        if len as usize > left {
            return Err(format!(
                "a damaged DICOM file: element {tag} says {len} bytes at byte {}, and {left} \
                 remain",
                at - header
            ));
        }
        at += len as usize;
    }
    Ok(())
}

fn int(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<i64> {
    obj.element_opt(tag).ok().flatten()?.to_int::<i64>().ok()
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let s = obj.element_opt(tag).ok().flatten()?.to_str().ok()?;
    let s = s.trim().trim_end_matches('\0').trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The image's header, checked: what the reader can decode, before any pixel is.
struct Header {
    width: usize,
    height: usize,
    samples: usize,
    photometric: String,
    bits: u16,
    transfer_syntax: String,
    modality: Option<String>,
    body_part: Option<String>,
}

fn header(obj: &DefaultDicomObject, name: &str) -> Result<Header, Image2dError> {
    let ts_uid = obj.meta().transfer_syntax().to_string();
    let ts = TransferSyntaxRegistry.get(&ts_uid);
    let ts_name = ts.map_or_else(|| format!("transfer syntax {ts_uid}"), |t| t.name().into());
    let (Some(rows), Some(cols)) = (int(obj, tags::ROWS), int(obj, tags::COLUMNS)) else {
        let kind = text(obj, tags::MODALITY).unwrap_or_else(|| "this object".into());
        return Err(error(
            name,
            format!(
                "holds no image (no Rows and Columns: {kind} is not an image, e.g. a report, \
                 a plan or a structure set); {SUPPORTED}"
            ),
        ));
    };
    if rows <= 0 || cols <= 0 {
        return Err(Image2dError::Empty {
            name: name.into(),
            width: cols.max(0) as u32,
            height: rows.max(0) as u32,
        });
    }
    if rows as u64 * cols as u64 > MAX_PIXELS {
        return Err(Image2dError::TooLarge {
            name: name.into(),
            width: cols as u32,
            height: rows as u32,
        });
    }
    let frames = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(1);
    if frames != 1 {
        return Err(error(
            name,
            format!(
                "holds {frames} frames (a cine loop, a multi-frame or enhanced object); \
                 {SUPPORTED}. Save the frame you want as its own file, e.g. with pydicom"
            ),
        ));
    }
    let photometric = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bits = int(obj, tags::BITS_STORED).unwrap_or(0);
    let allocated = int(obj, tags::BITS_ALLOCATED).unwrap_or(0);
    let grey = samples == 1 && matches!(photometric.as_str(), "MONOCHROME1" | "MONOCHROME2");
    // YBR_FULL_422 and the partial forms are JPEG's own: its decoder gives RGB
    let colour = photometric == "RGB"
        || photometric == "YBR_FULL"
        || photometric.starts_with("YBR") && ts.is_some_and(|t| !t.is_codec_free());
    let rgb = samples == 3 && allocated == 8 && colour;
    if !(grey || rgb) {
        return Err(error(
            name,
            format!(
                "its pixels are {samples} sample(s) of {allocated} bits as \"{photometric}\"; \
                 {SUPPORTED}. Convert it to grey or RGB (e.g. pydicom's `convert_color_space`, \
                 `apply_color_lut`), or export a PNG"
            ),
        ));
    }
    if !(1..=32).contains(&bits) || bits > allocated {
        return Err(error(
            name,
            format!("Bits Stored is {bits} with {allocated} bits allocated: a damaged header"),
        ));
    }
    Ok(Header {
        width: cols as usize,
        height: rows as usize,
        samples: samples as usize,
        photometric,
        bits: bits as u16,
        transfer_syntax: ts_name,
        modality: text(obj, tags::MODALITY),
        body_part: text(obj, tags::BODY_PART_EXAMINED),
    })
}

/// A DICOM file's width and height from its header (checked as [`read_dicom`] checks them).
pub fn dicom_dimensions(bytes: &[u8], name: &str) -> Result<(u32, u32), Image2dError> {
    let h = header(&parse(bytes, name, true)?, name)?;
    Ok((h.width as u32, h.height as u32))
}

/// Read a single-frame DICOM image (see the module's note for what is read).
pub fn read_dicom(bytes: &[u8], name: &str) -> Result<DicomImage, Image2dError> {
    let obj = parse(bytes, name, false)?;
    let h = header(&obj, name)?;
    let decode = || -> Result<(Vec<f32>, Option<Window>), String> {
        let px = obj.decode_pixel_data().map_err(|e| e.to_string())?;
        let n = h.width * h.height;
        if h.samples == 1 {
            let opts = ConvertOptions::new()
                .with_modality_lut(ModalityLutOption::Default)
                .with_voi_lut(VoiLutOption::Identity);
            let values: Vec<f32> = px
                .to_vec_frame_with_options(0, &opts)
                .map_err(|e| e.to_string())?;
            // the file's first window (DICOM PS3.3 C.11.2.1.2, linear): below c - 0.5 - (w-1)/2
            // is black, above c - 0.5 + (w-1)/2 white
            let window = px.window().ok().flatten().and_then(|w| w.first().copied());
            let window = window.filter(|w| w.width >= 1.0).map(|w| {
                let half = (w.width - 1.0) / 2.0;
                (
                    (w.center - 0.5 - half) as f32,
                    (w.center - 0.5 + half) as f32,
                )
            });
            check_len(values, n).map(|v| (v, window))
        } else {
            // 8-bit colour: the decoders give RGB, pixel-interleaved or planar as stored
            let raw = px.frame_data(0).map_err(|e| e.to_string())?;
            let raw = raw
                .get(..3 * n)
                .ok_or("the pixel data are shorter than the image")?;
            let planar = px.planar_configuration() == PlanarConfiguration::PixelFirst;
            let ybr = *px.photometric_interpretation() == PhotometricInterpretation::YbrFull;
            let mut values = vec![0f32; 3 * n];
            for i in 0..n {
                let s = |c: usize| raw[if planar { c * n + i } else { 3 * i + c }] as f32;
                let mut px = [s(0), s(1), s(2)];
                if ybr {
                    px = ybr_full_to_rgb(px);
                }
                values[3 * i..3 * i + 3].copy_from_slice(&px);
            }
            Ok((values, None))
        }
    };
    let (values, window) = std::panic::catch_unwind(decode)
        .unwrap_or_else(|_| Err("the decoder failed on it".into()))
        .map_err(|e| error(name, format!("its pixel data cannot be decoded ({e})")))?;
    let window = window.unwrap_or_else(|| {
        if h.samples == 3 {
            (0.0, 255.0)
        } else {
            value_range(&values)
        }
    });
    let describe = format!(
        "{}{}{}×{} pixels, {} {}-bit {}, DICOM ({})",
        h.modality
            .as_deref()
            .map(|m| format!("{m} "))
            .unwrap_or_default(),
        h.body_part
            .as_deref()
            .map(|b| format!("{} ", b.to_lowercase()))
            .unwrap_or_default(),
        h.width,
        h.height,
        if h.samples == 1 { "grey" } else { "colour" },
        h.bits,
        h.photometric,
        h.transfer_syntax
    );
    Ok(DicomImage {
        width: h.width,
        height: h.height,
        channels: h.samples,
        values,
        window,
        inverted: h.photometric == "MONOCHROME1",
        bits: h.bits,
        describe,
    })
}

/// A display window: the lowest and highest value shown.
type Window = (f32, f32);

fn check_len(mut values: Vec<f32>, n: usize) -> Result<Vec<f32>, String> {
    if values.len() < n {
        return Err(format!("{} values for {n} pixels", values.len()));
    }
    // in place: a copy would hold a second f32 image (TextGuidedMemory counts one)
    values.truncate(n);
    Ok(values)
}

/// The lowest and highest finite value; `None` when there is none.
pub fn finite_extent(values: &[f32]) -> Option<(f32, f32)> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

/// The lowest and highest finite value, as a display window (a flat image gets a window one
/// unit wide; no finite value, 0 to 1).
pub fn value_range(values: &[f32]) -> (f32, f32) {
    match finite_extent(values) {
        Some((lo, hi)) if hi > lo => (lo, hi),
        Some((lo, _)) => (lo, lo + 1.0),
        None => (0.0, 1.0),
    }
}

/// YBR_FULL to RGB (DICOM PS3.3 C.7.6.3.1.2, the JPEG/JFIF transform).
fn ybr_full_to_rgb([y, cb, cr]: [f32; 3]) -> [f32; 3] {
    let r = y + 1.402 * (cr - 128.0);
    let g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0);
    let b = y + 1.772 * (cb - 128.0);
    [r, g, b].map(|v| v.round().clamp(0.0, 255.0))
}

impl DicomImage {
    /// The image through `window` as 8-bit values (interleaved as `values`), MONOCHROME1
    /// inverted so that bright is dense, as a radiograph exported to PNG.
    pub fn to_8bit_with(&self, (lo, hi): (f32, f32)) -> Vec<u8> {
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        self.values
            .iter()
            .map(|&v| {
                let g = ((v - lo) * scale).clamp(0.0, 255.0).round();
                let g = if self.inverted { 255.0 - g } else { g };
                g as u8
            })
            .collect()
    }

    /// [`DicomImage::to_8bit_with`] the file's own window: what the model sees.
    pub fn to_8bit(&self) -> Vec<u8> {
        self.to_8bit_with(self.window)
    }
}
