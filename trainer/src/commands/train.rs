//! `semiseg train simcvd`: resolve the configuration, create (or reopen) the run folder, write the
//! manifest, load the data and run the loop on the chosen backend.

use crate::cli::{MethodArg, TrainSimcvdArgs};
use crate::driver::drive;
use crate::run_dir::{sha256_file, write_atomic, RunDir};
use crate::run_info::{RunInfo, RunKind};
use crate::simcvd::data::TrainData;
use crate::simcvd::memory;
use crate::simcvd::train::{SimcvdTraining, TrainState};
use crate::train_run::{create_run, finish, loop_options, open_to_resume};
use crate::with_backend;
use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use semiseg::data::{Dataset, LabeledChoice, Split};
use semiseg::simcvd::{Method, SimcvdConfig};
use std::io::Write;

fn resolve_config(a: &TrainSimcvdArgs) -> anyhow::Result<SimcvdConfig> {
    let mut cfg = match (&a.config, a.method) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let cfg: SimcvdConfig = toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?;
            if let Some(m) = a.method {
                if method(m) != cfg.method {
                    bail!(
                        "--method {:?} contradicts method = {:?} in {}",
                        m,
                        cfg.method,
                        path.display()
                    );
                }
            }
            cfg
        }
        (None, m) => SimcvdConfig::for_method(method(m.unwrap_or(MethodArg::Simcvd))),
    };
    if let Some(v) = a.labeled {
        cfg.labeled = v;
    }
    if let Some(v) = a.steps {
        cfg.max_steps = v;
    }
    if let Some(v) = a.patch {
        cfg.patch = v;
    }
    if let Some(v) = a.stride {
        cfg.stride = v;
    }
    if let Some(v) = a.n_filters {
        cfg.n_filters = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.eval_every {
        cfg.eval_every = v;
    }
    if let Some(v) = a.checkpoint_every {
        cfg.checkpoint_every = v;
    }
    if a.no_sdm {
        cfg.use_sdm = false;
        cfg.use_contrast = false; // the contrast is built on the SDM
    }
    cfg.use_contrast &= !a.no_contrast;
    cfg.use_pd &= !a.no_pd;
    cfg.use_con &= !a.no_con;
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(cfg)
}

fn method(m: MethodArg) -> Method {
    match m {
        MethodArg::Simcvd => Method::Simcvd,
        MethodArg::MeanTeacher => Method::MeanTeacher,
        MethodArg::Supervised => Method::Supervised,
    }
}

fn write_manifest(run: &RunDir, ds: &Dataset, split: &Split) -> anyhow::Result<()> {
    let entry = |id: &String, with_label: bool| -> anyhow::Result<serde_json::Value> {
        let c = ds.case(id).context("case vanished from the dataset")?;
        let mut v = serde_json::json!({
            "id": id,
            "image": c.image,
            "image_sha256": sha256_file(&c.image)?,
        });
        if let (true, Some(l)) = (with_label, &c.label) {
            v["label"] = serde_json::json!(l);
            v["label_sha256"] = serde_json::json!(sha256_file(l)?);
        }
        Ok(v)
    };
    let list = |ids: &[String], with_label: bool| -> anyhow::Result<Vec<serde_json::Value>> {
        ids.iter().map(|id| entry(id, with_label)).collect()
    };
    let json = serde_json::json!({
        "dataset": ds.name,
        "root": ds.root,
        "labeled": list(&split.labeled, true)?,
        "unlabeled": list(&split.unlabeled, false)?,
        "test": list(&split.test, true)?,
        "validation": list(&split.validation, true)?,
    });
    write_atomic(
        &run.manifest(),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
}

pub fn run(a: &TrainSimcvdArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // --time-limit counts from here: loading the data takes part of the slot too
    let started = std::time::Instant::now();
    let backend = crate::backend::select(a.train.backend)?;
    // Everything that can fail on the user's input (configuration, data folder, split, volumes)
    // is checked before a new run folder is created, so a refused run leaves nothing behind.
    let (existing, cfg, data_dir) = match &a.resume {
        Some(dir) => {
            let r = open_to_resume::<SimcvdConfig>(dir, RunKind::Simcvd, out)?;
            let data = a.data.clone().unwrap_or(r.info.data);
            (Some((r.run, r.lock)), r.config, data)
        }
        None => {
            let cfg = resolve_config(a)?;
            if a.print_config {
                write!(out, "{}", toml::to_string_pretty(&cfg)?)?;
                return Ok(());
            }
            let data = a.data.clone().expect("clap requires --data");
            (None, cfg, data)
        }
    };
    let ds = Dataset::open(&data_dir)?;
    let choice = match cfg.labeled_seed {
        Some(seed) => LabeledChoice::Seeded {
            n: cfg.labeled,
            seed,
        },
        None => LabeledChoice::First(cfg.labeled),
    };
    let split = Split::from_lists(&ds, choice)?;
    // validation cases: from --val-list for a new run, from the manifest for a resumed one
    let split = match (&existing, &a.val_list) {
        (Some((run, _)), _) => match run.manifest_list("validation", "id")? {
            ids if ids.is_empty() => split,
            ids => split.with_validation(&ds, &run.manifest(), ids)?,
        },
        (None, Some(list)) => split.hold_out_validation(&ds, list)?,
        (None, None) => split,
    };
    if cfg.semi_supervised() && split.unlabeled.is_empty() {
        bail!(
            "{} labeled cases leave no unlabeled case in the training list for {}'s unlabeled \
             batch; train the fully supervised V-Net with --method supervised (the paper's \
             all-labeled row), or label fewer cases",
            split.labeled.len(),
            cfg.method.name()
        );
    }
    if let Some((run, _)) = &existing {
        check_manifest(run, &split)?;
        let state = crate::checkpoint::latest_state::<TrainState>(run)?;
        if state.is_some_and(|s| s.step >= cfg.max_steps) {
            let note = run.finished_message(cfg.max_steps, "step", "eval-model", &data_dir);
            writeln!(out, "{note}")?;
            return Ok(());
        }
    }
    let data = TrainData::load(&ds, &split, cfg.semi_supervised())?;
    memory::check_step(backend.kind, &cfg)?;
    let (run, _lock) = match existing {
        Some(held) => held,
        None => create_run(
            &a.train.runs,
            a.train.name.as_deref(),
            &default_name(&cfg),
            &toml::to_string_pretty(&cfg)?,
            &RunInfo::new(RunKind::Simcvd, &data_dir, &backend.kind.to_string()),
            |run| write_manifest(run, &ds, &split),
            out,
        )?,
    };
    writeln!(
        out,
        "run {}: {}, {} labeled + {} unlabeled, {} test cases, {} steps on {}",
        run.root.display(),
        cfg.method.name(),
        split.labeled.len(),
        if cfg.semi_supervised() {
            split.unlabeled.len()
        } else {
            0
        },
        split.test.len(),
        cfg.max_steps,
        backend
    )?;
    let opts = loop_options(&a.train, started);
    let (state, summary) = with_backend!(backend.kind, |B, device| {
        let mut training = SimcvdTraining::<B>::new(&run, &cfg, &data, &device);
        let state = drive(&run, &mut training, &B::name(&device), &opts, out)?;
        (state, training.summary)
    });
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or("-".into());
    let steps = format!("steps {}/{}", state.step, cfg.max_steps);
    let total = format!("{} -> {}", f(summary.first_loss), f(summary.last_loss));
    if cfg.semi_supervised() {
        writeln!(
            out,
            "{steps}; supervised loss {} -> {}; total loss {total} (the ramp brings the unsupervised terms in)",
            f(summary.first_seg),
            f(summary.last_seg),
        )?;
    } else {
        writeln!(out, "{steps}; loss {total}")?;
    }
    if let Some((step, d)) = summary.last_dice {
        writeln!(
            out,
            "test Dice at step {step}: {:.2}% (monitoring; report the last checkpoint with eval-model)",
            100.0 * d
        )?;
    }
    if let Some((step, d)) = summary.last_val_dice {
        writeln!(out, "validation Dice at step {step}: {:.2}%", 100.0 * d)?;
    }
    if let (Some(d), Some(s)) = (state.best_dice, state.best_step) {
        writeln!(
            out,
            "best validation Dice {:.2}% at step {s} (best/)",
            100.0 * d
        )?;
    }
    finish(&run, RunKind::Simcvd, state.step, cfg.max_steps, out)
}

fn default_name(cfg: &SimcvdConfig) -> String {
    let m = match cfg.method {
        Method::Simcvd => "simcvd",
        Method::MeanTeacher => "mean-teacher",
        Method::Supervised => "supervised",
    };
    format!("{m}-{}L", cfg.labeled)
}

/// A resumed run must see the same cases it started with.
fn check_manifest(run: &RunDir, split: &Split) -> anyhow::Result<()> {
    if run.manifest_list("labeled", "id")? != split.labeled
        || run.manifest_list("test", "id")? != split.test
    {
        bail!(
            "the data folder's split differs from the one this run started with ({}); resume with the same data",
            run.manifest().display()
        );
    }
    Ok(())
}
