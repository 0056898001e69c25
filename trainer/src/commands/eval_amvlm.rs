//! `semiseg eval-amvlm`: retrieval recall, phrase localisation and similarity maps of a
//! pre-trained run on a split of an LViT folder.

use crate::amvlm::data::{read_regions, PairData};
use crate::amvlm::evaluate::evaluate;
use crate::checkpoint;
use crate::cli::{CheckpointArg, EvalAmvlmArgs};
use crate::run_dir::{utc_stamp, RunDir};
use crate::with_backend;
use anyhow::Context;
use burn::module::AutodiffModule;
use semiseg::amvlm::AmvlmConfig;
use semiseg::data::{LvitDataset, LvitSplit};
use semiseg::text::TextTokenizer;
use std::io::Write;

pub fn run(a: &EvalAmvlmArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let run = RunDir::open(&a.run)?;
    let cfg: AmvlmConfig = toml::from_str(&std::fs::read_to_string(run.config())?)
        .with_context(|| format!("{}: invalid configuration", run.config().display()))?;
    let tok = TextTokenizer::from_vocab_file(run.root.join("vocab.txt"), cfg.lowercase)?
        .with_max_len(cfg.max_text_len)?;
    let split = match a.split.as_str() {
        "train" => LvitSplit::Train,
        "val" => LvitSplit::Val,
        "test" => LvitSplit::Test,
        other => anyhow::bail!("--split {other:?}: use train, val or test"),
    };
    let ds = LvitDataset::open(&a.data)?;
    if !ds.has(split) || ds.split(split).len() < 2 {
        anyhow::bail!(
            "{}: the {} split has fewer than 2 pairs",
            a.data.display(),
            split.folder()
        );
    }
    let samples = ds.split(split);
    let mut data = PairData::load(samples, &cfg, &tok)?;
    data.regions = read_regions(&a.data.join(split.folder()), samples, cfg.image_size)?;
    let which = match a.checkpoint {
        CheckpointArg::Best => "best",
        CheckpointArg::Last => "last",
    };
    let dir = run
        .evaluations()
        .join(format!("{}-{which}-{}", split.folder(), utc_stamp()));
    let backend = crate::backend::select(a.backend)?;
    let ev = with_backend!(backend.kind, |B, device| {
        let model = cfg.init::<B>(tok.vocab_size(), &device);
        let enc = match a.checkpoint {
            CheckpointArg::Best => checkpoint::load_module(
                model.encoders.valid(),
                &run.best().join("encoders"),
                &device,
            )?,
            CheckpointArg::Last => {
                let last = checkpoint::latest(&run)?
                    .with_context(|| format!("{} has no checkpoint yet", run.root.display()))?;
                checkpoint::load_module(model, &last.join("model"), &device)?
                    .encoders
                    .valid()
            }
        };
        evaluate(&enc, &cfg, &data, &dir)?
    });
    writeln!(
        out,
        "{} ({which} weights, on {backend}): {}",
        split.folder(),
        ev.line()
    )?;
    writeln!(out, "metrics and similarity maps: {}", dir.display())?;
    Ok(())
}
