//! Metrics tables (stdout) and CSV files, shared by `eval`, `eval-model` and training.

use crate::cli::SpacingUnit;
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
    t.add_row(row(&format!("mean ({} cases)", rows.len()), mean));
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

/// Peak resident memory of this process (Linux `VmHWM`), in GiB.
pub fn peak_rss() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / (1024.0 * 1024.0))
}
