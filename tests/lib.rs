//! Helpers shared by the integration tests: where the fixtures and the real data are, and running
//! the `semiseg` command line in-process (the same `semiseg_cli::run` the binary calls).

use std::path::{Path, PathBuf};

/// `tests/fixtures/`: small files and reference values made by `tests/fixtures/make_fixtures.py`
/// with nibabel, scipy, scikit-image and medpy.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A NIfTI fixture written by nibabel.
pub fn nifti_fixture(name: &str) -> PathBuf {
    fixtures().join("nifti").join(name)
}

/// Parsed JSON fixture.
pub fn json(name: &str) -> serde_json::Value {
    let p = fixtures().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// The real Left Atrium data: `$SEMISEG_LA2018`, or `../shared/data/la2018` beside the checkout
/// (where CI has it). Tests that need it fail with this message if it is missing.
pub fn la2018() -> PathBuf {
    let p = std::env::var_os("SEMISEG_LA2018")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/la2018"));
    assert!(
        p.join("dataset.json").exists(),
        "the LA2018 data is not at {}; set SEMISEG_LA2018 to its folder",
        p.display()
    );
    p
}

/// The all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, tokenizer.json, vocab.txt):
/// `$SEMISEG_MINILM`, or `data/models/all-minilm-l6-v2` in the checkout, where
/// `scripts/fetch_minilm.sh` puts it. Tests that need it fail with this message if it is missing.
pub fn minilm() -> PathBuf {
    let p = std::env::var_os("SEMISEG_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/models/all-minilm-l6-v2")
        });
    assert!(
        p.join("model.safetensors").exists(),
        "all-MiniLM-L6-v2 is not at {}; run scripts/fetch_minilm.sh (or set SEMISEG_MINILM to its folder)",
        p.display()
    );
    p
}

/// The real MoNuSeg data in the LViT layout: `$SEMISEG_MONUSEG`, or `../shared/data/monuseg-lvit`
/// beside the checkout. Tests that need it fail with this message if it is missing.
pub fn monuseg_lvit() -> PathBuf {
    let p = std::env::var_os("SEMISEG_MONUSEG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/monuseg-lvit")
        });
    assert!(
        p.join("Train_Folder").is_dir(),
        "the MoNuSeg LViT data is not at {}; set SEMISEG_MONUSEG to its folder",
        p.display()
    );
    p
}

/// burn's random generator is process-wide (`Backend::seed`), so two trainings in one test
/// process would draw from each other's stream: tests that train hold this lock. (The CLI trains
/// one run per process, which is what the reproducibility guarantee covers.) burn 0.21's autodiff
/// also loses gradients when two threads build and differentiate graphs at once
/// (tracel-ai/burn#5573), another reason for one training at a time. The Ctrl-C flags
/// (`semiseg_cli::interrupt`) are process-wide too: a simulated press must reach its own run.
pub fn one_training_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run `semiseg ARGS...`; returns stdout, or the error as text.
pub fn cli(args: &[&str]) -> Result<String, String> {
    let mut out = Vec::new();
    let argv = std::iter::once("semiseg").chain(args.iter().copied());
    match semiseg_cli::run(argv, &mut out) {
        Ok(()) => Ok(String::from_utf8(out).unwrap()),
        Err(e) => Err(e.to_string()),
    }
}

/// A bool mask shifted by `off` voxels with zero fill (as `make_fixtures.py`'s `shift`).
pub fn shift(mask: &[bool], dims: [usize; 3], off: [i64; 3]) -> Vec<bool> {
    let mut out = vec![false; mask.len()];
    for i in 0..dims[0] {
        for j in 0..dims[1] {
            for k in 0..dims[2] {
                let t = [i as i64 + off[0], j as i64 + off[1], k as i64 + off[2]];
                if (0..3).all(|d| t[d] >= 0 && t[d] < dims[d] as i64) {
                    let src = (i * dims[1] + j) * dims[2] + k;
                    let dst = (t[0] as usize * dims[1] + t[1] as usize) * dims[2] + t[2] as usize;
                    out[dst] = mask[src];
                }
            }
        }
    }
    out
}

/// A run's `train_log.csv` split into what must repeat exactly (header and loss columns, the
/// wall-clock column dropped) and that clock, one value per step (the last column).
pub fn train_log(run: &Path) -> (Vec<String>, Vec<f64>) {
    let text = std::fs::read_to_string(run.join("train_log.csv")).unwrap();
    let rows: Vec<(&str, &str)> = text.lines().map(|l| l.rsplit_once(',').unwrap()).collect();
    let clock = rows[1..].iter().map(|r| r.1.parse().unwrap()).collect();
    (rows.iter().map(|r| r.0.to_string()).collect(), clock)
}
