//! Metrics tables (stdout) and CSV files, shared by `eval`, `eval-model` and training.

use crate::cli::SpacingUnit;
use anyhow::Context;
use semiseg::metrics::{CaseMetrics, EmptyCase};
use std::io::Write;
use std::path::Path;

fn note(m: &CaseMetrics) -> &'static str {
    match m.empty {
        None => "",
        Some(EmptyCase::Prediction) => "empty prediction: all 0",
        Some(EmptyCase::GroundTruth) => "empty ground truth: all 0",
        Some(EmptyCase::Both) => "both empty: all 0",
    }
}

pub fn print_table(
    out: &mut dyn Write,
    rows: &[(String, CaseMetrics)],
    mean: &CaseMetrics,
    unit: SpacingUnit,
) -> anyhow::Result<()> {
    let u = unit.name();
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    t.set_header(vec![
        "case".to_string(),
        "Dice %".into(),
        "Jaccard %".into(),
        format!("95HD ({u})"),
        format!("ASD ({u})"),
        "note".into(),
    ]);
    let row = |name: &str, m: &CaseMetrics| {
        vec![
            name.to_string(),
            format!("{:.2}", 100.0 * m.dice),
            format!("{:.2}", 100.0 * m.jaccard),
            format!("{:.2}", m.hd95),
            format!("{:.2}", m.asd),
            note(m).to_string(),
        ]
    };
    for (name, m) in rows {
        t.add_row(row(name, m));
    }
    let cases = crate::wording::counted(rows.len(), "case");
    t.add_row(row(&format!("mean ({cases})"), mean));
    writeln!(out, "{t}")?;
    let empty = rows.iter().filter(|(_, m)| m.empty.is_some()).count();
    if empty > 0 {
        writeln!(
            out,
            "note: {empty} case(s) had an empty mask and count as 0 in the mean, as in the literature's evaluation code"
        )?;
    }
    Ok(())
}

pub fn write_csv(
    path: &Path,
    rows: &[(String, CaseMetrics)],
    mean: &CaseMetrics,
    unit: SpacingUnit,
) -> anyhow::Result<()> {
    let u = unit.name();
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "case".to_string(),
        "dice".into(),
        "jaccard".into(),
        format!("hd95_{u}"),
        format!("asd_{u}"),
        format!("assd_{u}"),
        format!("hd95_monai_{u}"),
        "empty".into(),
    ])?;
    let rec = |name: &str, m: &CaseMetrics| {
        vec![
            name.to_string(),
            format!("{:.6}", m.dice),
            format!("{:.6}", m.jaccard),
            format!("{:.6}", m.hd95),
            format!("{:.6}", m.asd),
            format!("{:.6}", m.assd),
            format!("{:.6}", m.hd95_monai),
            match m.empty {
                None => String::new(),
                Some(e) => format!("{e:?}").to_lowercase(),
            },
        ]
    };
    for (name, m) in rows {
        w.write_record(rec(name, m))?;
    }
    w.write_record(rec("mean", mean))?;
    w.flush()?;
    Ok(())
}

/// The `mean` row of a metrics CSV written by [`write_csv`] and the number of case rows above it.
/// A 2D `eval-model` CSV (`image,dice,iou,...`) reads as Dice and Jaccard (its IoU), with no
/// distances (NaN).
pub fn read_csv_mean(path: &Path) -> anyhow::Result<(CaseMetrics, usize)> {
    let what = || {
        format!(
            "{}: not a metrics.csv written by `semiseg eval` or `semiseg eval-model`",
            path.display()
        )
    };
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the metrics file {}", path.display()))?;
    let head = r.headers()?.clone();
    if head.iter().next() == Some("image") && head.iter().nth(2) == Some("iou") {
        for (images, row) in r.records().enumerate() {
            let row = row?;
            if &row[0] == "mean" {
                let (Ok(dice), Ok(jaccard)) = (row[1].parse::<f64>(), row[2].parse::<f64>()) else {
                    anyhow::bail!("{}: the mean row has a value that is not a number", what());
                };
                let none = f64::NAN;
                let mean = CaseMetrics {
                    dice,
                    jaccard,
                    hd95: none,
                    asd: none,
                    assd: none,
                    hd95_monai: none,
                    empty: None,
                };
                return Ok((mean, images));
            }
        }
        anyhow::bail!("{}: no \"mean\" row", what());
    }
    let col = |name: &str| {
        head.iter()
            .position(|h| h.starts_with(name))
            .with_context(what)
    };
    let cols = [
        col("dice")?,
        col("jaccard")?,
        col("hd95_")?,
        col("asd_")?,
        col("assd_")?,
        col("hd95_monai_")?,
    ];
    for (cases, row) in r.records().enumerate() {
        let row = row?;
        if &row[0] == "mean" {
            let [Ok(dice), Ok(jaccard), Ok(hd95), Ok(asd), Ok(assd), Ok(hd95_monai)] =
                cols.map(|i| row[i].parse::<f64>())
            else {
                anyhow::bail!("{}: the mean row has a value that is not a number", what());
            };
            let mean = CaseMetrics {
                dice,
                jaccard,
                hd95,
                asd,
                assd,
                hd95_monai,
                empty: None,
            };
            return Ok((mean, cases));
        }
    }
    anyhow::bail!("{}: no \"mean\" row", what())
}

/// Peak resident memory of this process (Linux `VmHWM`), in GiB.
pub fn peak_rss() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / (1024.0 * 1024.0))
}
