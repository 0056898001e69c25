//! DICOM images (issue 23, `shared/src/data/dicom.rs`) against what pydicom 3 reads from the same
//! files (tests/fixtures/dicom, make_fixtures.py: pydicom's and pydicom-data's test files and a
//! real chest radiograph made smaller): size, the modality-LUT values, the window; what the model
//! sees; and a clear refusal for each kind of file the reader does not handle.

use semiseg::data::{bytes_dimensions, is_dicom, read_dicom, Image2d, Image2dError};
use semiseg_integration::fixtures;

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("dicom").join(name)).unwrap()
}

#[test]
fn reads_as_pydicom_does() {
    let expected: serde_json::Value = serde_json::from_slice(&bytes("expected.json")).unwrap();
    for (name, want) in expected.as_object().unwrap() {
        let b = bytes(name);
        assert!(is_dicom(&b), "{name}");
        let d = read_dicom(&b, name).unwrap_or_else(|e| panic!("{e}"));
        let (rows, cols) = (
            want["rows"].as_u64().unwrap(),
            want["columns"].as_u64().unwrap(),
        );
        assert_eq!((d.height as u64, d.width as u64), (rows, cols), "{name}");
        assert_eq!(
            d.channels as u64,
            want["channels"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            d.values.len() as u64,
            rows * cols * d.channels as u64,
            "{name}"
        );
        assert_eq!(
            bytes_dimensions(&b, name).unwrap(),
            (cols as u32, rows as u32),
            "{name}"
        );
        // lossy JPEG: two decoders may round differently; everything else is exact
        let tol = if name.contains("jpeg") { 3.0 } else { 1e-3 };
        let at = want["at"].as_array().unwrap();
        for (i, v) in at.iter().zip(want["values"].as_array().unwrap()) {
            let (i, v) = (i.as_u64().unwrap() as usize, v.as_f64().unwrap());
            let got = d.values[i] as f64;
            assert!((got - v).abs() <= tol, "{name}[{i}]: {got} vs pydicom {v}");
        }
        let sum: f64 = d.values.iter().map(|&v| v as f64).sum();
        let want_sum = want["sum"].as_f64().unwrap();
        let n = d.values.len() as f64;
        assert!(
            (sum - want_sum).abs() <= tol.max(1e-6 * want_sum.abs()) * n.sqrt().max(1.0) * 2.0
                || (sum - want_sum).abs() / n <= tol * 0.5,
            "{name}: sum {sum} vs pydicom {want_sum}"
        );
        match want["window_center_width"].as_array() {
            // DICOM PS3.3 C.11.2.1.2: c - 0.5 -+ (w - 1) / 2
            Some(cw) => {
                let (c, w) = (cw[0].as_f64().unwrap(), cw[1].as_f64().unwrap());
                let lo = c - 0.5 - (w - 1.0) / 2.0;
                let hi = c - 0.5 + (w - 1.0) / 2.0;
                assert!(
                    (d.window.0 as f64 - lo).abs() < 1e-3 && (d.window.1 as f64 - hi).abs() < 1e-3,
                    "{name}: window {:?} vs ({lo}, {hi})",
                    d.window
                );
            }
            None if d.channels == 1 => {
                let (lo, hi) = (want["min"].as_f64().unwrap(), want["max"].as_f64().unwrap());
                assert_eq!((d.window.0 as f64, d.window.1 as f64), (lo, hi), "{name}");
            }
            None => assert_eq!(d.window, (0.0, 255.0), "{name}"),
        }
        assert_eq!(
            d.inverted,
            want["photometric"] == "MONOCHROME1",
            "{name}: MONOCHROME1 is drawn inverted"
        );
    }
}

#[test]
fn the_model_sees_the_window_in_8_bits() {
    // a real chest radiograph, MONOCHROME1: the model's grey is 255 minus the windowed value
    let b = bytes("chest_cr.dcm");
    let d = read_dicom(&b, "chest_cr.dcm").unwrap();
    assert!(
        d.inverted && d.describe.contains("CR chest"),
        "{}",
        d.describe
    );
    let (lo, hi) = d.window;
    let eight = d.to_8bit();
    for i in [0, 1000, 70_000, d.values.len() - 1] {
        let g = ((d.values[i] - lo) / (hi - lo) * 255.0)
            .clamp(0.0, 255.0)
            .round();
        assert_eq!(eight[i] as f32, 255.0 - g, "pixel {i}");
    }
    let img = Image2d::from_bytes(&b, "chest_cr.dcm", 32).unwrap();
    assert_eq!(
        img,
        Image2d::from_gray8(&eight, d.width, d.height, 32).unwrap()
    );
    // colour: the same planes whether stored interleaved or planar
    let a = read_dicom(&bytes("SC_rgb.dcm"), "a").unwrap();
    let p = read_dicom(&bytes("SC_rgb_planar.dcm"), "p").unwrap();
    assert_eq!(a.values, p.values);
    let img = Image2d::from_bytes(&bytes("SC_rgb.dcm"), "SC_rgb.dcm", 100).unwrap();
    // SC_rgb's first row is red (255, 0, 0)
    assert_eq!(
        (img.get(0, 0, 0), img.get(1, 0, 0), img.get(2, 0, 0)),
        (1.0, 0.0, 0.0)
    );
}

#[test]
fn refuses_what_it_cannot_read_and_says_what_it_reads() {
    let refused = |name: &str, b: &[u8]| match Image2d::from_bytes(b, name, 16) {
        Err(e @ (Image2dError::Dicom { .. } | Image2dError::TooLarge { .. })) => e.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    let cases = [
        ("MR_small_jp2klossless.dcm", "JPEG 2000"),
        ("image_dfl.dcm", "Deflated"),
        ("rtdose.dcm", "holds 15 frames"),
        ("rtplan.dcm", "holds no image"),
    ];
    for (name, says) in cases {
        let e = refused(name, &bytes(name));
        assert!(e.contains(says) && e.contains(name), "{name}: {e}");
        if name != "rtplan.dcm" {
            assert!(e.contains("semiseg reads single-frame DICOM"), "{e}");
        }
    }
    // truncated in the header and in the pixels
    let mr = bytes("MR_small.dcm");
    let e = refused("cut.dcm", &mr[..300]);
    assert!(e.contains("damaged DICOM"), "{e}");
    let e = refused("cut.dcm", &mr[..mr.len() - 100]);
    assert!(e.contains("cut.dcm"), "{e}");
    // 65535 x 65535 pixels: refused from the header (Rows and Columns patched)
    let mut big = mr.clone();
    for tag in [
        [0x28u8, 0, 0x10, 0, b'U', b'S', 2, 0],
        [0x28, 0, 0x11, 0, b'U', b'S', 2, 0],
    ] {
        let at = big.windows(8).position(|w| w == tag).unwrap() + 8;
        big[at..at + 2].copy_from_slice(&[0xff, 0xff]);
    }
    assert!(matches!(
        bytes_dimensions(&big, "big.dcm"),
        Err(Image2dError::TooLarge { .. })
    ));
    refused("big.dcm", &big);
    // lengths past the end of the file are refused before the parser allocates them (it
    // reserved what the length said, up to 4 GiB: an abort under a memory limit, or seconds of
    // zeroing; found by the fuzzer): the pixel data's, and an unknown VR's in the meta group
    let mut long = mr.clone();
    let at = long
        .windows(8)
        .position(|w| w == [0xe0, 0x7f, 0x10, 0, b'O', b'W', 0, 0])
        .unwrap();
    long[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let e = refused("long.dcm", &long);
    assert!(e.contains("(7FE0,0010) says 4294967280 bytes"), "{e}");
    let mut vr = mr.clone();
    let at = vr
        .windows(6)
        .position(|w| w == [2, 0, 0x12, 0, b'U', b'I'])
        .unwrap();
    vr[at + 4..at + 12].copy_from_slice(&[0xd4, b'H', 0, 0, 0xff, 0xff, 0xff, 0x7f]);
    let e = refused("vr.dcm", &vr);
    assert!(e.contains("(0002,0012) says 2147483647 bytes"), "{e}");
    // a bare data set (no preamble) is not taken for DICOM
    assert!(!is_dicom(&mr[132..]));
}
