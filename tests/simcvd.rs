//! SimCVD end to end on the CPU, through the command line: a small configuration on a synthetic
//! dataset learns (loss falls, held-out Dice passes a threshold), a run is reproducible from its
//! seed, a resumed run equals the uninterrupted one, and eval-model / predict write aligned masks.

use semiseg::volume::read_nifti;
use semiseg_integration::{cli, train_log};
use std::path::{Path, PathBuf};

/// A tiny SimCVD configuration: every loss term on, small widths.
const SMALL: &str = r#"
method = "simcvd"
labeled = 4
patch = [32, 32, 32]
stride = [16, 16, 16]
max_steps = 60
n_filters = 4
proj_pool = 16
proj_hidden = [32]
proj_out = 16
eval_every = 30
checkpoint_every = 1000
"#;

fn lock() -> std::sync::MutexGuard<'static, ()> {
    semiseg_integration::one_training_at_a_time()
}

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    runs: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth");
    cli(&[
        "synth",
        "3d",
        "--out",
        s(&data),
        "--cases",
        "10",
        "--test",
        "2",
        "--size",
        "32",
    ])
    .unwrap();
    let config = dir.path().join("small.toml");
    std::fs::write(&config, SMALL).unwrap();
    Setup {
        runs: dir.path().join("runs"),
        data,
        config,
        _dir: dir,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `train simcvd --resume RUN` on the CPU, quietly.
fn resume(run: &Path) -> Result<String, String> {
    cli(&[
        "train",
        "simcvd",
        "--resume",
        s(run),
        "--backend",
        "cpu",
        "--quiet",
    ])
}

fn train(st: &Setup, name: &str, extra: &[&str]) -> Result<String, String> {
    train_on(st, name, "cpu", extra)
}

fn train_on(st: &Setup, name: &str, backend: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "train",
        "simcvd",
        "--data",
        s(&st.data),
        "--config",
        s(&st.config),
        "--backend",
        backend,
        "--runs",
        s(&st.runs),
        "--name",
        name,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

/// The loss columns of a run's log (without the wall-clock column).
/// The Dice of a run's last evaluation (`evaluations/summary.csv`).
fn last_dice(run: &Path) -> f64 {
    let summary = std::fs::read_to_string(run.join("evaluations/summary.csv")).unwrap();
    let last = summary.lines().last().unwrap();
    last.split(',').nth(1).unwrap().parse().unwrap()
}

fn log(run: &Path) -> Vec<String> {
    train_log(run).0
}

#[test]
fn a_small_simcvd_learns_the_synthetic_organ() {
    let _one = lock();
    let st = setup();
    let out = train(&st, "learn", &[]).unwrap();
    assert!(out.contains("steps 60/60"), "{out}");
    let run = st.runs.join("learn");
    let rows: Vec<Vec<f64>> = log(&run)[1..]
        .iter()
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let seg = |r: &[Vec<f64>]| r.iter().map(|row| row[4]).sum::<f64>() / r.len() as f64;
    let (first, last) = (seg(&rows[..10]), seg(&rows[50..]));
    assert!(last < 0.75 * first, "supervised loss {first} -> {last}");
    // every SimCVD term was computed
    assert!(
        rows.iter().all(|r| r[5..9].iter().all(|v| v.is_finite())),
        "a loss term is missing"
    );
    let dice = last_dice(&run);
    assert!(dice > 0.5, "held-out Dice after 60 steps: {dice}");
    // the test cases are monitoring only: no weights are chosen on them
    assert!(!run.join("best").exists());
}

/// Press Ctrl-C (what `semiseg`'s signal handler calls) once the run at `log` has logged a step.
fn ctrl_c_after_first_step(log: PathBuf) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_secs(300) {
            let lines = std::fs::read_to_string(&log).map_or(0, |s| s.lines().count());
            if lines >= 2 {
                return semiseg_cli::interrupt::on_signal();
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        false
    })
}

#[test]
fn ctrl_c_checkpoints_and_the_resumed_run_equals_the_uninterrupted_one() {
    let _one = lock();
    let st = setup();
    let steps = ["--steps", "30", "--eval-every", "0"];
    train(&st, "whole", &steps).unwrap();
    let run = st.runs.join("stopped");
    let press = ctrl_c_after_first_step(run.join("train_log.csv"));
    let out = train(&st, "stopped", &steps).unwrap();
    assert!(
        press.join().unwrap(),
        "the run ended before Ctrl-C was pressed"
    );
    let done = log(&run).len() - 1; // without the header
    assert!(done < 30, "Ctrl-C did not stop the run: {done} steps");
    assert!(
        out.contains(&format!("steps {done}/30")) && out.contains("--resume"),
        "{out}"
    );
    assert!(run
        .join("checkpoints")
        .join(format!("step_{done:06}"))
        .is_dir());
    resume(&run).unwrap();
    assert_eq!(
        log(&st.runs.join("whole")),
        log(&run),
        "the interrupted and resumed run differs from the uninterrupted one"
    );

    // --time-limit stops the same way: a limit already passed after the first step stops there
    let mut timed = steps.to_vec();
    timed.extend(["--time-limit", "1ms"]);
    let out = train(&st, "timed", &timed).unwrap();
    assert!(
        out.contains("time limit 1ms reached: stopped after step 1,")
            && out.contains("steps 1/30")
            && out.contains("--resume"),
        "{out}"
    );
    let run = st.runs.join("timed");
    assert!(run.join("checkpoints/step_000001").is_dir());
    // a limit that is not reached changes nothing
    let out = cli(&[
        "train",
        "simcvd",
        "--resume",
        s(&run),
        "--backend",
        "cpu",
        "--quiet",
        "--time-limit",
        "1h",
    ])
    .unwrap();
    assert!(
        out.contains("steps 30/30") && !out.contains("time limit"),
        "{out}"
    );
    assert_eq!(log(&st.runs.join("whole")), log(&run));
    let err = train(&st, "never", &["--time-limit", "soon"]).unwrap_err();
    assert!(
        err.contains("--time-limit") && err.contains("such as 600 (seconds)"),
        "{err}"
    );
    assert!(!st.runs.join("never").exists());
}

#[test]
fn runs_are_reproducible_resumable_and_usable() {
    let _one = lock();
    let st = setup();
    let short = ["--steps", "6", "--eval-every", "6"];
    train(&st, "a", &short).unwrap();
    train(&st, "b", &short).unwrap();
    let mut stop = short.to_vec();
    stop.extend(["--stop-after", "3"]);
    let out = train(&st, "c", &stop).unwrap();
    assert!(out.contains("--resume"), "{out}");
    // a run stopped between evaluations names the step its last Dice is from; with validation
    // cases (--val-list, held out of the training cases) it evaluates them too and keeps best/,
    // chosen on them alone
    let val_list = st.config.with_file_name("val.list");
    std::fs::write(&val_list, "synth_006\n").unwrap();
    let out = train(
        &st,
        "stopped",
        &[
            "--steps",
            "6",
            "--eval-every",
            "2",
            "--stop-after",
            "3",
            "--val-list",
            s(&val_list),
        ],
    )
    .unwrap();
    assert!(
        out.contains("test Dice at step 2:")
            && out.contains("(monitoring;")
            && out.contains("validation Dice at step 2:")
            && out.contains("best validation Dice")
            && !out.contains("at step 3:"),
        "{out}"
    );
    let stopped = st.runs.join("stopped");
    let manifest = std::fs::read_to_string(stopped.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let ids = |k: &str| -> Vec<String> {
        manifest[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("validation"), ["synth_006"]);
    assert!(!ids("unlabeled").contains(&"synth_006".to_string()));
    let val = std::fs::read_to_string(stopped.join("evaluations/validation/summary.csv")).unwrap();
    assert!(val.lines().nth(1).unwrap().starts_with("2,"), "{val}");
    let best = std::fs::read_to_string(stopped.join("best/state.json")).unwrap();
    assert!(best.contains("\"chosen_on_validation\": true"), "{best}");
    // a test case cannot be a validation case; the refused run leaves no folder
    std::fs::write(&val_list, "synth_009\n").unwrap();
    let err = train(&st, "val-test", &["--val-list", s(&val_list)]).unwrap_err();
    assert!(err.contains("\"synth_009\" is a test case"), "{err}");
    assert!(!st.runs.join("val-test").exists());
    let c = st.runs.join("c");
    let out = resume(&c).unwrap();
    assert!(
        out.contains("resuming") && out.contains("steps 6/6"),
        "{out}"
    );
    // resuming a finished run says so and trains nothing (no new session row below)
    let out = resume(&c).unwrap();
    assert!(
        out.contains("has finished its 6 steps") && out.contains("eval-model --run"),
        "{out}"
    );
    let (a, b) = (st.runs.join("a"), st.runs.join("b"));
    assert_eq!(log(&a), log(&b), "same seed, different losses");
    assert_eq!(
        log(&a),
        log(&c),
        "resumed run differs from the uninterrupted one"
    );
    // each invocation says where it started and which build ran it
    let sessions = std::fs::read_to_string(c.join("sessions.csv")).unwrap();
    let rows: Vec<Vec<&str>> = sessions.lines().map(|l| l.split(',').collect()).collect();
    assert!(
        rows.len() == 3 && rows[1][1] == "0" && rows[2][1] == "3" && !rows[2][4].is_empty(),
        "{sessions}"
    );
    // each session ends by writing the run's report, from the run's own files
    let report = std::fs::read_to_string(c.join("report.md")).unwrap();
    for want in [
        "**Trained** 6 of 6 steps (100.0%)",
        "over 2 sessions",
        "| 6 |",
        "semiseg train simcvd --config",
        "![training curves](curves.svg)",
    ] {
        assert!(report.contains(want), "{want:?} not in\n{report}");
    }
    assert!(std::fs::read_to_string(c.join("curves.svg"))
        .unwrap()
        .contains(">\nseg\n<"));
    let out = cli(&["report", "--run", s(&c)]).unwrap();
    assert!(
        out.contains("report.md") && out.contains("curves.svg"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(c.join("report.md")).unwrap(),
        report
    );
    // the training clock continues from the checkpoint instead of restarting at 0
    let secs = train_log(&c).1;
    assert!(
        secs.len() == 6 && secs.windows(2).all(|w| w[1] >= w[0]),
        "{secs:?}"
    );
    let eval = |r: &Path| std::fs::read_to_string(r.join("evaluations/step_000006.csv")).unwrap();
    assert_eq!(eval(&a), eval(&b));
    assert_eq!(eval(&a), eval(&c));
    // a different seed gives a different run
    let mut other = short.to_vec();
    other.extend(["--seed", "7"]);
    train(&st, "d", &other).unwrap();
    assert_ne!(log(&a), log(&st.runs.join("d")));
    // the run folder records what it needs
    let manifest = std::fs::read_to_string(a.join("manifest.json")).unwrap();
    assert!(manifest.contains("image_sha256") && manifest.contains("synth_000"));
    let config = std::fs::read_to_string(a.join("config.toml")).unwrap();
    assert!(
        config.contains("max_steps = 6") && config.contains("seed = 1337"),
        "{config}"
    );

    // eval-model writes masks aligned with each input, and never overwrites them
    let eval_model = [
        "eval-model",
        "--run",
        s(&a),
        "--data",
        s(&st.data),
        "--backend",
        "cpu",
    ];
    let out = cli(&eval_model).unwrap();
    assert!(out.contains("mean (2 cases)"), "{out}");
    // --checkpoint best: refused for a run without validation cases, and for a best/ that an
    // earlier semiseg chose on the test cases; a run with validation cases evaluates it
    let best_of = |run: &Path, out: &Path| {
        cli(&[
            "eval-model",
            "--run",
            s(run),
            "--data",
            s(&st.data),
            "--checkpoint",
            "best",
            "--out",
            s(out),
            "--backend",
            "cpu",
        ])
    };
    let err = best_of(&a, &a.join("best-eval")).unwrap_err();
    assert!(
        err.contains("no best/ model") && err.contains("--val-list"),
        "{err}"
    );
    let stopped = st.runs.join("stopped");
    let old = st.runs.join("old-best");
    std::fs::create_dir_all(old.join("best")).unwrap();
    for f in ["config.toml", "run.json", "manifest.json"] {
        std::fs::copy(a.join(f), old.join(f)).unwrap();
    }
    std::fs::copy(stopped.join("best/model.mpk"), old.join("best/model.mpk")).unwrap();
    std::fs::write(
        old.join("best/state.json"),
        r#"{"step": 6, "best_dice": 0.9, "best_step": 6}"#,
    )
    .unwrap();
    let err = best_of(&old, &old.join("best-eval")).unwrap_err();
    assert!(err.contains("chosen on the test cases"), "{err}");
    let out = best_of(&stopped, &stopped.join("best-eval")).unwrap();
    assert!(out.contains("mean (2 cases)"), "{out}");
    // the run's report now has the evaluation's mean row
    let report = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(
        out.contains("report:") && report.contains("| `predictions-last` | 2 |"),
        "{out}\n{report}"
    );
    let preds = a.join("predictions-last");
    for id in ["synth_008", "synth_009"] {
        let mask = read_nifti(preds.join(format!("{id}.nii.gz")), &Default::default()).unwrap();
        let scan = read_nifti(
            st.data.join(format!("imagesTr/{id}.nii.gz")),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(
            (mask.dims, mask.affine, mask.orientation()),
            (scan.dims, scan.affine, scan.orientation())
        );
        assert!(mask.data.iter().all(|&v| v == 0.0 || v == 1.0));
    }
    let err = cli(&eval_model).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    // compared: d differs from a by its seed; both evaluated step 6; a's eval-model row
    let csv = st.runs.join("tables/a-d.csv");
    let out = cli(&["compare", s(&a), s(&st.runs.join("d")), "--csv", s(&csv)]).unwrap();
    assert!(
        out.contains("| seed=7 ")
            && out.contains("at step 6, the last step every run evaluated")
            && out.contains("| predictions-last | 2 "),
        "{out}"
    );
    let dice = |r: &Path| format!("{:.2}", 100.0 * last_dice(r));
    let squeezed: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let want = format!("| a | {} |", dice(&a));
    assert!(
        squeezed.iter().any(|l| l.starts_with(&want)),
        "{want} in\n{out}"
    );
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 3, "{rows}");
    let err = cli(&["compare", s(&a), "--csv", s(&csv)]).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    // a coarser stride (faster on a CPU) says it is not the B6 protocol; one past the patch is refused
    let (coarse_dir, bad_dir) = (a.join("pred-coarse"), a.join("pred-bad"));
    let coarse = [
        &eval_model[..],
        &["--stride", "32,32,32", "--out", s(&coarse_dir)],
    ]
    .concat();
    let out = cli(&coarse).unwrap();
    assert!(
        out.contains("not the B6 protocol") && out.contains("mean (2 cases)"),
        "{out}"
    );
    let bad = [
        &eval_model[..],
        &["--stride", "33,16,16", "--out", s(&bad_dir)],
    ]
    .concat();
    let err = cli(&bad).unwrap_err();
    assert!(err.contains("does not fit the patch"), "{err}");
    assert!(!bad_dir.exists());
    // predict on one scan gives the same mask as eval-model
    let out_mask = a.join("one.nii.gz");
    let scan = st.data.join("imagesTr/synth_009.nii.gz");
    let predict = [
        "predict",
        "--model",
        s(&a),
        s(&scan),
        "-o",
        s(&out_mask),
        "--backend",
        "cpu",
    ];
    cli(&predict).unwrap();
    let one = read_nifti(&out_mask, &Default::default()).unwrap();
    let from_eval = read_nifti(preds.join("synth_009.nii.gz"), &Default::default()).unwrap();
    assert_eq!(one.data, from_eval.data);
    let err = cli(&predict).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    // -o into folders that do not exist yet creates them; under a file it is refused before
    // any inference, and the file stays as it was
    let nested = a.join("masks").join("one").join("m.nii.gz");
    let mut into = predict;
    into[5] = s(&nested);
    cli(&into).unwrap();
    assert_eq!(
        read_nifti(&nested, &Default::default()).unwrap().data,
        one.data
    );
    // with no --backend, a machine without CUDA segments on the CPU and says so
    if !cuda_driver_here() {
        let auto_mask = a.join("auto.nii.gz");
        let out = cli(&["predict", "--model", s(&a), s(&scan), "-o", s(&auto_mask)]).unwrap();
        assert!(
            out.contains("on cpu (--backend auto: no usable CUDA here"),
            "{out}"
        );
        let auto = read_nifti(&auto_mask, &Default::default()).unwrap();
        assert_eq!(auto.data, one.data);
    }
    let under_file = out_mask.join("m.nii.gz");
    into[5] = s(&under_file);
    let err = cli(&into).unwrap_err();
    assert!(err.contains("is a file, not a folder"), "{err}");
    // a scan smaller than the patch (32³ here) is segmented with a note; a single slice is refused
    let full = read_nifti(&scan, &Default::default()).unwrap();
    let crop = |dims: [usize; 3]| {
        let data = (0..dims[0])
            .flat_map(|i| (0..dims[1]).flat_map(move |j| (0..dims[2]).map(move |k| (i, j, k))))
            .map(|(i, j, k)| full.data[full.index(i, j, k)])
            .collect();
        semiseg::volume::Volume::new(data, dims, full.affine)
    };
    for (name, dims) in [("small", [20, 32, 24]), ("slice", [32, 32, 1])] {
        let path = a.join(format!("{name}.nii.gz"));
        semiseg::volume::write_nifti(&path, &crop(dims), semiseg::volume::DataType::Float32)
            .unwrap();
        let mask = a.join(format!("{name}-mask.nii.gz"));
        let mut args = into.to_vec();
        (args[3], args[5]) = (s(&path), s(&mask));
        match name {
            "small" => {
                let out = cli(&args).unwrap();
                assert!(out.contains("note: the scan (20×32×24) is smaller than the model's 32×32×32 patch along x, z:"), "{out}");
            }
            _ => {
                let err = cli(&args).unwrap_err();
                assert!(err.contains("a single slice"), "{err}");
                assert!(!a.join("slice-mask.nii.gz").exists());
            }
        }
    }
    assert_eq!(
        read_nifti(&out_mask, &Default::default()).unwrap().data,
        one.data
    );
    // a scan with raw intensities (the same scan x 80 + 400) is refused before any inference;
    // --zscore normalises it, and z-scoring removes the scale: both z-scored masks agree
    let raw_scan = a.join("raw.nii.gz");
    let raw_vol = full.with_data(full.data.iter().map(|v| v * 80.0 + 400.0).collect());
    semiseg::volume::write_nifti(&raw_scan, &raw_vol, semiseg::volume::DataType::Float32).unwrap();
    let raw_mask = a.join("raw-mask.nii.gz");
    let mut raw_args = into.to_vec();
    (raw_args[3], raw_args[5]) = (s(&raw_scan), s(&raw_mask));
    let err = cli(&raw_args).unwrap_err();
    assert!(
        err.contains("not z-scored") && err.contains("--zscore"),
        "{err}"
    );
    assert!(!raw_mask.exists());
    let mut masks = Vec::new();
    for (scan, name) in [(&raw_scan, "raw-z.nii.gz"), (&scan, "scan-z.nii.gz")] {
        let mask = a.join(name);
        let mut args = into.to_vec();
        (args[3], args[5]) = (s(scan), s(&mask));
        args.push("--zscore");
        cli(&args).unwrap();
        masks.push(read_nifti(&mask, &Default::default()).unwrap().data);
    }
    let differ = masks[0]
        .iter()
        .zip(&masks[1])
        .filter(|(x, y)| x != y)
        .count();
    assert!(differ * 1000 <= masks[0].len(), "{differ} voxels differ");
    assert!(masks[0].contains(&1.0));

    // export: a bundle with the run's card; f32 predicts exactly the run's mask, f16 nearly
    let csv = preds.join("metrics.csv");
    for precision in ["f32", "f16"] {
        let bundle = a.join(format!("model-{precision}.semiseg"));
        let export = [
            "export",
            "--run",
            s(&a),
            "--metrics",
            s(&csv),
            "--precision",
            precision,
            "-o",
            s(&bundle),
        ];
        let out = cli(&export).unwrap();
        assert!(
            out.contains("6 steps") && out.contains("over 2 cases"),
            "{out}"
        );
        assert!(cli(&export).unwrap_err().contains("already exists"));
        let card = semiseg::infer::ModelBundle::decode(&std::fs::read(&bundle).unwrap())
            .unwrap()
            .card;
        assert_eq!(
            (card.n_filters, card.patch, card.steps),
            (4, [32, 32, 32], 6)
        );
        let mask = a.join(format!("one-{precision}.nii.gz"));
        let mut p = predict;
        p[2] = s(&bundle);
        p[5] = s(&mask);
        cli(&p).unwrap();
        let m = read_nifti(&mask, &Default::default()).unwrap();
        assert_eq!((m.dims, m.affine), (one.dims, one.affine));
        let same = m.data.iter().zip(&one.data).filter(|(x, y)| x == y).count();
        let agree = same as f64 / m.data.len() as f64;
        if precision == "f32" {
            assert_eq!(m.data, one.data, "f32 bundle differs from the run");
        } else {
            assert!(agree > 0.99, "f16 bundle agrees on {agree} of the voxels");
        }
    }
    // eval-model takes a bundle too (--model), scores it as the run (f32: the same masks), and
    // asks where its masks go rather than writing next to the user's file
    let f32_bundle = a.join("model-f32.semiseg");
    let by_bundle = [
        "eval-model",
        "--model",
        s(&f32_bundle),
        "--data",
        s(&st.data),
        "--backend",
        "cpu",
    ];
    let err = cli(&by_bundle).unwrap_err();
    assert!(err.contains("pass --out"), "{err}");
    let bundle_preds = a.join("pred-bundle");
    let out = cli(&[&by_bundle[..], &["--out", s(&bundle_preds)]].concat()).unwrap();
    assert!(out.contains("mean (2 cases)"), "{out}");
    let mean_row = |csv: &Path| {
        std::fs::read_to_string(csv)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("mean"))
            .unwrap()
            .to_string()
    };
    assert_eq!(mean_row(&bundle_preds.join("metrics.csv")), mean_row(&csv));

    // --largest-component: each mask keeps its largest 26-connected part of the raw mask, and
    // predict does the same as eval-model
    let out = cli(&[&eval_model[..], &["--largest-component"]].concat()).unwrap();
    assert!(out.contains("largest connected"), "{out}");
    let lcc = a.join("predictions-last-lcc");
    for id in ["synth_008", "synth_009"] {
        let read =
            |dir: &Path| read_nifti(dir.join(format!("{id}.nii.gz")), &Default::default()).unwrap();
        let (raw, clean) = (read(&preds), read(&lcc));
        assert_eq!((raw.dims, raw.affine), (clean.dims, clean.affine));
        assert!(raw
            .data
            .iter()
            .zip(&clean.data)
            .all(|(r, c)| *c == 0.0 || *r == 1.0));
        let mut g =
            semiseg::data::Grid::new(clean.data.iter().map(|&v| v as u8).collect(), clean.dims);
        let c = semiseg::infer::keep_largest_component(&mut g, 1);
        assert!(c.components <= 1 && c.removed == 0, "{id}: {c:?}");
        let mut g = semiseg::data::Grid::new(raw.data.iter().map(|&v| v as u8).collect(), raw.dims);
        let c = semiseg::infer::keep_largest_component(&mut g, 1);
        let kept = clean.data.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(kept, c.kept, "{id}");
    }
    let lcc_mask = a.join("one-lcc.nii.gz");
    let mut p = predict;
    p[5] = s(&lcc_mask);
    let out = cli(&[&p[..], &["--largest-component"]].concat()).unwrap();
    assert!(out.contains("kept the largest"), "{out}");
    assert_eq!(
        read_nifti(&lcc_mask, &Default::default()).unwrap().data,
        read_nifti(lcc.join("synth_009.nii.gz"), &Default::default())
            .unwrap()
            .data
    );

    // a damaged bundle is refused with the reason
    let bad = a.join("bad.semiseg");
    let mut bytes = std::fs::read(a.join("model-f16.semiseg")).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&bad, &bytes).unwrap();
    let never = a.join("never.nii.gz");
    let mut p = predict;
    p[2] = s(&bad);
    p[5] = s(&never);
    let err = cli(&p).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn baselines_and_ablations_run() {
    let _one = lock();
    let st = setup();
    let two = ["--steps", "2", "--eval-every", "0"];
    for (name, extra) in [
        ("sup", vec!["--method", "supervised"]),
        ("mt", vec!["--method", "mean-teacher"]),
        ("nopd", vec!["--no-pd", "--no-contrast"]),
    ] {
        // --method conflicts with a config file's method, so these use flags only
        let mut args = vec![
            "train",
            "simcvd",
            "--data",
            s(&st.data),
            "--backend",
            "cpu",
            "--runs",
            s(&st.runs),
            "--name",
            name,
            "--quiet",
            "--labeled",
            "4",
            "--patch",
            "32,32,32",
            "--stride",
            "16,16,16",
            "--n-filters",
            "4",
        ];
        args.extend_from_slice(&two);
        args.extend(extra.iter().copied());
        let out = cli(&args).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.contains("steps 2/2"), "{name}: {out}");
        // the supervised baseline's closing line has no unsupervised terms to speak of
        assert_eq!(
            out.contains("steps 2/2; loss ") && !out.contains("unsupervised"),
            name == "sup",
            "{name}: {out}"
        );
    }
    let cfg = |n: &str| std::fs::read_to_string(st.runs.join(n).join("config.toml")).unwrap();
    assert!(
        cfg("sup").contains("method = \"supervised\"") && cfg("sup").contains("unlabeled_bs = 0")
    );
    assert!(cfg("mt").contains("use_contrast = false") && cfg("mt").contains("use_con = true"));
    assert!(cfg("nopd").contains("use_pd = false") && cfg("nopd").contains("use_sdm = true"));
    // the supervised baseline's log has no unsupervised terms
    let sup_log = std::fs::read_to_string(st.runs.join("sup/train_log.csv")).unwrap();
    assert!(sup_log.lines().nth(1).unwrap().contains(",,,"), "{sup_log}");
}

#[test]
fn bad_training_requests_are_clear_errors() {
    let _one = lock();
    let st = setup();
    let err = train(&st, "x", &["--patch", "30,32,32"]).unwrap_err();
    assert!(err.contains("multiple of 16"), "{err}");
    train(&st, "y", &["--steps", "1", "--eval-every", "0"]).unwrap();
    let err = train(&st, "y", &["--steps", "1"]).unwrap_err();
    assert!(
        err.contains("already exists") && err.contains("--resume"),
        "{err}"
    );
    // a run that another process is training is refused, and free again once that one ends
    let y = st.runs.join("y");
    let run = semiseg_cli::run_dir::RunDir::open(&y).unwrap();
    let held = semiseg_cli::run_lock::RunLock::acquire(&run, &mut Vec::new()).unwrap();
    let err = resume(&y).unwrap_err();
    assert!(
        err.contains("being trained right now") && err.contains("Ctrl-C"),
        "{err}"
    );
    drop(held);
    let out = resume(&y).unwrap();
    assert!(out.contains("has finished its 1 step;"), "{out}");
    let err = cli(&[
        "train",
        "simcvd",
        "--resume",
        s(&st.data),
        "--backend",
        "cpu",
    ])
    .unwrap_err();
    assert!(err.contains("not a semiseg run"), "{err}");
    let err = train(&st, "z", &["--labeled", "20"]).unwrap_err();
    assert!(err.contains("only 8"), "{err}");
    assert!(!st.runs.join("z").exists(), "a refused run left a folder");
    // every training case labeled leaves SimCVD no unlabeled batch: refused, not run as supervised
    let err = train(&st, "all", &["--labeled", "8"]).unwrap_err();
    assert!(
        err.contains("no unlabeled case") && err.contains("--method supervised"),
        "{err}"
    );
    assert!(!st.runs.join("all").exists(), "a refused run left a folder");
    // a step far beyond the machine's memory is refused before it aborts in an allocation
    let err = train(&st, "huge", &["--patch", "1024,1024,1024"]).unwrap_err();
    assert!(
        err.contains("GiB available") && err.contains("--patch"),
        "{err}"
    );
    assert!(
        !st.runs.join("huge").exists(),
        "a refused run left a folder"
    );
    let err = cli(&[
        "train",
        "simcvd",
        "--data",
        s(&st.data),
        "--config",
        "/nonexistent.toml",
    ])
    .unwrap_err();
    assert!(err.contains("/nonexistent.toml"), "{err}");
    // a labeled case's label is checked against its image before a folder exists: another
    // grid position (a label saved without the scan's header), a label map, probabilities
    let label = std::fs::read_dir(st.data.join("labelsTr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let original = std::fs::read(&label).unwrap();
    let lab = read_nifti(&label, &Default::default()).unwrap();
    let mut moved = lab.affine;
    moved[0][3] += 25.0;
    let with = |first: f32| {
        let mut d = lab.data.clone();
        d[0] = first;
        semiseg::volume::Volume::new(d, lab.dims, lab.affine)
    };
    for (name, vol, want) in [
        (
            "moved",
            semiseg::volume::Volume::new(lab.data.clone(), lab.dims, moved),
            "different affine",
        ),
        ("label-map", with(2.0), "values other than 0 and 1 (2)"),
        ("soft", with(0.7), "values other than 0 and 1 (0.7)"),
    ] {
        std::fs::remove_file(&label).unwrap();
        semiseg::volume::write_nifti(&label, &vol, semiseg::volume::DataType::Float32).unwrap();
        let err = train(&st, name, &[]).unwrap_err();
        assert!(
            err.contains(want) && err.contains("synth_000"),
            "{name}: {err}"
        );
        assert!(!st.runs.join(name).exists(), "a refused run left a folder");
    }
    std::fs::write(&label, &original).unwrap();
    // a case in both train.list and test.list would be trained on and scored as unseen
    let test_list = st.data.join("test.list");
    let lists = std::fs::read_to_string(&test_list).unwrap();
    std::fs::write(&test_list, format!("{lists}synth_001\n")).unwrap();
    let err = train(&st, "both", &[]).unwrap_err();
    assert!(err.contains("\"synth_001\" is in train.list too"), "{err}");
    std::fs::write(&test_list, lists).unwrap();
    // a damaged volume stops the run before its folder exists (nothing to mistake for a run)
    let image = std::fs::read_dir(st.data.join("imagesTr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() / 2]).unwrap();
    let err = train(&st, "damaged", &[]).unwrap_err();
    let name = image.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "{err}");
    assert!(
        !st.runs.join("damaged").exists(),
        "a refused run left a folder"
    );
    // without an NVIDIA driver (CI), asking for CUDA is a clear error, not a panic in cudarc
    if !cuda_driver_here() {
        let err = train_on(&st, "gpu", "cuda", &[]).unwrap_err();
        assert!(err.contains("no CUDA driver"), "{err}");
    }
}

/// Whether the NVIDIA driver library is installed where Linux distributions put it.
fn cuda_driver_here() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib64/libcuda.so.1",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}
