//! 2D image-text data in the LViT layout: `semiseg synth 2d` written and read back, the real
//! MoNuSeg folder, and the errors a broken folder gives.

use semiseg::data::{
    synth2d_index, synth2d_name, synthetic_cxr, Image2d, LvitDataset, LvitError, LvitSplit, Mask2d,
    MaskResize, Synth2dConfig,
};
use semiseg_cli::synth2d::{gray_png, text_table_xlsx};
use semiseg_integration::{cli, monuseg_lvit};
use std::path::Path;

#[test]
fn synth_2d_is_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cxr");
    let o = out.to_str().unwrap();
    let msg = cli(&[
        "synth", "2d", "--out", o, "--train", "5", "--val", "2", "--test", "3", "--size", "64",
        "--seed", "9",
    ])
    .unwrap();
    assert!(msg.contains("5 / 2 / 3"), "{msg}");
    assert!(out.join("README.txt").is_file());

    let ds = LvitDataset::open(&out).unwrap();
    assert!(ds.missing().is_empty());
    assert!(!ds.has(LvitSplit::TrainAll));
    let config = Synth2dConfig {
        size: 64,
        ..Synth2dConfig::default()
    };
    for (split, n) in [
        (LvitSplit::Train, 5),
        (LvitSplit::Val, 2),
        (LvitSplit::Test, 3),
    ] {
        let samples = ds.split(split);
        assert_eq!(samples.len(), n, "{split}");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(split.folder()).join("lesions.json")).unwrap(),
        )
        .unwrap();
        let images = json["images"].as_array().unwrap();
        assert_eq!(images.len(), n);
        for (k, s) in samples.iter().enumerate() {
            let want = synthetic_cxr(&config, 9, synth2d_index(split, k)).unwrap();
            assert_eq!(s.key, synth2d_name(split, k));
            assert_eq!(s.text, want.text);
            let mask = Mask2d::read(s.mask.as_ref().unwrap(), 64, MaskResize::Nearest).unwrap();
            assert_eq!(mask.data, want.mask, "{}", s.key);
            let image = Image2d::read(&s.image, 64).unwrap();
            assert_eq!(image, want.image2d(64).unwrap(), "{}", s.key);
            // lesions.json describes the same lesions
            let entry = &images[k];
            assert_eq!(entry["image"], s.key.as_str());
            assert_eq!(entry["text"], s.text.as_str());
            let lesions = entry["lesions"].as_array().unwrap();
            assert_eq!(lesions.len(), want.lesions.len());
            for (j, l) in lesions.iter().enumerate() {
                assert_eq!(l["phrase"], want.lesions[j].phrase().as_str());
                assert_eq!(l["side"], want.lesions[j].side.name());
                assert_eq!(l["pixels"], want.lesions[j].pixels);
                assert!(s.text.contains(l["phrase"].as_str().unwrap()));
            }
        }
    }

    // never overwrite: a second run into the same folder fails and changes nothing
    let before = std::fs::read(out.join("Train_Folder/Train_text.xlsx")).unwrap();
    let err = cli(&["synth", "2d", "--out", o, "--train", "1", "--seed", "2"]).unwrap_err();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read(out.join("Train_Folder/Train_text.xlsx")).unwrap(),
        before
    );

    // `semiseg dataset` recognises the layout
    let summary = cli(&["dataset", o]).unwrap();
    assert!(summary.contains("LViT"), "{summary}");
    assert!(
        summary.contains("Train_Folder/") && summary.contains("64x64 (5)"),
        "{summary}"
    );
}

#[test]
fn synth_2d_checks_its_arguments() {
    let help = cli(&["synth", "2d", "--help"]).unwrap_err();
    assert!(
        help.contains("Example") && help.contains("Usage: semiseg"),
        "{help}"
    );
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("x");
    let o = o.to_str().unwrap();
    let err = cli(&["synth", "2d", "--out", o, "--size", "16"]).unwrap_err();
    assert!(err.contains("too small") && err.contains("--size"), "{err}");
    let err = cli(&["synth", "2d", "--out", o, "--max-lesions", "7"]).unwrap_err();
    assert!(err.contains("max"), "{err}");
    let err = cli(&["synth", "2d", "--out", o, "--train", "0"]).unwrap_err();
    assert!(err.contains("--train"), "{err}");
    assert!(!dir.path().join("x").exists());
}

#[test]
fn monuseg_loads_as_is() {
    let root = monuseg_lvit();
    let ds = LvitDataset::open(&root).unwrap();
    assert!(ds.missing().is_empty());
    for (split, n) in [
        (LvitSplit::Train, 24),
        (LvitSplit::Val, 6),
        (LvitSplit::Test, 14),
    ] {
        let samples = ds.split(split);
        assert_eq!(samples.len(), n, "{split}");
        for s in samples {
            assert!(s.image.is_file(), "{}", s.image.display());
            let mask = s.mask.as_ref().unwrap();
            assert!(mask.is_file(), "{}", mask.display());
            assert_eq!(mask.file_name().unwrap().to_str().unwrap(), s.key);
            assert!(!s.text.trim().is_empty(), "{}", s.key);
            assert!(s.key.starts_with("TCGA-"), "{}", s.key);
        }
    }
    let first = &ds.split(LvitSplit::Train)[0];
    assert_eq!(first.key, "TCGA-21-5784-01Z-00-DX1.png");
    assert_eq!(first.text, "The nuclei are evenly distributed.");
    assert_eq!(first.row, 2);
    // decoded as the model sees it: 224 x 224 RGB in [0, 1], nuclei a fair share of the mask
    let image = Image2d::read(&first.image, 224).unwrap();
    assert_eq!(image.data.len(), 3 * 224 * 224);
    assert!(image.data.iter().all(|v| (0.0..=1.0).contains(v)));
    let mask = Mask2d::read(first.mask.as_ref().unwrap(), 224, MaskResize::Nearest).unwrap();
    let share = mask.foreground() as f64 / (224.0 * 224.0);
    assert!(share > 0.05 && share < 0.6, "{share}");

    let summary = cli(&["dataset", root.to_str().unwrap()]).unwrap();
    assert!(summary.contains("512x512 (24)"), "{summary}");
    assert!(summary.contains("Test_Folder/"), "{summary}");
}

/// A tiny valid split folder: `img/` and `labelcol/` with these names, and a table of rows.
fn layout(root: &Path, split: LvitSplit, images: &[&str], masks: &[&str], rows: &[(&str, &str)]) {
    let dir = root.join(split.folder());
    let png = gray_png(vec![0, 255, 255, 0], 2).unwrap();
    for (sub, names) in [("img", images), ("labelcol", masks)] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for n in names {
            std::fs::write(dir.join(sub).join(n), &png).unwrap();
        }
    }
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    std::fs::write(dir.join(split.xlsx()), text_table_xlsx(&rows).unwrap()).unwrap();
}

fn open_err(root: &Path) -> LvitError {
    LvitDataset::open(root).unwrap_err()
}

#[test]
fn image_names_resolve_like_monuseg_and_qata() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    // MoNuSeg: masks .png, images .tif; QaTa: masks named mask_<image>
    layout(
        r,
        LvitSplit::Train,
        &["a.tif", "covid_1.png", ".DS_Store", "Thumbs.db"],
        &["a.png", "mask_covid_1.png"],
        &[("a.png", "one text"), ("mask_covid_1.png", "two words")],
    );
    let ds = LvitDataset::open(r).unwrap();
    let t = ds.split(LvitSplit::Train);
    assert_eq!(t[0].image, r.join("Train_Folder/img/a.tif"));
    assert_eq!(t[1].image, r.join("Train_Folder/img/covid_1.png"));
    assert_eq!(
        t[1].mask.as_deref(),
        Some(r.join("Train_Folder/labelcol/mask_covid_1.png").as_path())
    );
    assert_eq!(ds.missing(), &[LvitSplit::Val, LvitSplit::Test]);
    // AMVLM pre-training folder: images with texts, no masks needed
    layout(
        r,
        LvitSplit::TrainAll,
        &["p.png", "q.png"],
        &[],
        &[("p.png", "x"), ("q.png", "y")],
    );
    std::fs::remove_dir(r.join("Train_all/labelcol")).unwrap();
    let ds = LvitDataset::open(r).unwrap();
    let all = ds.split(LvitSplit::TrainAll);
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|s| s.mask.is_none()));
}

#[test]
fn broken_layouts_say_what_is_wrong() {
    let new = || tempfile::tempdir().unwrap();
    let good = |r: &Path| {
        layout(
            r,
            LvitSplit::Train,
            &["a.png", "b.png"],
            &["a.png", "b.png"],
            &[("a.png", "text a"), ("b.png", "text b")],
        )
    };

    // not an LViT folder at all
    let d = new();
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::NotLvit { .. }), "{e}");

    // a row whose image does not exist: row number and name
    let d = new();
    layout(
        d.path(),
        LvitSplit::Train,
        &["a.png"],
        &["a.png", "c.png"],
        &[("a.png", "text a"), ("c.png", "text c")],
    );
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::NoImage { row: 3, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("row 3") && msg.contains("\"c.png\""), "{msg}");

    // an image without a row: named
    let d = new();
    good(d.path());
    std::fs::copy(
        d.path().join("Train_Folder/img/a.png"),
        d.path().join("Train_Folder/img/extra.png"),
    )
    .unwrap();
    let e = open_err(d.path());
    assert!(
        matches!(e, LvitError::ImageWithoutRow { count: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("extra.png"), "{e}");

    // a missing column: the columns found are listed
    let d = new();
    good(d.path());
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Image", "Caption", "Notes"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "a.png").unwrap();
    ws.write_string(1, 1, "text").unwrap();
    let xlsx = d.path().join("Train_Folder/Train_text.xlsx");
    std::fs::write(&xlsx, wb.save_to_buffer().unwrap()).unwrap();
    let e = open_err(d.path());
    assert!(
        matches!(
            e,
            LvitError::MissingColumn {
                column: "Description",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("\"Caption\""), "{e}");

    // not an xlsx (a CSV saved under the name)
    std::fs::write(&xlsx, "Image,Description\na.png,text a\n").unwrap();
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::Xlsx { .. }), "{e}");
    assert!(e.to_string().contains("Train_text.xlsx"), "{e}");

    // no xlsx
    std::fs::remove_file(&xlsx).unwrap();
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::MissingXlsx { .. }), "{e}");

    // duplicate rows, empty descriptions, missing masks, a missing labelcol/
    let d = new();
    layout(
        d.path(),
        LvitSplit::Train,
        &["a.png"],
        &["a.png"],
        &[("a.png", "text"), ("a.png", "again")],
    );
    let e = open_err(d.path());
    assert!(
        matches!(
            e,
            LvitError::DuplicateRow {
                row: 3,
                first_row: 2,
                ..
            }
        ),
        "{e}"
    );
    let d = new();
    layout(
        d.path(),
        LvitSplit::Train,
        &["a.png"],
        &["a.png"],
        &[("a.png", " ")],
    );
    let e = open_err(d.path());
    assert!(
        matches!(e, LvitError::EmptyDescription { row: 2, .. }),
        "{e}"
    );
    let d = new();
    layout(
        d.path(),
        LvitSplit::Train,
        &["a.png", "b.png"],
        &["a.png"],
        &[("a.png", "x"), ("b.png", "y")],
    );
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::NoMask { row: 3, .. }), "{e}");
    std::fs::remove_dir_all(d.path().join("Train_Folder/labelcol")).unwrap();
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::MissingFolder { .. }), "{e}");
    assert!(e.to_string().contains("labelcol"), "{e}");

    // masks that are not their image's: half its size, empty, text, or an absurd PNG header
    // (before: all passed `semiseg dataset`, the check never opened a mask)
    let d = new();
    good(d.path());
    let mask = d.path().join("Train_Folder/labelcol/b.png");
    std::fs::write(&mask, gray_png(vec![255], 1).unwrap()).unwrap();
    let e = open_err(d.path());
    assert!(matches!(e, LvitError::MaskSize { .. }), "{e}");
    assert!(
        e.to_string().contains("1 x 1 pixels") && e.to_string().contains("2 x 2"),
        "{e}"
    );
    std::fs::write(&mask, b"").unwrap();
    let e = open_err(d.path()).to_string();
    assert!(e.contains("b.png") && e.contains("not a readable"), "{e}");
    std::fs::write(&mask, b"this is a text file, not a mask\n").unwrap();
    let e = open_err(d.path()).to_string();
    assert!(e.contains("b.png") && e.contains("not a readable"), "{e}");
    std::fs::write(&mask, png_header(60_000, 60_000)).unwrap();
    let e = open_err(d.path()).to_string();
    assert!(
        e.contains("60000 x 60000") && e.contains("megapixels"),
        "{e}"
    );
    let err = cli(&["dataset", d.path().to_str().unwrap()]).unwrap_err();
    assert!(err.contains("60000 x 60000"), "{err}");

    // a broken Val split fails too (it is checked, not skipped), and the CLI shows the message
    let d = new();
    good(d.path());
    layout(
        d.path(),
        LvitSplit::Val,
        &["v.png"],
        &["v.png"],
        &[("w.png", "t")],
    );
    let e = open_err(d.path());
    assert!(e.to_string().contains("Val_text.xlsx row 2"), "{e}");
    let err = cli(&["dataset", d.path().to_str().unwrap()]).unwrap_err();
    assert!(
        err.contains("Val_text.xlsx row 2") && err.contains("\"w.png\""),
        "{err}"
    );
}

/// An 8-bit grey PNG header of this size with no pixel data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // IHDR, then an empty IDAT (a decoder reads the header up to the first data chunk) and IEND
    for (kind, data) in [(&b"IHDR"[..], ihdr), (b"IDAT", vec![]), (b"IEND", vec![])] {
        let mut chunk = kind.to_vec();
        chunk.extend(&data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    png
}

#[test]
fn a_workbook_naming_a_missing_shared_string_is_refused_not_a_panic() {
    // found by the fuzzer (seed 1, input 13046): calamine indexed the shared strings unchecked
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz/shared_string_out_of_range.xlsx");
    let bytes = std::fs::read(&path).unwrap();
    let e = semiseg::data::parse_text_table(&bytes, &path).unwrap_err();
    assert!(matches!(e, LvitError::Xlsx { .. }), "{e}");
    assert!(e.to_string().contains("shared string"), "{e}");
}
