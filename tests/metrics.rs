//! Metrics, the distance transform and the SDM against medpy / scipy / scikit-image / DTC's
//! `compute_sdf` (values in tests/fixtures/metrics.json, made by make_fixtures.py), isotropic and
//! anisotropic, including an object touching the array edge.

use semiseg::metrics::{asd, assd, dice, edt, evaluate_case, hd95, hd95_monai, jaccard};
use semiseg::simcvd::signed_distance_map;
use semiseg_integration::json;

struct Case {
    dims: [usize; 3],
    spacing: [f64; 3],
    pred: Vec<bool>,
    gt: Vec<bool>,
    v: serde_json::Value,
}

fn cases() -> Vec<Case> {
    let all = json("metrics.json");
    let bits = |s: &serde_json::Value| s.as_str().unwrap().bytes().map(|b| b == b'1').collect();
    all.as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            dims: serde_json::from_value(c["dims"].clone()).unwrap(),
            spacing: serde_json::from_value(c["spacing"].clone()).unwrap(),
            pred: bits(&c["pred"]),
            gt: bits(&c["gt"]),
            v: c.clone(),
        })
        .collect()
}

fn close(name: &str, got: f64, want: &serde_json::Value, tol: f64) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "{name}: {got} vs medpy {want}"
    );
}

#[test]
fn metrics_match_medpy() {
    let cs = cases();
    assert!(cs.len() >= 6);
    assert!(
        cs.iter().any(|c| c.spacing != [1.0; 3]),
        "no anisotropic case"
    );
    for (i, c) in cs.iter().enumerate() {
        let n = |m: &str| format!("case {i} {m}");
        close(&n("dice"), dice(&c.pred, &c.gt), &c.v["dice"], 1e-12);
        close(
            &n("jaccard"),
            jaccard(&c.pred, &c.gt),
            &c.v["jaccard"],
            1e-12,
        );
        close(
            &n("hd95"),
            hd95(&c.pred, &c.gt, c.dims, c.spacing).unwrap(),
            &c.v["hd95"],
            1e-9,
        );
        close(
            &n("asd"),
            asd(&c.pred, &c.gt, c.dims, c.spacing).unwrap(),
            &c.v["asd"],
            1e-9,
        );
        close(
            &n("assd"),
            assd(&c.pred, &c.gt, c.dims, c.spacing).unwrap(),
            &c.v["assd"],
            1e-9,
        );
        close(
            &n("hd95_monai"),
            hd95_monai(&c.pred, &c.gt, c.dims, c.spacing).unwrap(),
            &c.v["hd95_monai"],
            1e-9,
        );
        let m = evaluate_case(&c.pred, &c.gt, c.dims, c.spacing);
        close(&n("case hd95"), m.hd95, &c.v["hd95"], 1e-9);
    }
}

#[test]
fn edt_matches_scipy_with_sampling() {
    for (i, c) in cases().iter().enumerate() {
        let want = c.v["edt_gt"].as_array().unwrap();
        let got = edt(&c.gt, c.dims, c.spacing);
        for (f, (g, w)) in got.iter().zip(want).enumerate() {
            close(&format!("case {i} voxel {f}"), *g, w, 1e-9);
        }
    }
}

#[test]
fn sdm_matches_dtc_compute_sdf() {
    for (i, c) in cases().iter().enumerate() {
        let want = c.v["sdm_gt"].as_array().unwrap();
        let got = signed_distance_map(&c.gt, c.dims);
        for (f, (g, w)) in got.iter().zip(want).enumerate() {
            close(&format!("case {i} voxel {f}"), *g as f64, w, 1e-6);
        }
    }
}
