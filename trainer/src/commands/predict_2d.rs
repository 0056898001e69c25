//! `semiseg predict` with a text-guided 2D model (spec A6): an image in, its mask out at the
//! image's own size (PNG, 0/255); with `--prompt`, the prompt's text mask (`--text-mask`, an 8-bit
//! map) and, with `--fuse`, the mask steered by the prompt. The networks run through the shared
//! crate's `TextGuidedModel`, the code the browser page runs.

use crate::amvlm_seg::model_io::load_seg_run;
use crate::cli::PredictArgs;
use crate::output_file::{check_new_file, create_parent};
use crate::run_dir::{write_atomic, RunDir};
use crate::with_backend;
use anyhow::{bail, Context};
use semiseg::data::{bytes_dimensions, Image2d};
use semiseg::infer::{map_to_gray8, map_to_image};
use semiseg::infer::{prepare_prompt, ModelBundle};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// A 2D model: a text-guided segmentation run, or a 2D bundle (`semiseg export` of one).
pub enum Source2d {
    Run(RunDir),
    Bundle(Box<ModelBundle>),
}

impl Source2d {
    fn name(&self) -> String {
        match self {
            Source2d::Run(r) => r.root.display().to_string(),
            Source2d::Bundle(b) => format!("the bundle {:?}", b.card.name),
        }
    }
}

pub fn run(a: &PredictArgs, source: Source2d, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.stride.is_some() || a.largest_component || a.zscore {
        bail!("--stride, --largest-component and --zscore are for 3D scans; this is a 2D model");
    }
    check_new_file(&a.output, "-o", None)?;
    if let Some(t) = &a.text_mask {
        check_new_file(t, "--text-mask", None)?;
        if t == &a.output {
            bail!("-o and --text-mask name the same file");
        }
    }
    let prompt = a.prompt.clone();
    let bytes =
        std::fs::read(&a.scan).with_context(|| format!("cannot read {}", a.scan.display()))?;
    let (width, height) = bytes_dimensions(&bytes, &a.scan.display().to_string())?;
    let (w, h) = (width as usize, height as usize);
    let backend = crate::backend::select(a.backend)?;
    let t0 = Instant::now();
    let (mask, text, size) = with_backend!(backend.kind, |B, device| {
        let (g, tok, vlm, method) = match &source {
            Source2d::Run(run) => {
                let m = load_seg_run::<B>(run, a.checkpoint, &device)?;
                let method = m.cfg.method.name();
                (m.model, m.vlm.tokenizer, m.vlm.cfg, method.to_string())
            }
            Source2d::Bundle(b) => {
                let (g, tok) = b.load_text_guided::<<B as burn::tensor::backend::AutodiffBackend>::InnerBackend>(&device)?;
                let vlm = b.card.image2d.as_ref().expect("a 2D card").vlm.clone();
                (g, tok, vlm, b.card.method.clone())
            }
        };
        let size = vlm.image_size;
        let image = Image2d::from_bytes(&bytes, &a.scan.display().to_string(), size)?;
        let emb = g.embed(&image, &device);
        let encoded = match &prompt {
            Some(p) => {
                let p = prepare_prompt(p, &tok, &vlm).context("--prompt")?;
                if !p.unknown.is_empty() {
                    writeln!(
                        out,
                        "note: the model's vocabulary does not know {} (read as unknown words)",
                        p.unknown.join(", ")
                    )?;
                }
                if !p.spelt.is_empty() {
                    writeln!(
                        out,
                        "note: {} {} not in the model's vocabulary as words (spelt in pieces: \
                         the model may never have read them)",
                        p.spelt.join(", "),
                        if p.spelt.len() == 1 { "is" } else { "are" }
                    )?;
                }
                if !p.cut.is_empty() {
                    writeln!(
                        out,
                        "note: the prompt is longer than the model reads ({} tokens): {} {} not \
                         read; shorten it",
                        tok.max_len(),
                        p.cut.join(" "),
                        if p.cut.len() == 1 { "is" } else { "are" }
                    )?;
                }
                Some(p.encoded)
            }
            None => None,
        };
        let no_tmg = || {
            anyhow::anyhow!(
                "{} is a {method} model: it trained no text mask generator, so a prompt has no \
                 effect; drop --prompt, or use a text-guided model",
                source.name()
            )
        };
        let text = match &encoded {
            Some(e) => Some(g.text_mask(&emb, e, &device).ok_or_else(no_tmg)?),
            None => None,
        };
        let mask = match (&encoded, a.fuse) {
            (Some(e), true) => g.fused(&emb, e, &device).ok_or_else(no_tmg)?,
            _ => g.probability(&emb),
        };
        (mask, text, size)
    });
    let mask = map_to_image(&mask, size, w, h);
    write_gray_png(&a.output, &map_to_gray8(&mask, true), w, h)?;
    let fg = mask.iter().filter(|&&v| v > 0.5).count();
    writeln!(
        out,
        "{}: {} foreground pixels of {} ({:.1}%){}, {:.1} s on {backend}",
        a.output.display(),
        fg,
        w * h,
        100.0 * fg as f64 / (w * h) as f64,
        if a.fuse {
            ", fused with the prompt"
        } else {
            ""
        },
        t0.elapsed().as_secs_f64()
    )?;
    if let Some(text) = text {
        let text = map_to_image(&text, size, w, h);
        let above = text.iter().filter(|&&v| v > 0.5).count();
        writeln!(
            out,
            "text mask of {:?}: {:.1}% of the image above 0.5",
            prompt.unwrap_or_default(),
            100.0 * above as f64 / (w * h) as f64
        )?;
        if let Some(path) = &a.text_mask {
            write_gray_png(path, &map_to_gray8(&text, false), w, h)?;
            writeln!(out, "{}: the text mask (0..255)", path.display())?;
        }
    }
    Ok(())
}

/// Write grey 8-bit pixels as a PNG (the parent folder is created).
fn write_gray_png(path: &Path, pixels: &[u8], w: usize, h: usize) -> anyhow::Result<()> {
    let img = image::GrayImage::from_raw(w as u32, h as u32, pixels.to_vec())
        .context("a map of the wrong length")?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    create_parent(path)?;
    write_atomic(path, &bytes)
}
