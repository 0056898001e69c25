//! `semiseg eval-model` of a text-guided segmentation run (spec A6 "Evaluation"): the student on
//! the test split (`Test_Folder`) at threshold 0.5, per-image Dice and IoU (LViT's definitions),
//! and the same scores for the text mask of each image's own description alone. Writes
//! `metrics.csv` (one row per image, then `mean`) and the masks and text masks as PNG at the
//! model's input size. On synthetic radiographs (a `lesions.json` beside the images) it also
//! scores prompt localisation (`localisation.rs`) with the trained TMG and with an untrained one
//! (`localisation.json`). `--split val` scores Val_Folder instead, for choosing settings without
//! the test split: `RUN/validation-<checkpoint>/metrics-val.csv` and `localisation-val.json`
//! (named apart so that reports, `compare` and `export --metrics` never take them for test scores).

use crate::amvlm::data::read_regions;
use crate::amvlm_seg::data::SegImages;
use crate::amvlm_seg::evaluate::{evaluate, mean_scores, ImageScores};
use crate::amvlm_seg::localisation::prompt_localisation;
use crate::amvlm_seg::model_io::load_seg_run;
use crate::cli::{CheckpointArg, EvalModelArgs, EvalSplit};
use crate::run_dir::{write_atomic, RunDir};
use crate::run_report::write_report_or_warn;
use crate::with_backend;
use anyhow::bail;
use burn::tensor::backend::AutodiffBackend;
use comfy_table::presets::ASCII_MARKDOWN;
use semiseg::data::{Image2d, LvitDataset, LvitSplit};
use semiseg::infer::{TextGuidedModel, TextGuidedNets};
use std::io::Write;

pub fn run(a: &EvalModelArgs, run: RunDir, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.stride.is_some() || a.largest_component || a.cases.is_some() {
        bail!("--stride, --largest-component and --cases are for 3D volumes; a 2D run is scored on Test_Folder (or Val_Folder with --split val)");
    }
    let split = a.split.unwrap_or(EvalSplit::Test);
    if split == EvalSplit::Val && a.checkpoint == CheckpointArg::Best {
        writeln!(
            out,
            "note: best/ was chosen on these validation images, so its validation scores are \
             optimistic"
        )?;
    }
    let (lvit_split, prefix, suffix) = match split {
        EvalSplit::Test => (LvitSplit::Test, "predictions", ""),
        EvalSplit::Val => (LvitSplit::Val, "validation", "-val"),
    };
    let which = match a.checkpoint {
        CheckpointArg::Last => "last",
        CheckpointArg::Best => "best",
    };
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| run.root.join(format!("{prefix}-{which}")));
    if dir.exists() {
        bail!(
            "{} already exists; semiseg never overwrites predictions: pass --out NEW_FOLDER",
            dir.display()
        );
    }
    let ds = LvitDataset::open(&a.data)?;
    if !ds.has(lvit_split) || ds.split(lvit_split).is_empty() {
        bail!(
            "{}: no {} with images to score",
            a.data.display(),
            lvit_split.folder()
        );
    }
    let samples = ds.split(lvit_split).to_vec();
    let backend = crate::backend::select(a.backend)?;
    let (names, student, text, loc) = with_backend!(backend.kind, |B, device| {
        let m = load_seg_run::<B>(&run, a.checkpoint, &device)?;
        let set = SegImages::load(&samples, &m.vlm.cfg, &m.vlm.tokenizer, true)?;
        let g = &m.model.nets;
        let text = g.tmg.as_ref().map(|t| (&g.encoders, t, m.model.text_mask));
        let ev = evaluate(&g.student, text, &set, &device);
        std::fs::create_dir_all(dir.join("masks"))?;
        let size = set.size();
        for (s, (p, _)) in samples.iter().zip(&ev.student) {
            write_png(&dir.join("masks").join(png_name(&s.key)), p, size, true)?;
        }
        if let Some(tm) = &ev.text_mask {
            std::fs::create_dir_all(dir.join("text_masks"))?;
            for (s, (p, _)) in samples.iter().zip(tm) {
                write_png(
                    &dir.join("text_masks").join(png_name(&s.key)),
                    p,
                    size,
                    false,
                )?;
            }
        }
        let scores = |v: &[(Vec<f32>, ImageScores)]| v.iter().map(|(_, s)| *s).collect::<Vec<_>>();
        // prompt localisation where the lesions are known, trained and untrained TMG
        let regions = read_regions(&a.data.join(lvit_split.folder()), &samples, size)?;
        let loc = match (regions, &m.model.nets.tmg) {
            (Some(regions), Some(_)) => {
                let images: Vec<Image2d> = set
                    .pairs
                    .images
                    .iter()
                    .map(|px| Image2d {
                        size,
                        data: px.iter().map(|&v| v as f32 / 255.0).collect(),
                    })
                    .collect();
                let (tok, vlm) = (&m.vlm.tokenizer, &m.vlm.cfg);
                let trained = prompt_localisation(&m.model, tok, vlm, &images, &regions, &device)?;
                let untrained_model = TextGuidedModel {
                    nets: TextGuidedNets {
                        tmg: Some(
                            m.cfg
                                .text_mask_generator(vlm.embed_dim)
                                .init::<<B as AutodiffBackend>::InnerBackend>(&device),
                        ),
                        ..m.model.nets.clone()
                    },
                    text_mask: m.model.text_mask,
                };
                let untrained =
                    prompt_localisation(&untrained_model, tok, vlm, &images, &regions, &device)?;
                trained.zip(untrained)
            }
            _ => None,
        };
        (
            samples.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
            scores(&ev.student),
            ev.text_mask.as_deref().map(scores),
            loc,
        )
    });
    let mean = mean_scores(&student);
    let text_mean = text.as_deref().map(mean_scores);
    let mut csv = String::from("image,dice,iou,text_dice,text_iou\n");
    let mut table = comfy_table::Table::new();
    table.load_preset(ASCII_MARKDOWN);
    table.set_header(vec![
        "image",
        "Dice %",
        "IoU %",
        "text mask Dice %",
        "text mask IoU %",
    ]);
    let pct = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.2}", 100.0 * v));
    let frac = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    for (i, name) in names.iter().enumerate() {
        let t = text.as_ref().map(|t| t[i]);
        csv += &format!(
            "{name},{:.6},{:.6},{},{}\n",
            student[i].dice,
            student[i].iou,
            frac(t.map(|t| t.dice)),
            frac(t.map(|t| t.iou))
        );
        table.add_row(vec![
            name.clone(),
            pct(Some(student[i].dice)),
            pct(Some(student[i].iou)),
            pct(t.map(|t| t.dice)),
            pct(t.map(|t| t.iou)),
        ]);
    }
    csv += &format!(
        "mean,{:.6},{:.6},{},{}\n",
        mean.dice,
        mean.iou,
        frac(text_mean.map(|t| t.dice)),
        frac(text_mean.map(|t| t.iou))
    );
    table.add_row(vec![
        format!("mean ({})", crate::wording::counted(names.len(), "image")),
        pct(Some(mean.dice)),
        pct(Some(mean.iou)),
        pct(text_mean.map(|t| t.dice)),
        pct(text_mean.map(|t| t.iou)),
    ]);
    write_atomic(&dir.join(format!("metrics{suffix}.csv")), csv.as_bytes())?;
    writeln!(out, "{} ({}):", split_words(split), lvit_split.folder())?;
    writeln!(out, "{table}")?;
    if let Some((trained, untrained)) = loc {
        writeln!(out, "prompt localisation, trained TMG: {}", trained.line())?;
        writeln!(
            out,
            "prompt localisation, untrained TMG (the VLM's patches upsampled): {}",
            untrained.line()
        )?;
        let json = serde_json::json!({ "trained": trained, "untrained": untrained });
        write_atomic(
            &dir.join(format!("localisation{suffix}.json")),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
    }
    writeln!(
        out,
        "{} weights; masks, text masks and metrics{suffix}.csv in {} (segmented on {backend})",
        which,
        dir.display()
    )?;
    if split == EvalSplit::Test && dir.parent() == Some(run.root.as_path()) {
        write_report_or_warn(&run, out)?;
    }
    Ok(())
}

fn split_words(split: EvalSplit) -> &'static str {
    match split {
        EvalSplit::Test => "the test split",
        EvalSplit::Val => "the validation split, for choosing settings, not a result to report",
    }
}

/// The mask file of an image key (its stem with `.png`).
fn png_name(key: &str) -> String {
    let stem = std::path::Path::new(key)
        .file_stem()
        .map_or(key.to_string(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.png")
}

/// A `size × size` map as an 8-bit PNG: thresholded at 0.5 to 0/255 (`binary`), else scaled.
fn write_png(path: &std::path::Path, map: &[f32], size: usize, binary: bool) -> anyhow::Result<()> {
    let pixels: Vec<u8> = map
        .iter()
        .map(|&v| {
            if binary {
                if v > 0.5 {
                    255
                } else {
                    0
                }
            } else {
                (v.clamp(0.0, 1.0) * 255.0).round() as u8
            }
        })
        .collect();
    let img = image::GrayImage::from_raw(size as u32, size as u32, pixels)
        .ok_or_else(|| anyhow::anyhow!("a {size}x{size} map has the wrong length"))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    write_atomic(path, &bytes)
}
