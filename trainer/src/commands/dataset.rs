//! `semiseg dataset DIR`: the cases of a dataset folder and its split.

use crate::cli::DatasetArgs;
use semiseg::data::{Dataset, LabeledChoice, Split};
use std::io::Write;

pub fn run(a: &DatasetArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ds = Dataset::open(&a.dir)?;
    let choice = match a.seed {
        Some(seed) => LabeledChoice::Seeded { n: a.labeled, seed },
        None => LabeledChoice::First(a.labeled),
    };
    let split = Split::from_lists(&ds, choice)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&split)?)?;
        return Ok(());
    }
    let with_labels = ds.cases.iter().filter(|c| c.label.is_some()).count();
    writeln!(out, "dataset    {} ({})", ds.name, ds.root.display())?;
    writeln!(
        out,
        "cases      {} ({} with labels)",
        ds.cases.len(),
        with_labels
    )?;
    if !ds.labels.is_empty() {
        let labels: Vec<String> = ds.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "labels     {}", labels.join(", "))?;
    }
    let how = match choice {
        LabeledChoice::First(n) => format!("first {n} of the training list"),
        LabeledChoice::Seeded { n, seed } => format!("{n} drawn with seed {seed}"),
    };
    writeln!(out, "labeled    {} ({how})", split.labeled.len())?;
    writeln!(out, "unlabeled  {}", split.unlabeled.len())?;
    writeln!(out, "test       {}", split.test.len())?;
    writeln!(out, "labeled ids: {}", split.labeled.join(" "))?;
    Ok(())
}
