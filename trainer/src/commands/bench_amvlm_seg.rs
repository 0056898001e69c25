//! `semiseg bench amvlm-seg`: time one text-guided segmentation step (the frozen encoders embed
//! the unlabeled images and their texts, the TMG's Adam step on L_tg, the teacher, the student's
//! Adam step, the EMA; spec A6) and one prompt on one image, without and with the image's
//! embedding cached (what the page pays for a new image and for a new prompt), on a backend, and
//! print a table row. Not a test: numbers depend on the machine.

use crate::cli::BenchAmvlmSegArgs;
use crate::report::peak_rss;
use crate::with_backend;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use semiseg::amvlm::{
    seg_losses, AmvlmConfig, GroundInputs, SegBatch, SegConfig, SegMethod, TextInputs,
};
use semiseg::data::Image2d;
use semiseg::infer::{TextGuidedModel, TextGuidedNets};
use semiseg::text::TextTokenizer;
use semiseg::train::{ema_update, teacher_from};
use std::io::Write;
use std::time::Instant;

const PROMPTS: [&str; 3] = [
    "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.",
    "Unilateral pulmonary infection, one infected area, middle right lung.",
    "Unilateral pulmonary infection, one infected area, lower left lung.",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (step s, new image + prompt s, cached image + new prompt s)
fn bench<B: AutodiffBackend>(
    vlm: &AmvlmConfig,
    cfg: &SegConfig,
    tok: &TextTokenizer,
    vocab: usize,
    steps: usize,
    device: &B::Device,
) -> anyhow::Result<(f64, f64, f64)> {
    B::seed(device, 1);
    let encoders = vlm.init::<B>(vocab, device).encoders.valid();
    let mut student = cfg.unet().init::<B>(device);
    let mut teacher = teacher_from(&student);
    let mut tmg = cfg.text_mask_generator(vlm.embed_dim).init::<B>(device);
    let prompt = tmg.prompt;
    let mut optim = AdamConfig::new().init::<B, semiseg::nets::UNet2d<B>>();
    let mut optim_tmg = AdamConfig::new().init::<B, semiseg::amvlm::TextMaskGenerator<B>>();
    let (lb, ub, s) = (cfg.labeled_bs, cfg.unlabeled_bs, vlm.image_size);
    let texts: Vec<&str> = (0..ub.max(lb))
        .map(|i| PROMPTS[i % PROMPTS.len()])
        .collect();
    let encoded = tok.encode_batch(&texts)?;
    let mut times = Vec::new();
    for i in 0..steps + 1 {
        let t0 = Instant::now();
        let rand = |shape: [usize; 4]| Tensor::<B, 4>::random(shape, Distribution::Default, device);
        let unlabeled = rand([ub, 3, s, s]);
        let labeled = rand([lb, 3, s, s]);
        let masks = rand([lb, 1, s, s]).greater_elem(0.5).float();
        // the frozen encoders on images and their texts, as the trainer calls them
        let embed = |images: &Tensor<B, 4>, texts: &[semiseg::text::Encoded]| {
            let patches = encoders.encode_image(images.clone().inner()).patches;
            let t = prompt.vectors(&encoders.encode_text(texts, device));
            (Tensor::from_inner(patches), Tensor::from_inner(t))
        };
        let text = (cfg.method == SegMethod::TextGuided).then(|| {
            let (patches, texts) = embed(&unlabeled, &encoded[..ub]);
            TextInputs {
                patches,
                texts,
                images: unlabeled.clone(),
                to_student: Vec::new(),
            }
        });
        // A8: one grounding row (its description) per labeled image
        let ground = cfg.grounded().then(|| {
            let (patches, texts) = embed(&labeled, &encoded[..lb]);
            GroundInputs {
                patches,
                images: labeled.clone(),
                texts,
                targets: masks.clone(),
                description: vec![true; lb],
            }
        });
        let batch = SegBatch {
            labeled,
            masks,
            unlabeled: Some(unlabeled),
            text,
            ground,
        };
        let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, cfg);
        if let Some(loss) = l.tmg {
            let grads = GradientsParams::from_grads(loss.backward(), &tmg);
            tmg = optim_tmg.step(cfg.lr, tmg, grads);
        }
        let grads = GradientsParams::from_grads(l.student.total.backward(), &student);
        student = optim.step(cfg.lr, student, grads);
        teacher = ema_update(teacher, &student, 0.99).map_err(anyhow::Error::msg)?;
        // read a value back so the device queue is drained before the clock stops
        let _ = teacher
            .forward(rand([1, 3, 16, 16]))
            .sum()
            .into_scalar()
            .elem::<f64>();
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64()); // the first step includes warm-up
        }
    }
    let model = TextGuidedModel {
        nets: TextGuidedNets {
            encoders,
            tmg: Some(tmg.valid()),
            student: student.valid(),
        },
        text_mask: cfg.text_mask,
    };
    let pixels: Vec<u8> = (0..s * s).map(|i| (i * 7 % 251) as u8).collect();
    let image = Image2d::from_gray8(&pixels, s, s, s)?;
    let prompts = tok.encode_batch(&PROMPTS)?;
    let (mut fresh, mut cached) = (Vec::new(), Vec::new());
    let emb = model.embed(&image, device);
    for (k, p) in prompts.iter().cycle().take(6).enumerate() {
        let t0 = Instant::now();
        if k % 2 == 0 {
            let e = model.embed(&image, device);
            let _ = model.text_mask(&e, p, device);
            fresh.push(t0.elapsed().as_secs_f64());
        } else {
            let _ = model.text_mask(&emb, p, device);
            cached.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok((median(times), median(fresh), median(cached)))
}

pub fn run(a: &BenchAmvlmSegArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let vlm = AmvlmConfig::preset(&a.preset)
        .ok_or_else(|| anyhow::anyhow!("unknown preset {:?}: use paper or tiny", a.preset))?;
    let mut cfg = SegConfig::preset(&a.preset).expect("the same presets");
    if let Some(w) = a.width {
        cfg.width = w;
    }
    if let Some(b) = a.batch_size {
        (cfg.labeled_bs, cfg.unlabeled_bs) = (b, b);
    }
    if a.no_text {
        cfg.method = SegMethod::MeanTeacher;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    let tok = TextTokenizer::train(&PROMPTS, 200, true)?.with_max_len(vlm.max_text_len)?;
    let backend = crate::backend::select(a.backend)?;
    let (step, fresh, cached) = with_backend!(backend.kind, |B, device| bench::<B>(
        &vlm,
        &cfg,
        &tok,
        tok.vocab_size(),
        a.steps,
        &device
    )?);
    writeln!(out, "| backend | preset | step | images a step | UNet width | train step (median of {}) | new image + prompt | new prompt (image cached) | peak RSS |", a.steps)?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    writeln!(
        out,
        "| {} | {} ({}x{}) | {} | {} + {} | {} | {:.3} s | {:.1} ms | {:.1} ms | {} |",
        backend.kind,
        a.preset,
        vlm.image_size,
        vlm.image_size,
        cfg.method.name(),
        cfg.labeled_bs,
        cfg.unlabeled_bs,
        cfg.width,
        step,
        1000.0 * fresh,
        1000.0 * cached,
        peak_rss()
            .map(|m| format!("{m:.2} GiB"))
            .unwrap_or_else(|| "-".into())
    )?;
    Ok(())
}
