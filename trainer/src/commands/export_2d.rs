//! `semiseg export` of a text-guided segmentation run: one 2D model bundle (architecture
//! `amvlm-seg`) with the frozen encoders and their vocabulary, the Text Mask Generator and the
//! student, for `semiseg predict` and the browser page.

use crate::amvlm_seg::model_io::load_seg_run;
use crate::cli::{ExportArgs, PrecisionArg};
use crate::output_file::create_parent;
use crate::run_dir::{write_atomic, RunDir};
use crate::wording::counted;
use anyhow::Context;
use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use semiseg::infer::{Card2dMetrics, Image2dCard, ModelBundle, ModelCard, Precision, AMVLM_SEG};
use std::io::Write;
use std::path::Path;

pub fn run(a: &ExportArgs, run: RunDir, out: &mut dyn Write) -> anyhow::Result<()> {
    let device = Default::default();
    let m = load_seg_run::<Autodiff<Flex>>(&run, a.checkpoint, &device)?;
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.manifest())?)
        .with_context(|| format!("{}: invalid manifest", run.manifest().display()))?;
    let count = |k: &str| manifest[k].as_array().map_or(0, |v| v.len());
    let root = manifest["root"].as_str().unwrap_or("unknown data");
    let data = Path::new(root)
        .file_name()
        .map_or(root.to_string(), |n| n.to_string_lossy().into_owned());
    let metrics = a.metrics.as_deref().map(read_metrics_2d).transpose()?;
    let method = m.cfg.method.name();
    let card = ModelCard {
        name: a.name.clone().unwrap_or_else(|| {
            format!(
                "UNet (width {}) with text masks, {data}, {} labeled, {method}",
                m.cfg.width,
                count("labeled")
            )
        }),
        architecture: AMVLM_SEG.into(),
        n_filters: 0,
        n_classes: 0,
        sdm_head: false,
        patch: [0; 3],
        stride: [0; 3],
        precision: match a.precision {
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::F32 => Precision::F32,
        },
        trained_on: if m.cfg.method.semi_supervised() {
            format!(
                "{data}: {} labeled and {} unlabeled images",
                count("labeled"),
                count("unlabeled")
            )
        } else {
            format!("{data}: {} labeled images", count("labeled"))
        },
        method: method.into(),
        steps: m.steps,
        weights: super::export::weights_words(a.checkpoint).into(),
        metrics: None,
        notes: a.notes.clone(),
        semiseg_version: env!("CARGO_PKG_VERSION").into(),
        weights_len: 0,
        weights_sha256: String::new(),
        image2d: Some(Image2dCard {
            vlm: m.vlm.cfg.clone(),
            vocab: m.vlm.tokenizer.vocab_text(),
            unet_width: m.cfg.width,
            has_tmg: m.model.nets.tmg.is_some(),
            text_mask: m.model.text_mask,
            prompt_embedding: m.cfg.prompt_embedding,
            kappa: m.cfg.kappa,
            theta: m.cfg.theta,
            metrics,
            tmg: m
                .model
                .nets
                .tmg
                .is_some()
                .then(|| m.cfg.text_mask_generator(m.vlm.cfg.embed_dim)),
        }),
    };
    let bundle = ModelBundle::new_text_guided(&m.model.nets, card);
    let bytes = bundle.encode();
    create_parent(&a.output)?;
    write_atomic(&a.output, &bytes)?;
    writeln!(
        out,
        "{}: {} ({} parameters, {} bytes, weights {:?}, {} of {} epochs{})",
        a.output.display(),
        bundle.card.name,
        m.model.nets.num_params(),
        bytes.len(),
        bundle.card.precision,
        counted(m.steps, "step"),
        m.epochs,
        bundle
            .card
            .image2d
            .as_ref()
            .and_then(|c| c.metrics.as_ref())
            .map(|m| format!(
                ", test Dice {:.2}% over {}",
                100.0 * m.dice,
                counted(m.images, "image")
            ))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// The `mean` row of a 2D `eval-model` metrics.csv (`image,dice,iou,text_dice,text_iou`).
fn read_metrics_2d(path: &Path) -> anyhow::Result<Card2dMetrics> {
    if path.file_name().is_some_and(|n| n == "metrics-val.csv") {
        anyhow::bail!(
            "{}: these are validation scores (`eval-model --split val`); a card reports the test \
             split's: pass the metrics.csv of `semiseg eval-model` without --split",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some("image,dice,iou,text_dice,text_iou") {
        anyhow::bail!(
            "{}: not the metrics.csv of a 2D `semiseg eval-model` (header image,dice,iou,text_dice,text_iou)",
            path.display()
        );
    }
    let rows: Vec<&str> = lines.collect();
    let mean = rows
        .iter()
        .find(|l| l.starts_with("mean,"))
        .with_context(|| format!("{}: no mean row", path.display()))?;
    let cells: Vec<&str> = mean.split(',').collect();
    let num = |i: usize| -> anyhow::Result<Option<f64>> {
        match cells.get(i).copied().unwrap_or("") {
            "" => Ok(None),
            v => Ok(Some(v.parse().with_context(|| {
                format!("{}: the mean row's value {v:?}", path.display())
            })?)),
        }
    };
    Ok(Card2dMetrics {
        dice: num(1)?.context("no Dice in the mean row")?,
        iou: num(2)?.context("no IoU in the mean row")?,
        text_dice: num(3)?,
        text_iou: num(4)?,
        images: rows.len() - 1,
    })
}
