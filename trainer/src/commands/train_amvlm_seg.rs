//! `semiseg train amvlm-seg`: AMVLM's text-guided segmentation (spec A6) and its mean-teacher and
//! supervised baselines on an LViT folder, with the frozen encoders of a pre-training run
//! (`--vlm`). Everything the user gave is checked before the run folder exists; the folder holds
//! the configuration, the labeled draw (manifest), a copy of the VLM, logs, checkpoints and the
//! best student on the validation split.

use crate::amvlm_seg::data::{draw_labeled, Phrases, SegData, SegImages};
use crate::amvlm_seg::train::{SegState, SegTraining};
use crate::amvlm_seg::vlm::Vlm;
use crate::cli::{SegMethodArg, TextBranchArg, TrainAmvlmSegArgs};
use crate::driver::drive;
use crate::run_dir::{sha256_file, write_atomic, RunDir};
use crate::run_info::{RunInfo, RunKind};
use crate::train_run::{create_run, finish, loop_options, open_to_resume, Resumed};
use crate::with_backend;
use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use semiseg::amvlm::{SegConfig, SegMethod, StudentLossForm, TextBranch, TextMaskForm};
use semiseg::data::{LvitDataset, LvitSample, LvitSplit};
use std::io::Write;

fn resolve_config(a: &TrainAmvlmSegArgs) -> anyhow::Result<SegConfig> {
    let mut cfg = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            // the file's values over the defaults (a run's own config.toml, read on resuming,
            // instead takes what its version meant for a missing key: SegConfig's legacy_*)
            let mut table = toml::Table::try_from(SegConfig::default())?;
            let given: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?;
            table.extend(given);
            table
                .try_into()
                .with_context(|| format!("{}: invalid configuration", path.display()))?
        }
        None => SegConfig::preset(&a.preset)
            .with_context(|| format!("unknown preset {:?}: use paper or tiny", a.preset))?,
    };
    if let Some(m) = a.method {
        cfg.method = match m {
            SegMethodArg::Supervised => SegMethod::Supervised,
            SegMethodArg::MeanTeacher => SegMethod::MeanTeacher,
            SegMethodArg::TextGuided => SegMethod::TextGuided,
        };
    }
    if let Some(v) = a.labeled {
        cfg.labeled = v;
    }
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
        cfg.lr_min = cfg.lr_min.min(v);
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
        cfg.labeled_seed = v;
    }
    if a.no_tg_loss {
        cfg.tg_loss = false;
    }
    if let Some(b) = a.text_branch {
        cfg.text_branch = match b {
            TextBranchArg::Grounded => TextBranch::Grounded,
            TextBranchArg::A6 => TextBranch::A6,
        };
    }
    if a.no_ground {
        cfg.ground_weight = 0.0;
    }
    if a.no_trust {
        cfg.trust = false;
    }
    if a.text_loss {
        cfg.text_loss = true;
    }
    if a.released_text_mask {
        cfg.text_mask = TextMaskForm::Released;
    }
    if a.released_student_loss {
        cfg.student_loss = StudentLossForm::Released;
    }
    if let Some(p) = a.prompt_embedding {
        cfg.prompt_embedding = p;
    }
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(cfg)
}

/// The images of a run: the labeled draw and the rest of the training split, the validation
/// split, and the test split (for the manifest; it is never used in training).
struct Split2d {
    labeled: Vec<LvitSample>,
    unlabeled: Vec<LvitSample>,
    val: Vec<LvitSample>,
    test: Vec<LvitSample>,
}

fn split(ds: &LvitDataset, cfg: &SegConfig) -> anyhow::Result<Split2d> {
    let root = &ds.root;
    let train = ds.split(LvitSplit::Train).to_vec();
    if train.is_empty() {
        bail!("{}: Train_Folder has no images", root.display());
    }
    if !ds.has(LvitSplit::Val) || ds.split(LvitSplit::Val).is_empty() {
        bail!(
            "{}: no Val_Folder: the validation split chooses best/ and stops training early \
             (weights are never chosen on the test split); add Val_Folder (img/, labelcol/, \
             Val_text.xlsx)",
            root.display()
        );
    }
    let n = cfg.labeled.of(train.len());
    if n > train.len() {
        bail!(
            "--labeled {}: Train_Folder has only {} images",
            cfg.labeled,
            train.len()
        );
    }
    if cfg.method.semi_supervised() && n == train.len() {
        bail!(
            "--labeled {} labels all {} training images, leaving none unlabeled for {}; train \
             --method supervised, or label fewer",
            cfg.labeled,
            train.len(),
            cfg.method.name()
        );
    }
    let chosen = draw_labeled(train.len(), n, cfg.labeled_seed);
    let (mut labeled, mut unlabeled) = (Vec::new(), Vec::new());
    for (i, s) in train.into_iter().enumerate() {
        if chosen.contains(&i) {
            labeled.push(s);
        } else {
            unlabeled.push(s);
        }
    }
    let test = if ds.has(LvitSplit::Test) {
        ds.split(LvitSplit::Test).to_vec()
    } else {
        Vec::new()
    };
    Ok(Split2d {
        labeled,
        unlabeled,
        val: ds.split(LvitSplit::Val).to_vec(),
        test,
    })
}

fn write_manifest(run: &RunDir, root: &std::path::Path, s: &Split2d) -> anyhow::Result<()> {
    let list = |v: &[LvitSample]| -> anyhow::Result<Vec<serde_json::Value>> {
        v.iter()
            .map(|p| {
                let mut e = serde_json::json!({
                    "key": p.key,
                    "image": p.image,
                    "image_sha256": sha256_file(&p.image)?,
                    "text": p.text,
                });
                if let Some(m) = &p.mask {
                    e["mask"] = serde_json::json!(m);
                    e["mask_sha256"] = serde_json::json!(sha256_file(m)?);
                }
                Ok(e)
            })
            .collect()
    };
    let json = serde_json::json!({
        "root": root,
        "labeled": list(&s.labeled)?,
        "unlabeled": list(&s.unlabeled)?,
        "val": list(&s.val)?,
        "test": list(&s.test)?,
    });
    write_atomic(
        &run.manifest(),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
}

/// A resumed run must draw the labeled images it started with.
fn check_manifest(run: &RunDir, s: &Split2d) -> anyhow::Result<()> {
    let keys = |k: &str| run.manifest_list(k, "key");
    let now = |v: &[LvitSample]| -> Vec<String> { v.iter().map(|p| p.key.clone()).collect() };
    if keys("labeled")? != now(&s.labeled) || keys("val")? != now(&s.val) {
        bail!(
            "the data folder's images differ from the ones this run started with ({}); resume with the same data",
            run.manifest().display()
        );
    }
    Ok(())
}

pub fn run(a: &TrainAmvlmSegArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let backend = crate::backend::select(a.train.backend)?;
    let (existing, cfg, vlm, data_dir) = match &a.resume {
        Some(dir) => {
            let Resumed {
                run,
                lock,
                config: cfg,
                info,
            } = open_to_resume::<SegConfig>(dir, RunKind::AmvlmSeg, out)?;
            let vlm = Vlm::of_segmentation_run(&run)?;
            let data = a.data.clone().unwrap_or(info.data);
            let state = crate::checkpoint::latest_state::<SegState>(&run)?;
            if state
                .as_ref()
                .is_some_and(|s| s.epoch >= cfg.epochs || s.early_stopped)
            {
                let note = run.finished_message(
                    state.map_or(cfg.epochs, |s| s.epoch),
                    "epoch",
                    "eval-model",
                    &data,
                );
                writeln!(out, "{note}")?;
                return Ok(());
            }
            (Some((run, lock)), cfg, vlm, data)
        }
        None => {
            let cfg = resolve_config(a)?;
            if a.print_config {
                write!(out, "{}", toml::to_string_pretty(&cfg)?)?;
                return Ok(());
            }
            let vlm_dir = a.vlm.as_ref().context(
                "--vlm RUN is required: the AMVLM pre-training run (`semiseg train amvlm`) whose \
                 encoders give the image size and the text masks",
            )?;
            let vlm = Vlm::of_pretraining_run(vlm_dir)?;
            (
                None,
                cfg,
                vlm,
                a.data.clone().expect("clap requires --data"),
            )
        }
    };
    let ds = LvitDataset::open(&data_dir)?;
    let sp = split(&ds, &cfg)?;
    if let Some((run, _)) = &existing {
        check_manifest(run, &sp)?;
    }
    let tok = &vlm.tokenizer;
    let mut labeled = SegImages::load(&sp.labeled, &vlm.cfg, tok, true)?;
    labeled.phrases = Phrases::load(
        &ds.root.join(LvitSplit::Train.folder()),
        &sp.labeled,
        &vlm.cfg,
        tok,
    )?;
    let data = SegData {
        labeled,
        unlabeled: SegImages::load(&sp.unlabeled, &vlm.cfg, tok, false)?,
        val: SegImages::load(&sp.val, &vlm.cfg, tok, true)?,
    };
    let (run, _lock) = match existing {
        Some(held) => held,
        None => {
            let mut info = RunInfo::new(RunKind::AmvlmSeg, &data_dir, &backend.kind.to_string());
            info.vlm = Some(vlm.source.canonicalize().unwrap_or(vlm.source.clone()));
            let prefix = format!("amvlm-seg-{}", cfg.method.name());
            create_run(
                &a.train.runs,
                a.train.name.as_deref(),
                &prefix,
                &toml::to_string_pretty(&cfg)?,
                &info,
                |run| {
                    vlm.copy_into(run)?;
                    write_manifest(run, &ds.root, &sp)
                },
                out,
            )?
        }
    };
    writeln!(
        out,
        "run {}: {}, {} labeled + {} unlabeled training images ({}), {} validation, {}x{} images, {} epochs x {} steps on {}",
        run.root.display(),
        cfg.method.name(),
        sp.labeled.len(),
        if cfg.method.semi_supervised() { sp.unlabeled.len() } else { 0 },
        cfg.labeled,
        sp.val.len(),
        vlm.cfg.image_size,
        vlm.cfg.image_size,
        cfg.epochs,
        data.steps_per_epoch(&cfg),
        backend
    )?;
    let opts = loop_options(&a.train, started);
    let (state, summary) = with_backend!(backend.kind, |B, device| {
        let encoders = match cfg.method {
            SegMethod::TextGuided => Some(vlm.encoders::<B>(&device)?),
            _ => None,
        };
        let mut training = SegTraining::<B>::new(
            &run,
            &cfg,
            &data,
            encoders.as_ref(),
            vlm.cfg.embed_dim,
            &device,
        );
        let state = drive(&run, &mut training, &B::name(&device), &opts, out)?;
        (state, training.summary)
    });
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or("-".into());
    writeln!(
        out,
        "epochs {}/{}; epoch-mean loss {} -> {}",
        state.epoch,
        cfg.epochs,
        f(summary.first_loss),
        f(summary.last_loss)
    )?;
    if let (Some(d), Some(e)) = (state.best_dice, state.best_epoch) {
        writeln!(
            out,
            "best validation Dice {:.2}% at epoch {e} (best/); evaluate on the test split with: \
             semiseg eval-model --run {} --data {}",
            100.0 * d,
            run.root.display(),
            data_dir.display()
        )?;
    }
    let total = if state.early_stopped {
        state.epoch
    } else {
        cfg.epochs
    };
    finish(&run, RunKind::AmvlmSeg, state.epoch, total, out)
}
