//! `semiseg export`: a trained run as one model bundle file (model card + weights), for
//! `semiseg predict --model FILE` and the browser page.

use crate::checkpoint;
use crate::cli::{CheckpointArg, ExportArgs, PrecisionArg};
use crate::output_file::{check_new_file, create_parent};
use crate::report::read_csv_mean;
use crate::run_dir::{write_atomic, RunDir};
use crate::simcvd::model_io::{load_run_model, weights_path};
use crate::simcvd::train::TrainState;
use crate::wording::counted;
use anyhow::Context;
use burn::backend::Flex;
use burn::module::Module;
use semiseg::infer::{CardMetrics, ModelBundle, ModelCard, Precision};
use std::io::Write;
use std::path::Path;

pub fn run(a: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    check_new_file(&a.output, "-o", None)?;
    let run = RunDir::open(&a.run)?;
    if run.kind()? == crate::run_info::RunKind::AmvlmSeg {
        return super::export_2d::run(a, run, out);
    }
    let device = Default::default();
    let (cfg, model) = load_run_model::<Flex>(&run, a.checkpoint, &device)?;
    let steps = steps_of(&run, a.checkpoint)?;
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.manifest())?)
        .with_context(|| format!("{}: invalid manifest", run.manifest().display()))?;
    let dataset = manifest["dataset"]
        .as_str()
        .unwrap_or("unknown data")
        .to_string();
    let labeled = manifest["labeled"].as_array().map_or(0, |v| v.len());
    let unlabeled = manifest["unlabeled"].as_array().map_or(0, |v| v.len());
    let method = format!("{:?}", cfg.method).to_lowercase();
    let metrics = match &a.metrics {
        Some(csv) => {
            let (mean, cases) = read_csv_mean(csv)?;
            Some(CardMetrics {
                dice: mean.dice,
                jaccard: mean.jaccard,
                hd95: mean.hd95,
                asd: mean.asd,
                cases,
            })
        }
        None => None,
    };
    let card = ModelCard {
        name: a.name.clone().unwrap_or_else(|| {
            format!(
                "V-Net ({} filters), {dataset}, {labeled} labeled, {method}",
                cfg.n_filters
            )
        }),
        architecture: "vnet".into(),
        n_filters: cfg.n_filters,
        n_classes: 2,
        sdm_head: cfg.use_sdm,
        patch: cfg.patch,
        stride: cfg.stride,
        precision: match a.precision {
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::F32 => Precision::F32,
        },
        trained_on: if cfg.semi_supervised() {
            format!("{dataset}: {labeled} labeled and {unlabeled} unlabeled cases")
        } else {
            format!("{dataset}: {labeled} labeled cases")
        },
        method,
        steps,
        weights: weights_words(a.checkpoint).into(),
        metrics,
        notes: a.notes.clone(),
        semiseg_version: env!("CARGO_PKG_VERSION").into(),
        weights_len: 0,
        weights_sha256: String::new(),
        image2d: None,
    };
    let bundle = ModelBundle::new(&model.net, card);
    let bytes = bundle.encode();
    create_parent(&a.output)?;
    write_atomic(&a.output, &bytes)?;
    writeln!(
        out,
        "{}: {} ({} parameters, {} bytes, weights {:?}, {}{})",
        a.output.display(),
        bundle.card.name,
        model.net.num_params(),
        bytes.len(),
        bundle.card.precision,
        counted(steps, "step"),
        bundle
            .card
            .metrics
            .as_ref()
            .map(|m| format!(
                ", test Dice {:.2}% over {}",
                100.0 * m.dice,
                counted(m.cases, "case")
            ))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// How a card names the exported weights.
pub fn weights_words(which: CheckpointArg) -> &'static str {
    match which {
        CheckpointArg::Last => "the last checkpoint",
        CheckpointArg::Best => "the best on the validation cases",
    }
}

/// Training steps behind the exported weights: the `step` of the `state.json` saved beside them
/// (a checkpoint's, or the best model's).
fn steps_of(run: &RunDir, which: CheckpointArg) -> anyhow::Result<usize> {
    let weights = weights_path(run, which)?;
    let dir = weights.parent().unwrap_or(Path::new("."));
    let state: TrainState = checkpoint::load_state(dir)
        .with_context(|| format!("{}: no readable state.json", dir.display()))?;
    Ok(state.step)
}
