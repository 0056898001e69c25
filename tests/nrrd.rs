//! NRRD input and `semiseg prepare-la`: the reader against files written by pynrrd, with the RAS
//! affine ITK gives them (tests/fixtures/nrrd, make_nrrd_fixtures.py); `inspect` and `predict`'s
//! intensity check; and the raw LA challenge layout prepared into a dataset the trainer reads.

use semiseg::volume::{read_nifti, read_scan, read_scan_bytes, ReadOptions, Volume};
use semiseg_integration::{cli, fixtures, json};
use std::path::Path;

#[test]
fn nrrd_files_read_as_pynrrd_and_itk_do() {
    let expected = json("nrrd/expected.json");
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 4);
    for (name, e) in expected {
        let path = fixtures().join("nrrd").join(name);
        let vol = read_scan(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let dims: Vec<usize> = serde_json::from_value(e["dims"].clone()).unwrap();
        assert_eq!(vol.dims.to_vec(), dims, "{name}");
        let data: Vec<f64> = serde_json::from_value(e["data"].clone()).unwrap();
        assert_eq!(vol.data.len(), data.len(), "{name}");
        for (f, (&a, &b)) in vol.data.iter().zip(&data).enumerate() {
            assert_eq!(a, b as f32, "{name}: voxel {f}");
        }
        let aff: Vec<Vec<f64>> = serde_json::from_value(e["affine"].clone()).unwrap();
        for (i, (ours, theirs)) in vol.affine.iter().zip(&aff).enumerate() {
            for (j, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
                // ITK's NIfTI stores the sform as float32
                assert!(
                    (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                    "{name}: affine[{i}][{j}] = {a}, ITK says {b}"
                );
            }
        }
        // attached data also read from bytes (the browser's path)
        if name.ends_with(".nrrd") {
            let bytes = std::fs::read(&path).unwrap();
            let from_bytes = read_scan_bytes(name, &bytes, &ReadOptions::default()).unwrap();
            assert_eq!(from_bytes.data, vol.data, "{name}");
            assert_eq!(from_bytes.affine, vol.affine, "{name}");
        }
    }
    // NIfTI still reads through the same entry point
    let nii = fixtures().join("nifti/las_u8_scaled.nii.gz");
    assert_eq!(
        read_scan(&nii, &ReadOptions::default()).unwrap(),
        read_nifti(&nii, &ReadOptions::default()).unwrap()
    );
}

#[test]
fn inspect_shows_an_nrrd_scan() {
    let path = fixtures().join("nrrd/lps_u8_gzip.nrrd");
    let out = cli(&["inspect", path.to_str().unwrap()]).unwrap();
    assert!(out.contains("format       NRRD"), "{out}");
    assert!(out.contains("dimensions   5 x 4 x 3"), "{out}");
    assert!(out.contains("orientation  LPS"), "{out}");
    assert!(out.contains("0.6250 x 0.6250 x 0.6250 mm"), "{out}");
    assert!(!out.contains("scl_slope"), "{out}");
}

/// Raw little-endian uchar NRRD with the LA challenge's header fields (LPS, 0.625 mm).
fn write_raw_nrrd(path: &Path, dims: [usize; 3], value: impl Fn(usize, usize, usize) -> u8) {
    let mut b = format!(
        "NRRD0004\n# Complete NRRD file format specification at:\n# http://teem.sourceforge.net/nrrd/format.html\n\
         type: unsigned char\ndimension: 3\nspace: left-posterior-superior\nsizes: {} {} {}\n\
         space directions: (0.625,0,0) (0,0.625,0) (0,0,0.625)\nkinds: domain domain domain\n\
         endian: little\nencoding: raw\nspace origin: (-100,-120,-30)\n\n",
        dims[0], dims[1], dims[2]
    )
    .into_bytes();
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                b.push(value(x, y, z));
            }
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b).unwrap();
}

/// A raw case: a 255 box (the atrium) at `at` of 20x16x6 voxels, brighter in the image.
fn raw_case(root: &Path, id: &str, dims: [usize; 3], at: [usize; 3]) {
    let inside = move |x: usize, y: usize, z: usize| {
        (at[0]..at[0] + 20).contains(&x)
            && (at[1]..at[1] + 16).contains(&y)
            && (at[2]..at[2] + 6).contains(&z)
    };
    write_raw_nrrd(&root.join(id).join("lgemri.nrrd"), dims, move |x, y, z| {
        if inside(x, y, z) {
            200
        } else {
            ((x * 7 + y * 3 + z * 11) % 60) as u8
        }
    });
    write_raw_nrrd(&root.join(id).join("laendo.nrrd"), dims, move |x, y, z| {
        if inside(x, y, z) {
            255
        } else {
            0
        }
    });
}

#[test]
fn prepare_la_turns_the_raw_challenge_layout_into_a_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("2018LA_Seg_Training Set");
    // the first case of UA-MT's train.list, the first of its test.list, and one in neither
    let (train_id, test_id) = ("06SR5RBREL16DQ6M8LWS", "UPT6DX9IQY9JAZ7HJKA7");
    raw_case(&raw, train_id, [180, 170, 10], [80, 70, 2]);
    raw_case(&raw, test_id, [160, 200, 8], [5, 150, 1]);
    raw_case(&raw, "MYOWNCASE", [150, 150, 9], [60, 60, 3]);
    let out = tmp.path().join("la");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let args = ["prepare-la", &s(&raw), "--out", &s(&out)];
    let text = cli(&args).unwrap();
    assert!(
        text.contains("3/3 UPT6DX9IQY9JAZ7HJKA7: 160x200x8"),
        "{text}"
    );
    assert!(
        text.contains("1 in train.list, 1 in test.list; 1 case(s) are in neither"),
        "{text}"
    );
    let list = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    assert_eq!(list("train.list"), format!("{train_id}\n"));
    assert_eq!(list("test.list"), format!("{test_id}\n"));

    // the first case: the box spans x 80..=99 (19 wide) -> p = (112 - 19) / 2 = 46, margins
    // 10..=19, so 56..=65 voxels each side of the box; z is whole
    let img = read_nifti(
        out.join("imagesTr").join(format!("{train_id}.nii.gz")),
        &Default::default(),
    )
    .unwrap();
    let lab = read_nifti(
        out.join("labelsTr").join(format!("{train_id}.nii.gz")),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(img.dims[2], 10);
    assert!((131..=150).contains(&img.dims[0]), "{:?}", img.dims);
    assert_eq!(lab.dims, img.dims);
    assert_eq!(lab.data.iter().filter(|&&v| v == 1.0).count(), 20 * 16 * 6);
    assert!(lab.data.iter().all(|&v| v == 0.0 || v == 1.0));
    // z-scored over the whole raw scan: recompute its mean and std here
    let raw_vol = read_scan(raw.join(train_id).join("lgemri.nrrd"), &Default::default()).unwrap();
    let n = raw_vol.data.len() as f64;
    let mean = raw_vol.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (raw_vol
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let k = lab.data.iter().position(|&v| v == 1.0).unwrap();
    assert!((img.data[k] as f64 - (200.0 - mean) / std).abs() < 1e-4);
    // same place in the world: the first atrium voxel maps to the raw scan's (80, 70, 2)
    let world = |v: &Volume, i: [f64; 3]| -> [f64; 3] {
        std::array::from_fn(|r| (0..3).map(|c| v.affine[r][c] * i[c]).sum::<f64>() + v.affine[r][3])
    };
    let ijk = [
        k / (img.dims[1] * img.dims[2]),
        (k / img.dims[2]) % img.dims[1],
        k % img.dims[2],
    ];
    let w = world(&img, ijk.map(|i| i as f64));
    let w_raw = world(&raw_vol, [80.0, 70.0, 2.0]);
    for a in 0..3 {
        assert!((w[a] - w_raw[a]).abs() < 1e-9, "{w:?} vs {w_raw:?}");
    }
    // the second case's box touches the scan's edges: the crop stops there
    let img2 = read_nifti(
        out.join("imagesTr").join(format!("{test_id}.nii.gz")),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(img2.dims[2], 8);
    let prep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("preprocessing.json")).unwrap())
            .unwrap();
    let c2 = &prep["cases"][2];
    assert_eq!(c2["id"], test_id);
    assert_eq!(c2["crop_y"][1], 200, "{c2}");
    assert_eq!(c2["crop_x"][0], 0, "{c2}");

    // the trainer reads it
    assert!(text.contains("--labeled 1`"), "{text}");
    let ds = cli(&["dataset", &s(&out), "--labeled", "1"]).unwrap();
    assert!(ds.contains("cases      3 (3 with labels)"), "{ds}");
    // the same seed crops the same; nothing is overwritten
    let again = cli(&args).unwrap_err();
    assert!(
        again.contains("not empty") && again.contains("never overwrites"),
        "{again}"
    );
    let out2 = tmp.path().join("la-again");
    std::fs::create_dir(&out2).unwrap(); // an empty folder is fine
    cli(&["prepare-la", &s(&raw), "--out", &s(&out2)]).unwrap();
    assert_eq!(
        std::fs::read(out2.join("imagesTr").join(format!("{train_id}.nii.gz"))).unwrap(),
        std::fs::read(out.join("imagesTr").join(format!("{train_id}.nii.gz"))).unwrap()
    );
}

#[test]
fn prepare_la_refuses_bad_raw_folders_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = tmp.path().join("la");
    let run = |raw: &Path| cli(&["prepare-la", &s(raw), "--out", &s(&out)]).unwrap_err();
    // the parent of the training folder: says which folder to give
    let parent = tmp.path().join("download");
    let raw = parent.join("2018LA_Seg_Training Set");
    raw_case(&raw, "CASEA", [120, 120, 6], [50, 50, 0]);
    let e = run(&parent);
    assert!(e.contains("2018LA_Seg_Training Set has them"), "{e}");
    // a case without its label
    std::fs::create_dir_all(raw.join("CASEB")).unwrap();
    std::fs::copy(raw.join("CASEA/lgemri.nrrd"), raw.join("CASEB/lgemri.nrrd")).unwrap();
    let e = run(&raw);
    assert!(
        e.contains("CASEB") && e.contains("without laendo.nrrd"),
        "{e}"
    );
    // a label without the value 255 (e.g. already binarised): named, and no folder is left
    std::fs::copy(raw.join("CASEA/lgemri.nrrd"), raw.join("CASEB/laendo.nrrd")).unwrap();
    let e = run(&raw);
    assert!(e.contains("case CASEB") && e.contains("255"), "{e}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| !n.contains("partial")), "{left:?}");
    // a corrupt scan: the reader's message
    std::fs::write(raw.join("CASEB/laendo.nrrd"), b"NRRD0004\ntype: uchar\n").unwrap();
    let e = run(&raw);
    assert!(e.contains("laendo.nrrd") && e.contains("missing"), "{e}");
    assert!(run(&tmp.path().join("nowhere")).contains("no such folder"));
}
