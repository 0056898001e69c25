//! `semiseg bench amvlm`: time one AMVLM pre-training step (online and momentum encoders, the
//! four A5 losses, backward, Adam, EMA) and the embedding of one image and one prompt (what the
//! browser pays), on a backend, and print a table row. Not a test: numbers depend on the machine.

use crate::cli::BenchAmvlmArgs;
use crate::report::peak_rss;
use crate::with_backend;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use semiseg::amvlm::{amvlm_loss, Amvlm, AmvlmBatch, AmvlmConfig};
use semiseg::text::TextTokenizer;
use semiseg::train::{ema_update, teacher_from};
use std::io::Write;
use std::time::Instant;

const PROMPTS: [&str; 4] = [
    "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.",
    "Unilateral pulmonary infection, one infected area, middle right lung.",
    "Bilateral pulmonary infection, three infected areas, upper left lung, lower left lung and middle right lung.",
    "Unilateral pulmonary infection, one infected area, lower left lung.",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench<B: AutodiffBackend>(
    cfg: &AmvlmConfig,
    tok: &TextTokenizer,
    vocab: usize,
    steps: usize,
    device: &B::Device,
) -> anyhow::Result<(f64, f64, f64)> {
    B::seed(device, 1);
    let mut model: Amvlm<B> = cfg.init(vocab, device);
    let mut momentum = teacher_from(&model.encoders);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Amvlm<B>>();
    let b = cfg.batch_size;
    let s = cfg.image_size;
    let texts: Vec<&str> = (0..b).map(|i| PROMPTS[i % PROMPTS.len()]).collect();
    let encoded = tok.encode_batch(&texts)?;
    let mut times = Vec::new();
    for i in 0..steps + 1 {
        let t0 = Instant::now();
        let batch = AmvlmBatch {
            images: Tensor::<B, 4>::random([b, 3, s, s], Distribution::Default, device),
            images_aug: Tensor::<B, 4>::random([b, 3, s, s], Distribution::Default, device),
            texts: encoded.clone(),
        };
        let l = amvlm_loss(&model, &momentum, &batch, cfg);
        let grads = GradientsParams::from_grads(l.total.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        momentum =
            ema_update(momentum, &model.encoders, cfg.momentum).map_err(anyhow::Error::msg)?;
        // read a value back so the device queue is drained before the clock stops
        let _ = momentum
            .image
            .pos_embed
            .val()
            .sum()
            .into_scalar()
            .elem::<f64>();
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64()); // the first step includes warm-up
        }
    }
    let enc = model.encoders.valid();
    let inner = enc.image.pos_embed.val().device();
    let one = tok.encode_batch(&PROMPTS[..1])?;
    let (mut img_t, mut txt_t) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let x = Tensor::<B::InnerBackend, 4>::random([1, 3, s, s], Distribution::Default, &inner);
        let t0 = Instant::now();
        let e = enc.encode_image(x);
        let _ = e.patches.sum().into_scalar().elem::<f64>();
        img_t.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let e = enc.encode_text(&one, &inner);
        let _ = e.global.sum().into_scalar().elem::<f64>();
        txt_t.push(t0.elapsed().as_secs_f64());
    }
    Ok((median(times), median(img_t), median(txt_t)))
}

pub fn run(a: &BenchAmvlmArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut cfg = AmvlmConfig::preset(&a.preset)
        .ok_or_else(|| anyhow::anyhow!("unknown preset {:?}: use paper or tiny", a.preset))?;
    if let Some(bs) = a.batch_size {
        cfg.batch_size = bs;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    let tok = TextTokenizer::train(&PROMPTS, 200, true)?.with_max_len(cfg.max_text_len)?;
    // The paper's text encoder has Bio_ClinicalBERT's 28,996-token table (spec A2).
    let vocab = if a.preset == "paper" {
        28_996
    } else {
        tok.vocab_size()
    };
    let backend = crate::backend::select(a.backend)?;
    let (step, img, txt) = with_backend!(backend.kind, |B, device| bench::<B>(
        &cfg, &tok, vocab, a.steps, &device
    )?);
    writeln!(out, "| backend | preset | batch | train step (median of {}) | embed 1 image | embed 1 prompt | peak RSS |", a.steps)?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    writeln!(
        out,
        "| {} | {} ({}x{}, ViT {}x{}, text {}x{}) | {} | {:.3} s | {:.1} ms | {:.1} ms | {} |",
        backend.kind,
        a.preset,
        cfg.image_size,
        cfg.image_size,
        cfg.vit_depth,
        cfg.vit_width,
        cfg.text_layers,
        cfg.text_width,
        cfg.batch_size,
        step,
        1000.0 * img,
        1000.0 * txt,
        peak_rss()
            .map(|m| format!("{m:.2} GiB"))
            .unwrap_or_else(|| "-".into())
    )?;
    Ok(())
}
