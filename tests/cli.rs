//! The command line as users meet it: help, inspect, eval's checks and errors.

use semiseg::volume::{encode_nifti, read_nifti, DataType, Volume};
use semiseg_integration::{cli, nifti_fixture};
use std::path::Path;

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["inspect", "eval", "dataset"] {
        let err = cli(&[cmd, "--help"]).unwrap_err();
        assert!(err.contains("Example"), "{cmd} --help:\n{err}");
        assert!(err.contains("Usage: semiseg"), "{cmd} --help:\n{err}");
    }
    let top = cli(&["--help"]).unwrap_err();
    assert!(top.contains("inspect") && top.contains("eval"), "{top}");
}

#[test]
fn usage_errors_follow_clap() {
    let err = cli(&["eval", "--pred", "x"]).unwrap_err();
    assert!(err.contains("--gt"), "{err}");
    let err = cli(&["eval", "--pred", "a", "--gt", "b", "--spacing", "inch"]).unwrap_err();
    assert!(err.contains("voxel") && err.contains("mm"), "{err}");
}

#[test]
fn inspect_shows_the_header() {
    let p = nifti_fixture("lps_i16_be.nii");
    let out = cli(&["inspect", p.to_str().unwrap()]).unwrap();
    for want in [
        "dimensions   4 x 6 x 5",
        "big-endian",
        "int16",
        "orientation  LPS (affine from qform, code 1)",
        "voxel size   0.9000 x 1.1000 x 1.3000 mm",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let out = cli(&[
        "inspect",
        nifti_fixture("fourd_u8.nii.gz").to_str().unwrap(),
    ])
    .unwrap();
    assert!(out.contains("3 x 4 x 5 x 2 (2 volumes"), "{out}");
    let json = cli(&[
        "inspect",
        "--json",
        nifti_fixture("nifti2_f32.nii.gz").to_str().unwrap(),
    ])
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["orientation"], "LPS");
    assert!(v["format"].as_str().unwrap().starts_with("NIfTI-2"));
}

#[test]
fn inspect_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.nii");
    std::fs::write(
        &bad,
        "this is not a scan, just some text that is long enough",
    )
    .unwrap();
    let err = cli(&["inspect", bad.to_str().unwrap()]).unwrap_err();
    assert!(
        err.contains("notes.nii") && err.contains("not a NIfTI"),
        "{err}"
    );
    // the operating system's reason is said once, not repeated by the error chain
    let missing = dir.path().join("missing.nii.gz");
    let err = cli(&["inspect", missing.to_str().unwrap()]).unwrap_err();
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    // a folder is not a scan; a file or a missing path is not a dataset folder
    let d = dir.path().to_str().unwrap();
    let err = cli(&["inspect", d]).unwrap_err();
    assert!(
        err.contains("is a folder") && err.contains("semiseg dataset"),
        "{err}"
    );
    let err = cli(&["dataset", missing.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("no such folder"), "{err}");
    let err = cli(&["dataset", bad.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("is a file, not a folder"), "{err}");
    let err = cli(&["dataset", d]).unwrap_err();
    assert!(err.contains("no cases found"), "{err}");
}

#[test]
fn the_wrong_kind_of_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // a slice exported as PNG, opened as a scan
    std::fs::write(p("slice.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let err = cli(&["inspect", &p("slice.png")]).unwrap_err();
    assert!(
        err.contains("not a NIfTI file: it is a PNG image; semiseg reads 3D volumes in NIfTI"),
        "{err}"
    );
    // a 2D image-text dataset given to the V-Net, and a 3D one given to AMVLM
    std::fs::create_dir_all(dir.path().join("qata/Train_Folder/img")).unwrap();
    std::fs::create_dir_all(dir.path().join("la/imagesTr")).unwrap();
    for (method, data, want) in [
        (
            "simcvd",
            "qata",
            ["2D image-text dataset", "semiseg train amvlm"],
        ),
        (
            "amvlm",
            "la",
            ["not an LViT dataset", "semiseg train simcvd"],
        ),
    ] {
        let args = [
            "train",
            method,
            "--data",
            &p(data),
            "--backend",
            "cpu",
            "--runs",
            &p("runs"),
        ];
        let err = cli(&args).unwrap_err();
        assert!(want.iter().all(|w| err.contains(w)), "{method}: {err}");
    }
    assert!(
        !dir.path().join("runs").exists(),
        "a refused run left a folder"
    );
}

/// A small mask volume written as `dir/name`.
fn write_mask(dir: &Path, name: &str, vol: &Volume) {
    std::fs::create_dir_all(dir).unwrap();
    let gz = name.ends_with(".gz");
    std::fs::write(
        dir.join(name),
        encode_nifti(vol, DataType::Uint8, gz).unwrap(),
    )
    .unwrap();
}

fn blob(base: &Volume, lo: usize) -> Volume {
    let [_, nj, nk] = base.dims;
    base.with_data(
        (0..base.len())
            .map(|f| {
                let (i, j, k) = (f / (nj * nk), (f / nk) % nj, f % nk);
                ((lo..lo + 2).contains(&i) && (1..4).contains(&j) && (1..3).contains(&k)) as u8
                    as f32
            })
            .collect(),
    )
}

#[test]
fn eval_largest_component_drops_an_island_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = read_nifti(nifti_fixture("lps_i16_be.nii"), &Default::default()).unwrap();
    let (pred, gt) = (d.join("pred"), d.join("gt"));
    let organ = blob(&base, 1); // 12 voxels, i 1..3, j 1..4, k 1..3 of a 4x6x5 grid
    write_mask(&gt, "a.nii.gz", &organ);
    // the organ plus one voxel at (0, 5, 4), two steps away from it on j and k
    let mut island = organ.data.clone();
    island[(5 * 5) + 4] = 1.0;
    write_mask(&pred, "a.nii.gz", &organ.with_data(island));
    let (p, g) = (pred.to_str().unwrap(), gt.to_str().unwrap());
    // Dice 2·12/(13 + 12) = 96.00 as the mask is; 100 once the island is gone
    let out = cli(&["eval", "--pred", p, "--gt", g]).unwrap();
    assert!(out.contains("96.00"), "{out}");
    let out = cli(&["eval", "--pred", p, "--gt", g, "--largest-component"]).unwrap();
    assert!(
        out.contains("largest connected") && out.contains("100.00") && !out.contains("96.00"),
        "{out}"
    );
}

#[test]
fn eval_says_when_it_thresholds_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = read_nifti(nifti_fixture("lps_i16_be.nii"), &Default::default()).unwrap();
    let (pred, gt) = (d.join("pred"), d.join("gt"));
    let organ = blob(&base, 1);
    write_mask(&gt, "a.nii.gz", &organ);
    // probabilities: 0.8 inside, 0.3 and -2 outside
    let probs: Vec<f32> = organ
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v > 0.0 {
                0.8
            } else if i % 2 == 0 {
                0.3
            } else {
                -2.0
            }
        })
        .collect();
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::write(
        pred.join("a.nii.gz"),
        encode_nifti(&organ.with_data(probs), DataType::Float32, true).unwrap(),
    )
    .unwrap();
    let (p, g) = (pred.to_str().unwrap(), gt.to_str().unwrap());
    let out = cli(&["eval", "--pred", p, "--gt", g]).unwrap();
    // before: scored at 0.5 without a word
    assert!(
        out.contains("100.00")
            && out.contains("note: 1 of 1 case(s) hold values other than 0 and 1")
            && out.contains("a.nii.gz")
            && out.contains("above 0.5"),
        "{out}"
    );
    // a binary mask gets no note
    write_mask(&pred, "a.nii.gz", &organ);
    let out = cli(&["eval", "--pred", p, "--gt", g]).unwrap();
    assert!(!out.contains("note:"), "{out}");
}

#[test]
fn eval_checks_cases_grids_labels_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = read_nifti(nifti_fixture("lps_i16_be.nii"), &Default::default()).unwrap();
    let (pred, gt) = (d.join("pred"), d.join("gt"));
    write_mask(&gt, "a.nii.gz", &blob(&base, 1));
    write_mask(&gt, "b.nii.gz", &blob(&base, 1));
    write_mask(&pred, "a.nii", &blob(&base, 2));
    let (p, g) = (pred.to_str().unwrap(), gt.to_str().unwrap());

    // every ground-truth case needs a prediction (else the mean would be over fewer cases
    // without a word); --cases scores a subset, and a case of it without a prediction is refused
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(
        err.contains("1 ground-truth case(s)")
            && err.contains("no prediction")
            && err.contains('b')
            && err.contains("--cases"),
        "{err}"
    );
    let one = d.join("one.list");
    std::fs::write(&one, "a\n").unwrap();
    let out = cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--cases",
        one.to_str().unwrap(),
    ])
    .unwrap();
    assert!(
        out.contains("a.nii") && out.contains("mean (1 case)"),
        "{out}"
    );
    // a broken symbolic link among the predictions is named, not skipped
    #[cfg(unix)]
    {
        let link = pred.join("b.nii.gz");
        std::os::unix::fs::symlink(d.join("nowhere.nii.gz"), &link).unwrap();
        let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
        assert!(
            err.contains("symbolic link to nothing") && err.contains("b.nii.gz"),
            "{err}"
        );
        std::fs::remove_file(&link).unwrap();
    }
    let list = d.join("cases.list");
    std::fs::write(&list, "a\nb\n").unwrap();
    let err = cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--cases",
        list.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.contains("no prediction") && err.contains('b'), "{err}");

    // a prediction without ground truth
    write_mask(&pred, "c.nii.gz", &blob(&base, 1));
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(
        err.contains("no ground truth") && err.contains('c'),
        "{err}"
    );
    std::fs::remove_file(pred.join("c.nii.gz")).unwrap();

    // the same case twice
    write_mask(&pred, "a.nii.gz", &blob(&base, 1));
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(err.contains("both case \"a\""), "{err}");
    std::fs::remove_file(pred.join("a.nii.gz")).unwrap();

    // a mask on another grid
    let other = Volume::new(vec![0.0; 8], [2, 2, 2], base.affine);
    write_mask(&gt, "b.nii.gz.tmp", &other);
    std::fs::rename(gt.join("b.nii.gz.tmp"), gt.join("b.nii.gz")).unwrap();
    write_mask(&pred, "b.nii.gz", &blob(&base, 1));
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(err.contains("same grid"), "{err}");
    // same size, shifted in space
    let mut moved_affine = base.affine;
    moved_affine[0][3] += 10.0;
    write_mask(
        &d.join("tmp"),
        "b.nii.gz",
        &Volume::new(blob(&base, 1).data, base.dims, moved_affine),
    );
    std::fs::rename(d.join("tmp/b.nii.gz"), gt.join("b.nii.gz")).unwrap();
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(err.contains("different affine"), "{err}");
    write_mask(&d.join("tmp"), "b.nii.gz", &blob(&base, 1));
    std::fs::rename(d.join("tmp/b.nii.gz"), gt.join("b.nii.gz")).unwrap();

    // multi-label masks need --label
    let mut multi = blob(&base, 1);
    multi.data[0] = 2.0;
    std::fs::remove_file(pred.join("b.nii.gz")).unwrap();
    write_mask(&pred, "b.nii.gz", &multi);
    let err = cli(&["eval", "--pred", p, "--gt", g]).unwrap_err();
    assert!(err.contains("--label"), "{err}");
    let out = cli(&["eval", "--pred", p, "--gt", g, "--label", "1"]).unwrap();
    assert!(out.contains("mean (2 cases)"), "{out}");

    // --overwrite never replaces a mask being scored
    let own = gt.join("a.nii.gz");
    let before = std::fs::read(&own).unwrap();
    let err = cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--label",
        "1",
        "--csv",
        own.to_str().unwrap(),
        "--overwrite",
    ])
    .unwrap_err();
    assert!(err.contains("one of the masks being scored"), "{err}");
    assert_eq!(std::fs::read(&own).unwrap(), before);

    // an existing CSV is kept unless --overwrite
    let csv = d.join("out.csv");
    std::fs::write(&csv, "mine").unwrap();
    let err = cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--label",
        "1",
        "--csv",
        csv.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "mine");
    cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--label",
        "1",
        "--csv",
        csv.to_str().unwrap(),
        "--overwrite",
    ])
    .unwrap();
    assert!(std::fs::read_to_string(&csv)
        .unwrap()
        .starts_with("case,dice"));
    // a folder is not a CSV, even with --overwrite
    let err = cli(&[
        "eval",
        "--pred",
        p,
        "--gt",
        g,
        "--label",
        "1",
        "--csv",
        p,
        "--overwrite",
    ])
    .unwrap_err();
    assert!(err.contains("is a folder"), "{err}");

    // an empty prediction is flagged and scores 0, as in the literature
    let empty = base.with_data(vec![0.0; base.len()]);
    std::fs::remove_file(pred.join("b.nii.gz")).unwrap();
    write_mask(&pred, "b.nii.gz", &empty);
    let out = cli(&["eval", "--pred", p, "--gt", g]).unwrap();
    assert!(
        out.contains("empty prediction: all 0") && out.contains("1 case(s) had an empty mask"),
        "{out}"
    );

    // not a folder / no scans
    let err = cli(&[
        "eval",
        "--pred",
        d.join("nope").to_str().unwrap(),
        "--gt",
        g,
    ])
    .unwrap_err();
    assert!(err.contains("not a folder"), "{err}");
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let err = cli(&[
        "eval",
        "--pred",
        d.join("empty").to_str().unwrap(),
        "--gt",
        g,
    ])
    .unwrap_err();
    assert!(err.contains("no .nii"), "{err}");
}

#[test]
fn eval_undoes_orientation_differences() {
    // the same mask stored LPS (as the scan) and RAS (as another tool might write it) is a perfect match
    let dir = tempfile::tempdir().unwrap();
    let base = read_nifti(nifti_fixture("lps_i16_be.nii"), &Default::default()).unwrap();
    let mask = blob(&base, 1);
    let (ras, _) = semiseg::volume::Reorientation::to_canonical(&mask);
    write_mask(&dir.path().join("gt"), "x.nii.gz", &mask);
    write_mask(&dir.path().join("pred"), "x.nii.gz", &ras);
    let out = cli(&[
        "eval",
        "--pred",
        dir.path().join("pred").to_str().unwrap(),
        "--gt",
        dir.path().join("gt").to_str().unwrap(),
    ])
    .unwrap();
    let row = out.lines().find(|l| l.contains("x.nii.gz")).unwrap();
    assert!(row.contains("100.00"), "{out}");
}
