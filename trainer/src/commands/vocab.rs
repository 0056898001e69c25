//! `semiseg vocab`: train a WordPiece vocabulary on the training descriptions of an LViT folder
//! and write it as `vocab.txt` (what `train amvlm --vocab` reads).

use crate::amvlm::setup::{train_tokenizer, Pairs};
use crate::cli::VocabArgs;
use crate::output_file::{check_new_file, create_parent};
use crate::run_dir::write_atomic;
use semiseg::amvlm::AmvlmConfig;
use std::io::Write;

pub fn run(a: &VocabArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    check_new_file(&a.out, "--out", None)?;
    let cfg = AmvlmConfig {
        vocab_size: a.size,
        lowercase: !a.cased,
        pad_short_text: !a.no_pad,
        ..AmvlmConfig::default()
    };
    let pairs = Pairs::open(&a.data)?;
    let tok = train_tokenizer(&pairs, &cfg)?;
    create_parent(&a.out)?;
    write_atomic(&a.out, tok.vocab_text().as_bytes())?;
    writeln!(
        out,
        "{}: {} tokens from {} training descriptions ({})",
        a.out.display(),
        tok.vocab_size(),
        pairs.train.len(),
        if cfg.lowercase {
            "lower-cased"
        } else {
            "cased"
        }
    )?;
    if let Some(first) = pairs.training_texts(&cfg).first() {
        let e = tok.encode(first)?;
        let shown: Vec<&str> = e
            .tokens
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "[PAD]")
            .collect();
        writeln!(out, "example: {first:?}\n  -> {}", shown.join(" "))?;
    }
    Ok(())
}
