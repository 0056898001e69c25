//! The NIfTI reader and writer against files written by nibabel (tests/fixtures/nifti, values in
//! expected.json), every bad-input path, and bit-for-bit round trips.

use semiseg::volume::{
    encode_nifti, read_nifti, read_nifti_bytes, write_nifti, DataType, ReadOptions, Reorientation,
    Volume, VolumeError,
};
use semiseg_integration::{json, nifti_fixture};

fn expected() -> serde_json::Map<String, serde_json::Value> {
    json("nifti/expected.json").as_object().unwrap().clone()
}

fn check_against_nibabel(name: &str, vol: &Volume, e: &serde_json::Value) {
    let dims: Vec<usize> = serde_json::from_value(e["dims"].clone()).unwrap();
    assert_eq!(vol.dims.to_vec(), dims, "{name}: dims");
    assert_eq!(
        vol.source_dtype.name(),
        e["dtype"].as_str().unwrap(),
        "{name}: dtype"
    );
    let aff: Vec<Vec<f64>> = serde_json::from_value(e["affine"].clone()).unwrap();
    for (i, (ours, theirs)) in vol.affine.iter().zip(&aff).enumerate() {
        for (j, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert!(
                (a - b).abs() < 1e-5,
                "{name}: affine[{i}][{j}] = {a} but nibabel says {b}"
            );
        }
    }
    assert_eq!(
        vol.orientation(),
        e["orientation"].as_str().unwrap(),
        "{name}"
    );
    let data: Vec<f64> = serde_json::from_value(e["data"].clone()).unwrap();
    assert_eq!(data.len(), vol.data.len());
    for (f, (&a, &b)) in vol.data.iter().zip(&data).enumerate() {
        assert_eq!(a as f64, b, "{name}: voxel {f}");
    }
}

#[test]
fn every_fixture_reads_like_nibabel_from_path_and_from_bytes() {
    let exp = expected();
    for (name, e) in &exp {
        let opts = ReadOptions {
            first_volume_of_4d: e.get("volumes").is_some(),
            ..Default::default()
        };
        let vol = read_nifti(nifti_fixture(name), &opts).unwrap_or_else(|err| panic!("{err}"));
        check_against_nibabel(name, &vol, e);
        let version = e["version"].as_u64().unwrap();
        assert_eq!(
            vol.header.size(),
            if version == 1 { 348 } else { 540 },
            "{name}"
        );
        if !name.ends_with(".hdr") {
            let bytes = std::fs::read(nifti_fixture(name)).unwrap();
            let from_bytes = read_nifti_bytes(name, &bytes, &opts).unwrap();
            assert_eq!(from_bytes, vol, "{name}: bytes and path differ");
        }
    }
    // the fixtures cover every dtype, both byte orders, both versions, gz, and .hdr/.img
    let names: Vec<&String> = exp.keys().collect();
    for want in [
        "_be", "nifti2", ".gz", ".hdr", "i8", "u16", "i32", "u32", "f64", "f32", "u8",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "no fixture for {want}"
        );
    }
}

#[test]
fn hdr_img_pair_opens_from_either_file() {
    let e = &expected()["pair_i16.hdr"];
    let from_img = read_nifti(nifti_fixture("pair_i16.img"), &Default::default()).unwrap();
    check_against_nibabel("pair_i16.img", &from_img, e);
    assert!(!from_img.header.single_file);
}

#[test]
fn four_d_is_an_error_unless_the_first_volume_is_asked_for() {
    let err = read_nifti(nifti_fixture("fourd_u8.nii.gz"), &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("fourd_u8.nii.gz") && msg.contains("4D") && msg.contains("2 volumes"),
        "{msg}"
    );
    // it names what to do with tools that exist (no semiseg command has a --first-volume)
    assert!(
        msg.contains("split the series into 3D files") && !msg.contains("--first-volume"),
        "{msg}"
    );
}

#[test]
fn written_scans_round_trip_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, e) in &expected() {
        let opts = ReadOptions {
            first_volume_of_4d: e.get("volumes").is_some(),
            ..Default::default()
        };
        let vol = read_nifti(nifti_fixture(name), &opts).unwrap();
        for gzip in [false, true] {
            let bytes = encode_nifti(&vol, DataType::Float32, gzip).unwrap();
            let back = read_nifti_bytes("back.nii", &bytes, &Default::default()).unwrap();
            assert_eq!(back.dims, vol.dims, "{name}");
            assert_eq!(back.affine, vol.affine, "{name}: affine changed");
            assert_eq!(back.affine_source, vol.affine_source, "{name}");
            let same_bits = back
                .data
                .iter()
                .zip(&vol.data)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same_bits, "{name}: voxels changed");
            let (h, h0) = (&back.header, &vol.header);
            assert_eq!(
                (
                    h.version,
                    h.qform_code,
                    h.sform_code,
                    h.quatern,
                    h.qoffset,
                    h.srow,
                    h.pixdim[..4].to_vec()
                ),
                (
                    h0.version,
                    h0.qform_code,
                    h0.sform_code,
                    h0.quatern,
                    h0.qoffset,
                    h0.srow,
                    h0.pixdim[..4].to_vec()
                ),
                "{name}: header geometry changed"
            );
        }
        // and in the source's own integer type when the values allow it
        if vol.source_dtype.is_integer() && vol.header.scl_slope == 0.0
            || vol.header.scl_slope == 1.0
        {
            let bytes = encode_nifti(&vol, vol.source_dtype, false).unwrap();
            let back = read_nifti_bytes("back.nii", &bytes, &Default::default()).unwrap();
            assert_eq!(back.data, vol.data, "{name}");
            assert_eq!(back.source_dtype, vol.source_dtype);
        }
        let out = dir
            .path()
            .join(format!("{}.nii.gz", name.replace('.', "_")));
        write_nifti(&out, &vol, DataType::Float32).unwrap();
        assert_eq!(
            read_nifti(&out, &Default::default()).unwrap().data,
            vol.data
        );
    }
}

#[test]
fn writing_never_overwrites_and_checks_integer_values() {
    let dir = tempfile::tempdir().unwrap();
    let vol = read_nifti(nifti_fixture("ras_f32.nii"), &Default::default()).unwrap();
    let out = dir.path().join("mask.nii.gz");
    std::fs::write(&out, b"precious").unwrap();
    let err = write_nifti(&out, &vol, DataType::Float32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already exists") && err.contains("mask.nii.gz"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let err = encode_nifti(&vol, DataType::Uint8, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be stored as uint8"), "{err}");
    let err = write_nifti(dir.path().join("x.png"), &vol, DataType::Float32)
        .unwrap_err()
        .to_string();
    assert!(err.contains(".nii"), "{err}");
}

#[test]
fn a_mask_for_an_oblique_lps_scan_goes_back_onto_its_grid() {
    for name in [
        "lps_i16_be.nii",
        "oblique_f64.nii",
        "lsa_u16.nii.gz",
        "las_u8_scaled.nii.gz",
    ] {
        let scan = read_nifti(nifti_fixture(name), &Default::default()).unwrap();
        let (canon, back) = Reorientation::to_canonical(&scan);
        assert_eq!(canon.orientation(), "RAS");
        // a "mask" computed in the canonical frame: threshold at the median
        let mut sorted = canon.data.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mask: Vec<f32> = canon
            .data
            .iter()
            .map(|&v| (v > median) as u8 as f32)
            .collect();
        let out = back.undo(&mask).unwrap();
        assert_eq!((out.dims, out.affine), (scan.dims, scan.affine));
        let expected: Vec<f32> = scan
            .data
            .iter()
            .map(|&v| (v > median) as u8 as f32)
            .collect();
        assert_eq!(out.data, expected, "{name}: mask not aligned with its scan");
        // written as uint8 and read back: same grid, same header geometry
        let bytes = encode_nifti(&out, DataType::Uint8, true).unwrap();
        // kept for tests/fixtures/check_written.py (nibabel must see the same grid and mask)
        let keep = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("written");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(
            keep.join(format!("mask_{name}.gz").replace(".nii.gz.gz", ".nii.gz")),
            &bytes,
        )
        .unwrap();
        let again = read_nifti_bytes("mask.nii.gz", &bytes, &Default::default()).unwrap();
        assert_eq!(
            (again.dims, again.affine, again.orientation()),
            (scan.dims, scan.affine, scan.orientation())
        );
        assert_eq!(again.data, expected);
    }
}

// ---- bad input: a clear error naming the file, never a panic or a huge allocation ----

fn read_err(name: &str, bytes: &[u8]) -> VolumeError {
    match read_nifti_bytes(name, bytes, &Default::default()) {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => {
            assert!(
                e.to_string().contains(name),
                "message does not name the file: {e}"
            );
            e
        }
    }
}

fn ras_bytes() -> Vec<u8> {
    std::fs::read(nifti_fixture("ras_f32.nii")).unwrap()
}

fn set_i16(b: &mut [u8], at: usize, v: i16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn truncated_files_are_reported() {
    let full = ras_bytes();
    for cut in [0, 3, 200, 350, full.len() - 1] {
        let e = read_err("cut.nii", &full[..cut]);
        assert!(
            matches!(e, VolumeError::Truncated { .. }),
            "cut at {cut}: {e}"
        );
    }
    let gz = std::fs::read(nifti_fixture("nifti2_f32.nii.gz")).unwrap();
    let e = read_err("cut.nii.gz", &gz[..gz.len() / 2]);
    assert!(
        matches!(e, VolumeError::Truncated { .. } | VolumeError::Gzip { .. }),
        "{e}"
    );
}

#[test]
fn wrong_magic_and_non_nifti_files_are_reported() {
    let mut b = ras_bytes();
    b[344..348].copy_from_slice(b"abcd");
    let e = read_err("magic.nii", &b);
    assert!(
        matches!(e, VolumeError::NotNifti { .. }) && e.to_string().contains("magic"),
        "{e}"
    );
    let e = read_err("photo.png", b"\x89PNG\r\n\x1a\n0000000000000000000000000");
    assert!(matches!(e, VolumeError::NotNifti { .. }), "{e}");
    let e = read_err("empty.nii", b"");
    assert!(matches!(e, VolumeError::Truncated { .. }), "{e}");
}

#[test]
fn gzip_garbage_is_reported() {
    let mut junk = vec![0x1f, 0x8b, 0x08, 0x00];
    junk.extend((0..600u32).map(|i| (i * 7919 % 251) as u8));
    let e = read_err("junk.nii.gz", &junk);
    assert!(
        matches!(e, VolumeError::Gzip { .. } | VolumeError::Truncated { .. }),
        "{e}"
    );
}

#[test]
fn dimensions_that_do_not_match_the_data_are_reported() {
    // ras_f32 is 5x4x3: claim 5x4x4 (too little data) and 5x4x1 (too much)
    let mut b = ras_bytes();
    set_i16(&mut b, 46, 4);
    assert!(matches!(
        read_err("short.nii", &b),
        VolumeError::Truncated { .. }
    ));
    let mut b = ras_bytes();
    set_i16(&mut b, 46, 1);
    let e = read_err("long.nii", &b);
    assert!(
        matches!(e, VolumeError::BadHeader { .. }) && e.to_string().contains("dim"),
        "{e}"
    );
    let mut b = ras_bytes();
    set_i16(&mut b, 42, 0);
    assert!(matches!(
        read_err("zero.nii", &b),
        VolumeError::BadHeader { .. }
    ));
    let mut b = ras_bytes();
    set_i16(&mut b, 40, 0);
    assert!(matches!(
        read_err("ndim.nii", &b),
        VolumeError::BadHeader { .. }
    ));
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let mut b = ras_bytes();
    for at in [42, 44, 46] {
        set_i16(&mut b, at, 30000); // 2.7e13 voxels
    }
    let e = read_err("huge.nii", &b);
    assert!(
        matches!(e, VolumeError::Unsupported { .. }) && e.to_string().contains("GiB"),
        "{e}"
    );
    // a limit can be set lower, e.g. for a browser tab
    let small = ReadOptions {
        max_voxels: 10,
        ..Default::default()
    };
    assert!(read_nifti_bytes("ras.nii", &ras_bytes(), &small).is_err());
}

#[test]
fn nan_and_inf_voxels_are_reported() {
    let mut b = ras_bytes();
    b[352..356].copy_from_slice(&f32::NAN.to_le_bytes());
    b[360..364].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let e = read_err("nan.nii", &b);
    match e {
        VolumeError::NonFinite { count, first, .. } => {
            assert_eq!(count, 2);
            assert_eq!(first, [0, 0, 0]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unsupported_types_and_bad_affines_are_reported() {
    let mut b = ras_bytes();
    set_i16(&mut b, 70, 32); // complex64
    let e = read_err("complex.nii", &b);
    assert!(e.to_string().contains("complex"), "{e}");
    let mut b = ras_bytes();
    // sform row x all zero: singular
    for at in (280..296).step_by(4) {
        b[at..at + 4].copy_from_slice(&0f32.to_le_bytes());
    }
    let e = read_err("singular.nii", &b);
    assert!(e.to_string().contains("singular"), "{e}");
}

#[test]
fn missing_files_and_half_pairs_are_reported() {
    let e = read_nifti("/nonexistent/scan.nii.gz", &Default::default()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/scan.nii.gz"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let hdr = dir.path().join("lonely.hdr");
    std::fs::copy(nifti_fixture("pair_i16.hdr"), &hdr).unwrap();
    let e = read_nifti(&hdr, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lonely.img"), "{e}");
}

/// A `.hdr/.img` pair whose `vox_offset` is huge, infinite or NaN is an error naming it, not a
/// panic or an allocation of the offset (issue: bad input never crashes); an offset past the
/// image file's end is reported as a truncated file, without reading it into memory.
#[test]
fn absurd_pair_offsets_are_refused_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let hdr_bytes = std::fs::read(nifti_fixture("pair_i16.hdr")).unwrap();
    let img = std::fs::read(nifti_fixture("pair_i16.img")).unwrap();
    let little = hdr_bytes[0] == 0x5c; // sizeof_hdr 348 little-endian
    for (name, offset, want) in [
        ("huge", 1e30f32, "not a valid byte offset"),
        ("inf", f32::INFINITY, "not a valid byte offset"),
        ("nan", f32::NAN, "not a valid byte offset"),
        ("negative", -4.0, "not a valid byte offset"),
        ("past_end", 1.5e9, "bytes before the voxel data"),
    ] {
        let mut h = hdr_bytes.clone();
        let b = if little {
            offset.to_le_bytes()
        } else {
            offset.to_be_bytes()
        };
        h[108..112].copy_from_slice(&b);
        std::fs::write(dir.path().join(format!("{name}.hdr")), &h).unwrap();
        std::fs::write(dir.path().join(format!("{name}.img")), &img).unwrap();
        let e = read_nifti(dir.path().join(format!("{name}.hdr")), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
}
