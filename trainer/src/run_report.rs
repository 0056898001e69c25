//! A run's report, the human-readable part of the run bundle: `report.md` and `curves.svg` in the
//! run folder, written from the run's own files (config, manifest, sessions, training log,
//! evaluations, `eval-model` metrics) at the end of every training session and by
//! `semiseg report --run RUN`. Nothing is recomputed or estimated: every number is read from a
//! file of the run. These two files belong to semiseg and are rewritten each time; everything
//! else in the folder is only read.

use crate::progress::duration_text;
use crate::report::read_csv_mean;
use crate::run_dir::{write_atomic, RunDir};
use anyhow::Context;
use plotters::prelude::*;
use semiseg::metrics::CaseMetrics;
use semiseg::simcvd::Method;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A CSV file of the run (a header and text cells).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Read `path`; `None` if the file does not exist.
    pub fn read(path: &Path) -> anyhow::Result<Option<Table>> {
        if !path.exists() {
            return Ok(None);
        }
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let header = r.headers()?.iter().map(str::to_string).collect();
        let rows = r
            .records()
            .map(|rec| Ok(rec?.iter().map(str::to_string).collect()))
            .collect::<Result<_, csv::Error>>()
            .with_context(|| format!("{}: not a CSV file", path.display()))?;
        Ok(Some(Table { header, rows }))
    }

    /// The column `name` as numbers (NaN where a cell is not one).
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(i).and_then(|c| c.parse().ok()).unwrap_or(f64::NAN))
                .collect(),
        )
    }

    /// The table in Markdown, each cell through `cell(column, text)`.
    fn markdown(&self, names: &[String], cell: impl Fn(&str, &str) -> String) -> String {
        let mut s = format!("| {} |\n|", names.join(" | "));
        s += &"---|".repeat(names.len());
        s.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = self
                .header
                .iter()
                .zip(row)
                .map(|(h, c)| escape(&cell(h, c)))
                .collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        s
    }
}

/// A table cell as Markdown text: `<`, `>` and `|` would be read as HTML or a column break.
fn escape(cell: &str) -> String {
    cell.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Trailing moving average over the last `window` values (the curves' smoothing); NaN values are
/// left out of the mean, and a window with none left is NaN.
pub fn moving_average(v: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    (0..v.len())
        .map(|i| {
            let w: Vec<f64> = v[i.saturating_sub(window - 1)..=i]
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            if w.is_empty() {
                f64::NAN
            } else {
                w.iter().sum::<f64>() / w.len() as f64
            }
        })
        .collect()
}

/// The case counts of a run's `manifest.json`, e.g. `["8 labeled", "72 unlabeled", "20 test"]`;
/// the unlabeled cases are marked unused in a run whose `config` trains without them (the
/// supervised baseline lists the split's unlabeled cases but never reads them).
pub fn data_counts(manifest: &serde_json::Value, config: &toml::Table) -> Vec<String> {
    let unused = method_name(config) == Method::Supervised.name();
    ["labeled", "unlabeled", "val", "test", "train", "held_out"]
        .iter()
        .filter_map(|k| {
            let v = &manifest[*k];
            let n = v
                .as_u64()
                .or_else(|| v.as_array().map(|a| a.len() as u64))?;
            let note = if unused && *k == "unlabeled" {
                " (unused)"
            } else {
                ""
            };
            Some(format!("{n} {}{note}", k.replace('_', "-")))
        })
        .collect()
}

/// One panel of `curves.svg`: named series of (x, y) points.
struct Panel {
    title: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
    /// Widen the x axis to take in this span (the evaluations share the curves' steps).
    x_span: Option<(f64, f64)>,
    /// Mark each point (few points, e.g. one evaluation every 1000 steps).
    markers: bool,
}

/// Columns of a training log that are not curves.
const NOT_CURVES: [&str; 4] = ["step", "epoch", "seconds", "lr"];

/// The smoothing window for a log of `n` rows: about 50 points of averaging per curve.
fn window_for(n: usize) -> usize {
    (n / 50).max(1)
}

fn log_panels(log: &Table) -> (Vec<Panel>, usize) {
    let x = log.column("step").unwrap_or_default();
    let window = window_for(log.rows.len());
    let panels = log
        .header
        .iter()
        .filter(|h| !NOT_CURVES.contains(&h.as_str()))
        .filter_map(|h| {
            let y = moving_average(&log.column(h)?, window);
            let pts: Vec<(f64, f64)> = x
                .iter()
                .zip(&y)
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(&a, &b)| (a, b))
                .collect();
            (!pts.is_empty()).then(|| Panel {
                title: h.clone(),
                series: vec![(h.clone(), pts)],
                x_span: None,
                markers: false,
            })
        })
        .collect();
    (panels, window)
}

/// The evaluation panel: SimCVD's `evaluations/summary.csv` (Dice and Jaccard in % by step),
/// AMVLM's `epochs.csv` (recall@1 by epoch) or the 2D segmenter's (validation Dice and IoU).
fn eval_panel(summary: Option<&Table>, epochs: Option<&Table>) -> Option<Panel> {
    let pick = |t: &Table, x: &str, ys: &[(&str, f64)], title: &str| {
        let xs = t.column(x)?;
        let series: Vec<(String, Vec<(f64, f64)>)> = ys
            .iter()
            .filter_map(|(name, scale)| {
                let pts: Vec<(f64, f64)> = xs
                    .iter()
                    .zip(t.column(name)?)
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .map(|(&a, b)| (a, b * scale))
                    .collect();
                (!pts.is_empty()).then(|| (name.to_string(), pts))
            })
            .collect();
        (!series.is_empty()).then(|| Panel {
            title: title.into(),
            series,
            x_span: None,
            markers: true,
        })
    };
    summary
        .and_then(|t| {
            pick(
                t,
                "step",
                &[("dice", 100.0), ("jaccard", 100.0)],
                "test-set monitoring (%)",
            )
        })
        .or_else(|| {
            epochs.and_then(|t| {
                pick(
                    t,
                    "epoch",
                    &[("r1_i2t", 1.0), ("r1_t2i", 1.0)],
                    "held-out recall@1 by epoch",
                )
            })
        })
        .or_else(|| {
            epochs.and_then(|t| {
                pick(
                    t,
                    "epoch",
                    &[("val_dice", 100.0), ("val_iou", 100.0)],
                    "validation by epoch (%)",
                )
            })
        })
}

/// Draw the panels as one SVG (a grid, three panels a row).
fn curves_svg(panels: &[Panel]) -> anyhow::Result<String> {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let (w, h) = (360 * cols as u32, 240 * rows as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let colors = [BLUE, RED, GREEN, MAGENTA];
        for (area, p) in root.split_evenly((rows, cols)).iter().zip(panels) {
            let all = p.series.iter().flat_map(|(_, s)| s.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &(x, y) in all {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            if x1 <= x0 {
                x1 = x0 + 1.0;
            }
            if let Some((a, b)) = p.x_span {
                (x0, x1) = (x0.min(a), x1.max(b));
            }
            let pad = if y1 - y0 > 1e-9 {
                (y1 - y0) * 0.05
            } else {
                (0.1 * y1.abs()).max(1.0)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(52)
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .max_light_lines(0)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 11))
                .draw()?;
            for (i, (name, pts)) in p.series.iter().enumerate() {
                let c = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
                if p.markers {
                    chart.draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))?;
                }
            }
            if p.series.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::LowerRight)
                    .draw()?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// A run's `config.toml`: its text and its table.
pub fn read_config(run: &RunDir) -> anyhow::Result<(String, toml::Table)> {
    let text = std::fs::read_to_string(run.config())
        .with_context(|| format!("cannot read {}", run.config().display()))?;
    let table = toml::from_str(&text)
        .with_context(|| format!("{}: not a valid config", run.config().display()))?;
    Ok((text, table))
}

/// The method a run's config names; an AMVLM run's config names none.
pub fn method_name(config: &toml::Table) -> &str {
    config
        .get("method")
        .and_then(|m| m.as_str())
        .unwrap_or("amvlm pre-training")
}

/// A mean row of an `eval-model` metrics.csv and its case count, or why it cannot be read.
pub type ModelEvaluation = anyhow::Result<(CaseMetrics, usize)>;

/// The `eval-model` results in a run folder (`RUN/<folder>/metrics.csv`), by folder name.
pub fn model_evaluations(run: &RunDir) -> anyhow::Result<Vec<(String, ModelEvaluation)>> {
    let mut evals: Vec<(String, ModelEvaluation)> = std::fs::read_dir(&run.root)?
        .filter_map(|e| {
            let folder = e.ok()?.path();
            let csv = folder.join("metrics.csv");
            let name = folder.file_name()?.to_string_lossy().into_owned();
            csv.is_file().then(|| (name, read_csv_mean(&csv)))
        })
        .collect();
    evals.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(evals)
}

/// Write `report.md` and `curves.svg` into the run folder; returns the report's path.
pub fn write_report(run: &RunDir) -> anyhow::Result<PathBuf> {
    let (config_text, config) = read_config(run)?;
    let json = |p: PathBuf| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    };
    let run_json = json(run.root.join("run.json"));
    let manifest = json(run.manifest());
    let best = json(run.best().join("state.json"));
    let log = Table::read(&run.train_log())?;
    let sessions = Table::read(&run.sessions())?;
    let summary = Table::read(&run.evaluations().join("summary.csv"))?;
    let validation = Table::read(&run.validations().join("summary.csv"))?;
    let epochs = Table::read(&run.root.join("epochs.csv"))?;

    let name = run
        .root
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().into_owned());
    let kind = run.kind()?;
    // trained in epochs (AMVLM pre-training and the 2D segmenter) or in steps (SimCVD)
    let amvlm = kind != crate::run_info::RunKind::Simcvd;
    let method = method_name(&config);
    let mut md = format!("# Run `{name}`\n\n");
    let _ = writeln!(
        md,
        "Written by `semiseg report` from the files of this folder; every number below is read \
         from them.\n"
    );

    // what was trained on what
    let mut what = format!("**Method** {method}");
    if let Some(m) = &manifest {
        if let Some(d) = m["dataset"].as_str() {
            let _ = write!(what, "; **data** {d}");
        }
        let counts = data_counts(m, &config);
        if !counts.is_empty() {
            let _ = write!(what, " ({})", counts.join(", "));
        }
    }
    if let Some(d) = run_json.as_ref().and_then(|r| r["data"].as_str()) {
        let _ = write!(what, " from `{d}`");
    }
    if let Some(seed) = config.get("seed") {
        let _ = write!(what, "; **seed** {seed}");
    }
    let _ = writeln!(md, "{what}.\n");

    // how far
    let (unit, total) = if amvlm {
        ("epochs", config.get("epochs").and_then(|v| v.as_integer()))
    } else {
        (
            "steps",
            config.get("max_steps").and_then(|v| v.as_integer()),
        )
    };
    if let Some(log) = &log {
        let last = |c: &str| log.column(c).and_then(|v| v.last().copied());
        let done = if amvlm {
            epochs
                .as_ref()
                .and_then(|e| e.column("epoch"))
                .and_then(|v| v.last().copied())
                .unwrap_or(0.0)
        } else {
            last("step").unwrap_or(0.0)
        };
        let mut line = format!("**Trained** {done:.0}");
        if let Some(t) = total {
            let _ = write!(
                line,
                " of {t} {unit} ({:.1}%)",
                100.0 * done / t.max(1) as f64
            );
        } else {
            let _ = write!(line, " {unit}");
        }
        if let Some(s) = last("seconds") {
            let _ = write!(line, " in {} of training", duration_text(s));
        }
        if let Some(s) = &sessions {
            let _ = write!(
                line,
                ", over {}",
                crate::wording::counted(s.rows.len(), "session")
            );
        }
        let _ = writeln!(md, "{line}.\n");
    } else {
        let _ = writeln!(md, "**Not trained yet** (no train_log.csv).\n");
    }
    if let Some(b) = &best {
        match (b["best_dice"].as_f64(), b["best_step"].as_u64()) {
            (Some(d), Some(s)) if b["chosen_on_validation"].as_bool() == Some(true) => {
                let _ = writeln!(
                    md,
                    "**Best validation Dice** {:.2}% at step {s} (`best/`).\n",
                    100.0 * d
                );
            }
            (Some(_), Some(_)) => {
                let _ = writeln!(
                    md,
                    "`best/` was chosen on the test cases by an earlier semiseg; it is not used \
                     (weights chosen on the test set overstate its scores).\n"
                );
            }
            _ => {}
        }
    }

    // evaluations during training
    for (t, title) in [
        (
            &summary,
            "Test-set monitoring during training (`evaluations/summary.csv`; no weights are \
             chosen on it)",
        ),
        (
            &validation,
            "Validation during training (`evaluations/validation/summary.csv`; `best/` is \
             chosen on it)",
        ),
    ] {
        let Some(t) = t else { continue };
        let _ = writeln!(md, "## {title}\n");
        let names: Vec<String> = t
            .header
            .iter()
            .map(|h| match h.as_str() {
                "dice" => "Dice %".into(),
                "jaccard" => "Jaccard %".into(),
                "hd95_voxel" => "95HD (voxels)".into(),
                "asd_voxel" => "ASD (voxels)".into(),
                other => other.into(),
            })
            .collect();
        md += &t.markdown(&names, |h, c| match (h, c.parse::<f64>()) {
            ("dice" | "jaccard", Ok(v)) => format!("{:.2}", 100.0 * v),
            ("step", _) => c.into(),
            (_, Ok(v)) => format!("{v:.2}"),
            _ => c.into(),
        });
        md.push('\n');
    }
    if let Some(t) = &epochs {
        let _ = writeln!(md, "## Epochs (`epochs.csv`)\n");
        md += &t.markdown(&t.header, |h, c| match (h, c.parse::<f64>()) {
            ("epoch", _) => c.into(),
            (_, Ok(v)) => format!("{v:.4}"),
            _ => c.into(),
        });
        md.push('\n');
    }

    // whole-volume evaluations (`eval-model --run`)
    let evals = model_evaluations(run)?;
    if !evals.is_empty() {
        let _ = writeln!(md, "## Test-set evaluations (`semiseg eval-model`)\n");
        let _ = writeln!(
            md,
            "| folder | cases | Dice % | Jaccard % | 95HD | ASD |\n|---|---|---|---|---|---|"
        );
        for (folder, result) in &evals {
            match result {
                Ok((m, n)) => {
                    // a 2D run's scores have no distances
                    let d = |v: f64| {
                        if v.is_finite() {
                            format!("{v:.2}")
                        } else {
                            "-".into()
                        }
                    };
                    let _ = writeln!(
                        md,
                        "| `{folder}` | {n} | {:.2} | {:.2} | {} | {} |",
                        100.0 * m.dice,
                        100.0 * m.jaccard,
                        d(m.hd95),
                        d(m.asd)
                    );
                }
                Err(e) => {
                    let _ = writeln!(md, "| `{folder}` | unreadable: {e} | | | | |");
                }
            }
        }
        let _ = writeln!(
            md,
            "\nDistances in the unit of each metrics.csv header (voxels unless `--spacing mm`).\n"
        );
    }

    // curves
    let svg_path = run.root.join("curves.svg");
    if let Some(log) = &log {
        let (mut panels, window) = log_panels(log);
        if let Some(mut p) = eval_panel(summary.as_ref(), epochs.as_ref()) {
            if summary.is_some() {
                // evaluations are by step: the same x axis as the curves
                let last = log.column("step").and_then(|v| v.last().copied());
                p.x_span = last.map(|l| (0.0, l));
            }
            panels.push(p);
        }
        if !panels.is_empty() {
            write_atomic(&svg_path, curves_svg(&panels)?.as_bytes())?;
            let _ = writeln!(md, "## Training curves\n\n![training curves](curves.svg)\n");
            let _ = writeln!(
                md,
                "Each panel is a column of `train_log.csv`, averaged over the last {window} \
                 row(s); the last panel is the evaluation.\n"
            );
        }
    }

    // sessions
    if let Some(t) = &sessions {
        let _ = writeln!(
            md,
            "## Sessions (`sessions.csv`: which code trained which steps)\n"
        );
        md += &t.markdown(&t.header, |_, c| c.into());
        md.push('\n');
    }

    // reproduce
    let data = run_json
        .as_ref()
        .and_then(|r| r["data"].as_str())
        .unwrap_or("DATA");
    let root = run.root.display();
    let _ = writeln!(md, "## Reproduce\n\n```sh");
    let vlm = match run_json.as_ref().and_then(|r| r["vlm"].as_str()) {
        Some(v) => format!(" --vlm {v}"),
        None => String::new(),
    };
    let _ = writeln!(
        md,
        "semiseg train {} --config {root}/config.toml --data {data}{vlm} --name {name}-again\n\
         semiseg {} --run {root} --data {data}",
        kind.train_command(),
        kind.eval_command()
    );
    let _ = writeln!(
        md,
        "```\n\nThe data must be what `manifest.json` lists (case ids and the SHA-256 of every \
         file); `--resume {root}` continues this run from its last checkpoint.\n"
    );

    let _ = writeln!(
        md,
        "## Configuration (`config.toml`)\n\n```toml\n{}```",
        config_text
    );
    let path = run.root.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// After a training session or an `eval-model` of the run: write the report and say where, or
/// say why not (a report that cannot be written never fails the work it describes).
pub fn write_report_or_warn(run: &RunDir, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match write_report(run) {
        Ok(p) => writeln!(out, "report: {}", p.display()),
        Err(e) => writeln!(
            out,
            "warning: the report was not written ({e:#}); try `semiseg report --run {}`",
            run.root.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_by_hand() {
        let v = [1.0, 3.0, f64::NAN, 5.0, 9.0];
        let m = moving_average(&v, 2);
        // windows: [1], [1,3], [3,NaN], [NaN,5], [5,9]
        assert_eq!(m, vec![1.0, 2.0, 3.0, 5.0, 7.0]);
        assert!(moving_average(&[f64::NAN], 3)[0].is_nan());
        assert_eq!(moving_average(&[2.0, 4.0], 0), vec![2.0, 4.0]);
        assert_eq!(window_for(10), 1);
        assert_eq!(window_for(6000), 120);
    }

    #[test]
    fn report_of_a_hand_written_run_folder() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("demo-run");
        std::fs::create_dir_all(root.join("evaluations")).unwrap();
        std::fs::create_dir_all(root.join("best")).unwrap();
        std::fs::create_dir_all(root.join("predictions-last")).unwrap();
        std::fs::write(
            root.join("config.toml"),
            "method = \"simcvd\"\nseed = 7\nmax_steps = 8\n",
        )
        .unwrap();
        std::fs::write(
            root.join("manifest.json"),
            r#"{"dataset": "toy", "labeled": [{"id": "a"}, {"id": "b"}], "unlabeled": [{"id": "c"}], "test": [{"id": "t"}]}"#,
        )
        .unwrap();
        std::fs::write(root.join("run.json"), r#"{"data": "/data/toy"}"#).unwrap();
        let mut log = String::from("step,lr,loss,seg,grad_norm,seconds\n");
        for s in 1..=4 {
            let _ = writeln!(log, "{s},0.01,{},{},1.0,{}", 1.0 / s as f64, 0.5, 30 * s);
        }
        std::fs::write(root.join("train_log.csv"), log).unwrap();
        std::fs::write(
            root.join("evaluations/summary.csv"),
            "step,dice,jaccard,hd95_voxel,asd_voxel\n2,0.5,0.333333,10.0,2.5\n4,0.8125,0.684211,4.25,1.0\n",
        )
        .unwrap();
        std::fs::write(
            root.join("best/state.json"),
            r#"{"step": 4, "best_dice": 0.8125, "best_step": 4}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("sessions.csv"),
            "started_utc,from_step,backend,semiseg_version,commit\n20261130-000000,0,autodiff<flex>,0.1.0,abc\n",
        )
        .unwrap();
        std::fs::write(
            root.join("predictions-last/metrics.csv"),
            "case,dice,jaccard,hd95_voxel,asd_voxel,assd_voxel,hd95_monai_voxel,empty\n\
             t,0.9,0.818182,3.0,1.0,1.0,3.0,\nmean,0.9,0.818182,3.0,1.0,1.0,3.0,\n",
        )
        .unwrap();
        let run = RunDir::open(&root).unwrap();
        let path = write_report(&run).unwrap();
        let md = std::fs::read_to_string(path).unwrap();
        for want in [
            "# Run `demo-run`",
            "**Method** simcvd; **data** toy (2 labeled, 1 unlabeled, 1 test) from `/data/toy`; **seed** 7.",
            "**Trained** 4 of 8 steps (50.0%) in 2m 00s of training, over 1 session.",
            "`best/` was chosen on the test cases by an earlier semiseg; it is not used",
            "## Test-set monitoring during training (`evaluations/summary.csv`; no weights",
            "| step | Dice % | Jaccard % | 95HD (voxels) | ASD (voxels) |",
            "| 4 | 81.25 | 68.42 | 4.25 | 1.00 |",
            "| `predictions-last` | 1 | 90.00 | 81.82 | 3.00 | 1.00 |",
            "| 20261130-000000 | 0 | autodiff&lt;flex&gt; | 0.1.0 | abc |",
            "semiseg train simcvd --config",
            "max_steps = 8",
            "![training curves](curves.svg)",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
        // one panel per curve column (loss, seg, grad_norm) and the evaluation panel with two
        // series; lr, step and seconds are not curves
        let svg = std::fs::read_to_string(root.join("curves.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(!md.contains("Best validation Dice") && !md.contains("## Validation"));
        for title in ["loss", "seg", "grad_norm", "test-set monitoring (%)"] {
            assert!(svg.contains(&format!(">\n{title}\n<")), "no panel {title}");
        }
        assert!(!svg.contains(">\nlr\n<") && !svg.contains(">\nseconds\n<"));
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), 5, "5 series");
        // written again, it is the same (rewritten, not appended)
        write_report(&run).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("report.md")).unwrap(), md);

        // a run with validation cases: best/ chosen on them is reported, with their table
        std::fs::create_dir_all(root.join("evaluations/validation")).unwrap();
        std::fs::write(
            root.join("evaluations/validation/summary.csv"),
            "step,dice,jaccard,hd95_voxel,asd_voxel\n2,0.75,0.6,6.0,2.0\n4,0.7,0.538462,7.0,2.2\n",
        )
        .unwrap();
        std::fs::write(
            root.join("best/state.json"),
            r#"{"step": 2, "best_dice": 0.75, "best_step": 2, "chosen_on_validation": true}"#,
        )
        .unwrap();
        let md = std::fs::read_to_string(write_report(&run).unwrap()).unwrap();
        for want in [
            "**Best validation Dice** 75.00% at step 2 (`best/`)",
            "## Validation during training (`evaluations/validation/summary.csv`; `best/` is",
            "| 2 | 75.00 | 60.00 | 6.00 | 2.00 |",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
        assert!(!md.contains("chosen on the test cases"));
    }
}
