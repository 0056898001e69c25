//! `semiseg train amvlm`: resolve the configuration, the tokenizer and an optional BERT start,
//! create (or reopen) the run folder with its manifest, and pre-train on the chosen backend.

use crate::amvlm::data::PairData;
use crate::amvlm::setup::{train_tokenizer, ImageInit, Pairs, TextInit};
use crate::amvlm::train::{AmvlmPretraining, PretrainState};
use crate::cli::TrainAmvlmArgs;
use crate::driver::drive;
use crate::run_dir::{sha256_file, write_atomic, RunDir};
use crate::run_info::{RunInfo, RunKind};
use crate::train_run::{create_run, finish, loop_options, open_to_resume, Resumed};
use crate::with_backend;
use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use semiseg::amvlm::AmvlmConfig;
use semiseg::text::TextTokenizer;
use std::io::Write;

fn resolve_config(a: &TrainAmvlmArgs) -> anyhow::Result<AmvlmConfig> {
    let mut cfg = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?
        }
        None => AmvlmConfig::preset(&a.preset)
            .with_context(|| format!("unknown preset {:?}: use paper or tiny", a.preset))?,
    };
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if a.css_published {
        cfg.css_pairwise = false;
    }
    Ok(cfg)
}

fn write_manifest(run: &RunDir, pairs: &Pairs) -> anyhow::Result<()> {
    let list = |s: &[semiseg::data::LvitSample]| -> anyhow::Result<Vec<serde_json::Value>> {
        s.iter()
            .map(|p| {
                Ok(serde_json::json!({
                    "key": p.key,
                    "image": p.image,
                    "image_sha256": sha256_file(&p.image)?,
                    "text": p.text,
                }))
            })
            .collect()
    };
    let json = serde_json::json!({
        "root": pairs.root,
        "train": list(&pairs.train)?,
        "held_out_split": pairs.held_out_split.map(|s| s.folder()),
        "held_out": list(&pairs.held_out)?,
    });
    write_atomic(
        &run.manifest(),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
}

/// A resumed run must see the pairs it started with.
fn check_manifest(run: &RunDir, pairs: &Pairs) -> anyhow::Result<()> {
    let keys = |k: &str| run.manifest_list(k, "key");
    let now = |s: &[semiseg::data::LvitSample]| -> Vec<String> {
        s.iter().map(|p| p.key.clone()).collect()
    };
    if keys("train")? != now(&pairs.train) || keys("held_out")? != now(&pairs.held_out) {
        bail!(
            "the data folder's pairs differ from the ones this run started with ({}); resume with the same data",
            run.manifest().display()
        );
    }
    Ok(())
}

pub fn run(a: &TrainAmvlmArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // --time-limit counts from here: loading the data takes part of the slot too
    let started = std::time::Instant::now();
    let backend = crate::backend::select(a.train.backend)?;
    // The configuration, the pairs and their images are all checked before a new run folder is
    // created, so a refused run leaves nothing behind.
    let (existing, cfg, pairs, text_init, image_init, tok, data_dir) = match &a.resume {
        Some(dir) => {
            let Resumed {
                run,
                lock,
                config: cfg,
                info,
            } = open_to_resume::<AmvlmConfig>(dir, RunKind::Amvlm, out)?;
            let tok = TextTokenizer::from_vocab_file(run.root.join("vocab.txt"), cfg.lowercase)?
                .with_max_len(cfg.max_text_len)?;
            let init = info.text_init.as_deref().map(TextInit::open).transpose()?;
            let data = a.data.clone().unwrap_or(info.data);
            let pairs = Pairs::open(&data)?;
            check_manifest(&run, &pairs)?;
            let state = crate::checkpoint::latest_state::<PretrainState>(&run)?;
            if state.is_some_and(|s| s.epoch >= cfg.epochs) {
                let note = run.finished_message(cfg.epochs, "epoch", "eval-amvlm", &data);
                writeln!(out, "{note}")?;
                return Ok(());
            }
            (Some((run, lock)), cfg, pairs, init, None, tok, data)
        }
        None => {
            let mut cfg = resolve_config(a)?;
            let init = a.text_init.as_deref().map(TextInit::open).transpose()?;
            if let Some(i) = &init {
                i.apply(&mut cfg);
                if let Some(n) = a.text_layers {
                    if n == 0 || n > i.config.num_layers {
                        bail!(
                            "--text-layers {n}: {} has {} layers; keep 1 to {} of them",
                            i.dir.display(),
                            i.config.num_layers,
                            i.config.num_layers
                        );
                    }
                    cfg.text_layers = n;
                }
            }
            let image = a.image_init.as_deref().map(ImageInit::open).transpose()?;
            if let Some(i) = &image {
                i.apply(&mut cfg)?;
            }
            cfg.validate()
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            if a.print_config {
                write!(out, "{}", toml::to_string_pretty(&cfg)?)?;
                return Ok(());
            }
            let data = a.data.clone().expect("clap requires --data");
            let pairs = Pairs::open(&data)?;
            let tok = match (&init, &a.vocab) {
                (Some(_), Some(_)) => {
                    bail!("--vocab and --text-init both give a vocabulary; keep one")
                }
                (Some(i), None) => i.tokenizer(&cfg)?,
                (None, Some(v)) => TextTokenizer::from_vocab_file(v, cfg.lowercase)?
                    .with_max_len(cfg.max_text_len)?,
                (None, None) => train_tokenizer(&pairs, &cfg)?,
            };
            (None, cfg, pairs, init, image, tok, data)
        }
    };
    let data = PairData::load(&pairs.train, &cfg, &tok)?;
    let held_out = pairs.held_out_data(&cfg, &tok)?;
    let (run, _lock) = match existing {
        Some(held) => held,
        None => {
            let mut info = RunInfo::new(RunKind::Amvlm, &data_dir, &backend.kind.to_string());
            info.text_init = text_init
                .as_ref()
                .map(|i| i.dir.canonicalize().unwrap_or(i.dir.clone()));
            info.image_init = image_init
                .as_ref()
                .map(|i| i.file.canonicalize().unwrap_or(i.file.clone()));
            create_run(
                &a.train.runs,
                a.train.name.as_deref(),
                "amvlm",
                &toml::to_string_pretty(&cfg)?,
                &info,
                |run| {
                    write_atomic(&run.root.join("vocab.txt"), tok.vocab_text().as_bytes())?;
                    write_manifest(run, &pairs)
                },
                out,
            )?
        }
    };
    writeln!(
        out,
        "run {}: {} training pairs, {} held-out ({}), vocabulary {} tokens, {} epochs x {} steps of {} on {}",
        run.root.display(),
        data.len(),
        held_out.as_ref().map_or(0, |h| h.len()),
        pairs.held_out_split.map_or("none", |s| s.folder()),
        tok.vocab_size(),
        cfg.epochs,
        data.steps_per_epoch(cfg.batch_size),
        cfg.batch_size.min(data.len()),
        backend
    )?;
    let opts = loop_options(&a.train, started);
    let (state, summary) = with_backend!(backend.kind, |B, device| {
        B::seed(&device, cfg.seed);
        let mut model = cfg.init::<B>(tok.vocab_size(), &device);
        if let Some(i) = &text_init {
            model.encoders.text = model
                .encoders
                .text
                .load_safetensors(&i.weights()?)
                .with_context(|| format!("{}: loading the BERT weights", i.dir.display()))?;
        }
        if let Some(i) = &image_init {
            model.encoders.image = model
                .encoders
                .image
                .load_safetensors(&i.weights()?)
                .with_context(|| format!("{}: loading the ViT weights", i.file.display()))?;
        }
        let mut training =
            AmvlmPretraining::new(&run, &cfg, model, &data, held_out.as_ref(), &device);
        let state = drive(&run, &mut training, &B::name(&device), &opts, out)?;
        (state, training.summary)
    });
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or("-".into());
    writeln!(
        out,
        "epochs {}/{}; epoch-mean loss {} -> {}; lowest {} at epoch {} (best/)",
        state.epoch,
        cfg.epochs,
        f(summary.first_loss),
        f(summary.last_loss),
        f(state.best_loss),
        state.best_epoch.map_or("-".into(), |e| e.to_string())
    )?;
    if let (Some(i), Some(l)) = (&summary.initial, &summary.last) {
        writeln!(out, "held-out, untrained: {}", i.line())?;
        writeln!(out, "held-out, trained:   {}", l.line())?;
    }
    finish(&run, RunKind::Amvlm, state.epoch, cfg.epochs, out)
}
