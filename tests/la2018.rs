//! The real Left Atrium data (../shared/data/la2018): the reader gives nibabel's floats (the
//! literature's normalised values), the split is the literature's, and `semiseg eval` gives
//! medpy's numbers on shifted labels (tests/fixtures/la2018.json, from make_fixtures.py).

use semiseg::data::{Dataset, LabeledChoice, Split};
use semiseg::metrics::evaluate_case;
use semiseg::volume::{encode_nifti, read_nifti, DataType};
use semiseg_integration::{cli, json, la2018, shift};

#[test]
fn la_image_floats_equal_nibabel() {
    let fx = json("la2018.json");
    let img = &fx["image"];
    let id = img["id"].as_str().unwrap();
    let vol = read_nifti(
        la2018().join(format!("imagesTr/{id}.nii.gz")),
        &Default::default(),
    )
    .unwrap();
    let dims: Vec<usize> = serde_json::from_value(img["dims"].clone()).unwrap();
    assert_eq!(vol.dims.to_vec(), dims);
    let (lo, hi) = vol.range().unwrap();
    assert_eq!(lo as f64, img["min"].as_f64().unwrap());
    assert_eq!(hi as f64, img["max"].as_f64().unwrap());
    let sum: f64 = vol.data.iter().map(|&v| v as f64).sum();
    assert!((sum - img["sum"].as_f64().unwrap()).abs() < 1e-6 * sum.abs());
    let probes: Vec<[usize; 3]> = serde_json::from_value(img["probes"].clone()).unwrap();
    let values: Vec<f64> = serde_json::from_value(img["values"].clone()).unwrap();
    for (p, v) in probes.iter().zip(values) {
        assert_eq!(
            vol.data[vol.index(p[0], p[1], p[2])] as f64,
            v,
            "voxel {p:?}"
        );
    }
    assert_eq!(vol.orientation(), "RAS");
    assert_eq!(vol.spacing(), [0.625; 3]);
}

#[test]
fn la_split_is_the_literatures() {
    let root = la2018();
    let ds = Dataset::open(&root).unwrap();
    assert_eq!(ds.cases.len(), 100);
    let train: Vec<String> = std::fs::read_to_string(root.join("train.list"))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    for n in [16, 8] {
        let s = Split::from_lists(&ds, LabeledChoice::First(n)).unwrap();
        assert_eq!(s.labeled, train[..n].to_vec());
        assert_eq!(s.unlabeled, train[n..].to_vec());
        assert_eq!(s.test.len(), 20);
        assert!(s.test.iter().all(|t| !train.contains(t)));
    }
    let a = Split::from_lists(&ds, LabeledChoice::Seeded { n: 16, seed: 1337 }).unwrap();
    let b = Split::from_lists(&ds, LabeledChoice::Seeded { n: 16, seed: 1337 }).unwrap();
    let c = Split::from_lists(&ds, LabeledChoice::Seeded { n: 16, seed: 7 }).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.labeled, c.labeled);
    assert_eq!(a.labeled.len() + a.unlabeled.len(), 80);
    let err = Split::from_lists(&ds, LabeledChoice::First(81))
        .unwrap_err()
        .to_string();
    assert!(err.contains("only 80"), "{err}");
}

#[test]
fn eval_on_la_labels_against_themselves_is_perfect() {
    let root = la2018();
    let labels = root.join("labelsTr");
    let list = root.join("test.list");
    let out = cli(&[
        "eval",
        "--pred",
        labels.to_str().unwrap(),
        "--gt",
        labels.to_str().unwrap(),
        "--cases",
        list.to_str().unwrap(),
    ])
    .unwrap();
    let mean = out
        .lines()
        .find(|l| l.contains("mean (20 cases)"))
        .expect(&out);
    let cols: Vec<&str> = mean.split('|').map(str::trim).collect();
    assert_eq!(&cols[2..6], &["100.00", "100.00", "0.00", "0.00"], "{mean}");
}

#[test]
fn eval_on_shifted_la_labels_gives_medpys_values() {
    let fx = json("la2018.json");
    let root = la2018();
    let dir = tempfile::tempdir().unwrap();
    let (pred_dir, gt_dir) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred_dir).unwrap();
    std::fs::create_dir_all(&gt_dir).unwrap();
    let shifted = fx["shifted"].as_array().unwrap();
    for s in shifted {
        let id = s["id"].as_str().unwrap();
        let label_path = root.join(format!("labelsTr/{id}.nii.gz"));
        std::fs::copy(&label_path, gt_dir.join(format!("{id}.nii.gz"))).unwrap();
        let gt = read_nifti(&label_path, &Default::default()).unwrap();
        let off: Vec<i64> = serde_json::from_value(s["offset"].clone()).unwrap();
        let moved = shift(&gt.to_mask(), gt.dims, [off[0], off[1], off[2]]);
        // the library directly
        let m = evaluate_case(&moved, &gt.to_mask(), gt.dims, [1.0; 3]);
        for (got, key) in [
            (m.dice, "dice"),
            (m.jaccard, "jaccard"),
            (m.hd95, "hd95_voxel"),
            (m.asd, "asd_voxel"),
        ] {
            let want = s[key].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{id} {key}: {got} vs medpy {want}"
            );
        }
        // as a mask file another tool might write (uint8, .nii, the label's header)
        let pred = gt.with_data(moved.iter().map(|&b| b as u8 as f32).collect());
        std::fs::write(
            pred_dir.join(format!("{id}.nii")),
            encode_nifti(&pred, DataType::Uint8, false).unwrap(),
        )
        .unwrap();
    }
    for (unit, suffix) in [("voxel", "voxel"), ("mm", "mm")] {
        let csv = dir.path().join(format!("metrics_{unit}.csv"));
        cli(&[
            "eval",
            "--pred",
            pred_dir.to_str().unwrap(),
            "--gt",
            gt_dir.to_str().unwrap(),
            "--spacing",
            unit,
            "--csv",
            csv.to_str().unwrap(),
        ])
        .unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows[0][..5],
            [
                "case",
                "dice",
                "jaccard",
                &format!("hd95_{unit}"),
                &format!("asd_{unit}")
            ]
        );
        assert_eq!(rows.len(), shifted.len() + 2);
        assert_eq!(rows.last().unwrap()[0], "mean");
        let mut sums = [0.0; 4];
        for s in shifted {
            let id = s["id"].as_str().unwrap();
            let row = rows
                .iter()
                .find(|r| r[0] == format!("{id}.nii"))
                .expect(&text);
            for (c, key) in [
                (1, "dice".to_string()),
                (2, "jaccard".into()),
                (3, format!("hd95_{suffix}")),
                (4, format!("asd_{suffix}")),
            ] {
                let got: f64 = row[c].parse().unwrap();
                let want = s[&key].as_f64().unwrap();
                assert!(
                    (got - want).abs() < 1e-5,
                    "{id} {key}: {got} vs medpy {want}"
                );
                sums[c - 1] += want;
            }
        }
        let mean = rows.last().unwrap();
        for c in 1..=4 {
            let got: f64 = mean[c].parse().unwrap();
            assert!((got - sums[c - 1] / shifted.len() as f64).abs() < 1e-5);
        }
    }
}

#[test]
fn dataset_command_shows_the_split() {
    let root = la2018();
    let out = cli(&["dataset", root.to_str().unwrap(), "--labeled", "8"]).unwrap();
    assert!(out.contains("cases      100 (100 with labels)"), "{out}");
    assert!(
        out.contains("labeled    8 (first 8 of the training list)"),
        "{out}"
    );
    assert!(out.contains("unlabeled  72"), "{out}");
    assert!(out.contains("test       20"), "{out}");
}
