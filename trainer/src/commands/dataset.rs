//! `semiseg dataset DIR`: the cases of a dataset folder and its split; for a 2D image-text folder
//! in the LViT layout, each split's images, masks, image sizes and description lengths.

use crate::cli::DatasetArgs;
use semiseg::data::{Dataset, LabeledChoice, LvitDataset, LvitSample, Split};
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(a: &DatasetArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if LvitDataset::is_lvit(&a.dir) {
        return run_lvit(a, out);
    }
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

/// Distinct image sizes of some samples, most frequent first: `512x512 (24)`.
fn image_sizes(samples: &[LvitSample]) -> anyhow::Result<String> {
    let mut sizes: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for s in samples {
        let (w, h) = s.check_files()?;
        *sizes.entry((w, h)).or_default() += 1;
    }
    let mut v: Vec<((u32, u32), usize)> = sizes.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shown: Vec<String> = v
        .iter()
        .take(3)
        .map(|((w, h), n)| format!("{w}x{h} ({n})"))
        .collect();
    let more = if v.len() > 3 {
        format!(" and {} more sizes", v.len() - 3)
    } else {
        String::new()
    };
    Ok(shown.join(", ") + &more)
}

fn run_lvit(a: &DatasetArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ds = LvitDataset::open(&a.dir)?;
    if a.json {
        let splits: BTreeMap<&str, &[LvitSample]> =
            ds.splits().map(|(s, v)| (s.name(), v)).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&splits)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "dataset    {} (LViT image-text layout)",
        ds.root.display()
    )?;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    t.set_header(vec![
        "split",
        "images",
        "masks",
        "image sizes",
        "words min/mean/max",
        "padded (<9 words)",
        "distinct texts",
    ]);
    for (split, samples) in ds.splits() {
        let words: Vec<usize> = samples
            .iter()
            .map(|s| s.text.split_whitespace().count())
            .collect();
        let n = words.len().max(1);
        let distinct: std::collections::BTreeSet<&str> =
            samples.iter().map(|s| s.text.as_str()).collect();
        t.add_row(vec![
            format!("{}/", split.folder()),
            samples.len().to_string(),
            samples
                .iter()
                .filter(|s| s.mask.is_some())
                .count()
                .to_string(),
            image_sizes(samples)?,
            format!(
                "{} / {:.1} / {}",
                words.iter().min().unwrap_or(&0),
                words.iter().sum::<usize>() as f64 / n as f64,
                words.iter().max().unwrap_or(&0)
            ),
            words.iter().filter(|&&w| w < 9).count().to_string(),
            distinct.len().to_string(),
        ]);
    }
    writeln!(out, "{t}")?;
    for split in ds.missing() {
        writeln!(out, "note: no {}/ folder", split.folder())?;
    }
    Ok(())
}
