//! `semiseg compare RUN...`: runs side by side, for the paper's comparisons and ablations (SimCVD
//! against its supervised baseline, 16 against 8 labels, a loss switched off). For each run: what
//! its `config.toml` changes against the first run's, how far it trained, its evaluation at one
//! step (the last step every run evaluated, or `--step`), its headline metric at every evaluated
//! step, and the `eval-model` results in its folder. Every number is read from the runs' files
//! (as in the report, run_report.rs); nothing is recomputed.

use crate::run_dir::RunDir;
use crate::run_info::RunKind;
use crate::run_report::{
    data_counts, method_name, model_evaluations, read_config, ModelEvaluation, Table,
};
use anyhow::bail;
use comfy_table::presets::ASCII_MARKDOWN;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which kind of run: the two trainers write their evaluations differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `evaluations/summary.csv`, by step (Dice and Jaccard as fractions, distances in voxels).
    Simcvd,
    /// `epochs.csv`, by epoch (held-out recall@1 in %).
    Amvlm,
    /// `epochs.csv`, by epoch (validation Dice and IoU as fractions).
    AmvlmSeg,
}

impl Kind {
    fn of(run: &RunDir) -> anyhow::Result<Kind> {
        Ok(match run.kind()? {
            RunKind::Simcvd => Kind::Simcvd,
            RunKind::Amvlm => Kind::Amvlm,
            RunKind::AmvlmSeg => Kind::AmvlmSeg,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Simcvd => "SimCVD/V-Net",
            Kind::Amvlm => "AMVLM",
            Kind::AmvlmSeg => "AMVLM text-guided segmentation",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Simcvd => "step",
            Kind::Amvlm | Kind::AmvlmSeg => "epoch",
        }
    }
    /// What the evaluations during training are: SimCVD's are of the test cases, monitoring only.
    fn evaluations(self) -> &'static str {
        match self {
            Kind::Simcvd => "Test-set monitoring during training (no weights are chosen on it)",
            Kind::Amvlm => "Held-out evaluation during training",
            Kind::AmvlmSeg => "Validation during training (best/ is chosen on it)",
        }
    }
    fn table(self) -> &'static str {
        match self {
            Kind::Simcvd => "evaluations/summary.csv",
            Kind::Amvlm | Kind::AmvlmSeg => "epochs.csv",
        }
    }
    /// (column, heading, scale): the first is the headline metric of the by-step table.
    fn metrics(self) -> &'static [(&'static str, &'static str, f64)] {
        match self {
            Kind::Simcvd => &[
                ("dice", "Dice %", 100.0),
                ("jaccard", "Jaccard %", 100.0),
                ("hd95_voxel", "95HD (voxels)", 1.0),
                ("asd_voxel", "ASD (voxels)", 1.0),
            ],
            Kind::Amvlm => &[
                ("r1_i2t", "R@1 image-to-text %", 1.0),
                ("r1_t2i", "R@1 text-to-image %", 1.0),
                ("mean_loss", "mean loss", 1.0),
            ],
            Kind::AmvlmSeg => &[
                ("val_dice", "validation Dice %", 100.0),
                ("val_iou", "validation IoU %", 100.0),
                ("mean_loss", "mean loss", 1.0),
            ],
        }
    }
}

/// One run, as read from its folder.
struct Run {
    path: PathBuf,
    name: String,
    kind: Kind,
    config: toml::Table,
    /// "8 labeled, 72 unlabeled, 20 test"
    data: String,
    /// the last step (SimCVD) or epoch (AMVLM) trained
    trained: Option<f64>,
    /// evaluations during training, by `kind.key()`
    evals: Option<Table>,
    /// `RUN/*/metrics.csv` of `eval-model`: (folder, result)
    model_evals: Vec<(String, ModelEvaluation)>,
}

impl Run {
    fn read(path: &Path) -> anyhow::Result<Run> {
        let dir = RunDir::open(path)?;
        let (_, config) = read_config(&dir)?;
        let kind = Kind::of(&dir)?;
        let manifest: Option<serde_json::Value> = std::fs::read(dir.manifest())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let evals = Table::read(&dir.root.join(kind.table()))?;
        let trained = match kind {
            Kind::Simcvd => Table::read(&dir.train_log())?
                .and_then(|t| t.column("step"))
                .and_then(|v| v.last().copied()),
            Kind::Amvlm | Kind::AmvlmSeg => evals
                .as_ref()
                .and_then(|t| t.column("epoch"))
                .and_then(|v| v.last().copied()),
        };
        let model_evals = model_evaluations(&dir)?;
        let name = std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| path.display().to_string());
        let data = manifest
            .map(|m| data_counts(&m, &config).join(", "))
            .unwrap_or_default();
        Ok(Run {
            path: path.into(),
            name,
            kind,
            config,
            data,
            trained,
            evals,
            model_evals,
        })
    }

    fn method(&self) -> String {
        method_name(&self.config).into()
    }

    /// The steps (epochs) this run evaluated, in order.
    fn eval_keys(&self) -> Vec<u64> {
        self.evals
            .as_ref()
            .and_then(|t| t.column(self.kind.key()))
            .unwrap_or_default()
            .into_iter()
            .filter(|k| k.is_finite() && *k >= 0.0)
            .map(|k| k as u64)
            .collect()
    }

    /// The evaluation row at `key`, as the kind's metrics (NaN where a cell is missing), in the
    /// tables' units (`scaled`, e.g. Dice in %) or the file's.
    fn eval_at(&self, key: u64, scaled: bool) -> Option<Vec<f64>> {
        let t = self.evals.as_ref()?;
        let keys = t.column(self.kind.key())?;
        let i = keys.iter().rposition(|&k| k == key as f64)?;
        Some(
            self.kind
                .metrics()
                .iter()
                .map(|(c, _, scale)| {
                    let s = if scaled { *scale } else { 1.0 };
                    t.column(c).map_or(f64::NAN, |v| v[i] * s)
                })
                .collect(),
        )
    }

    /// `key = value` for each config key whose value differs from `reference`'s.
    fn differences(&self, reference: &toml::Table) -> Vec<String> {
        let keys: BTreeSet<&String> = self.config.keys().chain(reference.keys()).collect();
        keys.into_iter()
            .filter(|k| self.config.get(*k) != reference.get(*k))
            .map(|k| match self.config.get(k) {
                Some(toml::Value::String(s)) => format!("{k}={s}"),
                Some(v) => format!("{k}={v}"),
                None => format!("{k} unset"),
            })
            .collect()
    }
}

fn table(header: Vec<String>) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(ASCII_MARKDOWN);
    t.set_header(header);
    t
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        String::new()
    }
}

/// Runs of one kind, read from their folders.
pub struct Comparison {
    runs: Vec<Run>,
    kind: Kind,
}

impl Comparison {
    pub fn read(paths: &[PathBuf]) -> anyhow::Result<Comparison> {
        let runs = paths
            .iter()
            .map(|p| Run::read(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let Some(first) = runs.first() else {
            bail!("name at least one run folder, e.g. `semiseg compare runs/a runs/b`");
        };
        let kind = first.kind;
        if let Some(other) = runs.iter().find(|r| r.kind != kind) {
            bail!(
                "{} is a {} run and {} an {} run: their evaluations measure different things; \
                 compare runs of one kind",
                first.path.display(),
                kind.name(),
                other.path.display(),
                other.kind.name()
            );
        }
        // runs of the same folder name (e.g. `a/run`, `b/run`) go by their paths as given
        let mut runs = runs;
        let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
        for r in &mut runs {
            if names.iter().filter(|n| **n == r.name).count() > 1 {
                r.name = r.path.display().to_string();
            }
        }
        Ok(Comparison { runs, kind })
    }

    /// The comparison as Markdown; `at` picks the step (epoch) of the evaluation table instead of
    /// the last one every run evaluated.
    pub fn markdown(&self, at: Option<u64>) -> anyhow::Result<String> {
        let mut md = self.runs_table();
        md += &self.at_one_step(at)?;
        md += &self.by_step();
        md += &self.model_evals();
        Ok(md)
    }

    /// What each run is: method, data, seed, progress, config differences from the first run.
    fn runs_table(&self) -> String {
        let key = self.kind.key();
        let total_key = match self.kind {
            Kind::Simcvd => "max_steps",
            Kind::Amvlm | Kind::AmvlmSeg => "epochs",
        };
        let heads = [
            "run",
            "method",
            "data",
            "seed",
            "trained",
            "config differences",
        ];
        let mut t = table(heads.map(String::from).to_vec());
        for (i, r) in self.runs.iter().enumerate() {
            let total = r.config.get(total_key).and_then(|v| v.as_integer());
            let trained = match (r.trained, total) {
                (Some(d), Some(t)) => format!("{d:.0} of {t} {key}s"),
                (Some(d), None) => format!("{d:.0} {key}s"),
                (None, _) => "not started".into(),
            };
            let diff = match r.differences(&self.runs[0].config) {
                _ if i == 0 => "(reference)".to_string(),
                d if d.is_empty() => "none".into(),
                d => d.join(", "),
            };
            t.add_row(vec![
                r.name.clone(),
                r.method(),
                r.data.clone(),
                r.config
                    .get("seed")
                    .map_or(String::new(), |s| s.to_string()),
                trained,
                diff,
            ]);
        }
        format!("Runs (config differences are against the first run's config.toml):\n\n{t}\n\n")
    }

    /// Every run's evaluation at `at`, or at the last step all evaluated (each run's last when
    /// there is none).
    fn at_one_step(&self, at: Option<u64>) -> anyhow::Result<String> {
        let (kind, key) = (self.kind, self.kind.key());
        let evaluated: Vec<Vec<u64>> = self.runs.iter().map(Run::eval_keys).collect();
        let common = evaluated
            .iter()
            .map(|k| k.iter().copied().collect::<BTreeSet<u64>>())
            .reduce(|a, b| a.intersection(&b).copied().collect())
            .unwrap_or_default();
        let chosen = match at {
            Some(s) => {
                for (r, keys) in self.runs.iter().zip(&evaluated) {
                    if !keys.contains(&s) {
                        bail!(
                            "{} has no evaluation at {key} {s} in {}; it has {}",
                            r.path.display(),
                            kind.table(),
                            list_or_none(keys)
                        );
                    }
                }
                Some((s, format!("{key} {s}")))
            }
            None => common
                .last()
                .map(|&s| (s, format!("{key} {s}, the last {key} every run evaluated"))),
        };
        let mut heads = vec!["run".to_string()];
        heads.extend(kind.metrics().iter().map(|(_, h, _)| h.to_string()));
        let (title, t) = match chosen {
            Some((s, what)) => {
                let mut t = table(heads);
                for r in &self.runs {
                    let mut row = vec![r.name.clone()];
                    row.extend(
                        r.eval_at(s, true)
                            .unwrap_or_default()
                            .into_iter()
                            .map(number),
                    );
                    t.add_row(row);
                }
                (
                    format!("{} at {what} ({})", kind.evaluations(), kind.table()),
                    t,
                )
            }
            None => {
                heads.insert(1, key.to_string());
                let mut t = table(heads);
                for (r, keys) in self.runs.iter().zip(&evaluated) {
                    let mut row = vec![r.name.clone()];
                    match keys.last() {
                        Some(&s) => {
                            row.push(s.to_string());
                            row.extend(
                                r.eval_at(s, true)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(number),
                            );
                        }
                        None => row.push("none yet".into()),
                    }
                    t.add_row(row);
                }
                let title = format!(
                    "No {key} was evaluated by every run ({}); each run's last evaluation",
                    kind.table()
                );
                (title, t)
            }
        };
        Ok(format!("{title}:\n\n{t}\n\n"))
    }

    /// The headline metric (the kind's first) at every step any run evaluated.
    fn by_step(&self) -> String {
        let (kind, key) = (self.kind, self.kind.key());
        let all: BTreeSet<u64> = self.runs.iter().flat_map(Run::eval_keys).collect();
        if all.len() < 2 {
            return String::new();
        }
        let (col, head, _) = kind.metrics()[0];
        let mut heads = vec!["run".to_string()];
        heads.extend(all.iter().map(|s| s.to_string()));
        let mut t = table(heads);
        for r in &self.runs {
            let mut row = vec![r.name.clone()];
            row.extend(
                all.iter()
                    .map(|&s| r.eval_at(s, true).map_or(String::new(), |v| number(v[0]))),
            );
            t.add_row(row);
        }
        format!("{head} by {key} (`{col}` of {}):\n\n{t}\n\n", kind.table())
    }

    /// The `eval-model` results in the run folders (RUN/*/metrics.csv).
    fn model_evals(&self) -> String {
        if self.runs.iter().all(|r| r.model_evals.is_empty()) {
            return String::new();
        }
        let heads = [
            "run",
            "folder",
            "cases",
            "Dice %",
            "Jaccard %",
            "95HD",
            "ASD",
        ];
        let mut t = table(heads.map(String::from).to_vec());
        for r in &self.runs {
            for (folder, res) in &r.model_evals {
                let mut row = vec![r.name.clone(), folder.clone()];
                match res {
                    Ok((m, n)) => row.extend([
                        n.to_string(),
                        number(100.0 * m.dice),
                        number(100.0 * m.jaccard),
                        number(m.hd95),
                        number(m.asd),
                    ]),
                    Err(e) => row.push(format!("unreadable: {e}")),
                }
                t.add_row(row);
            }
        }
        format!(
            "Test-set evaluations of `semiseg eval-model` (RUN/*/metrics.csv; distances in each \
             file's unit, voxels unless --spacing mm):\n\n{t}\n"
        )
    }

    /// Every evaluation of every run as CSV: run, method, seed, step (epoch), then the metrics
    /// as the runs' files have them (Dice as a fraction, distances in voxels).
    pub fn csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head = vec!["run", "method", "seed", self.kind.key()];
        head.extend(self.kind.metrics().iter().map(|(c, _, _)| *c));
        w.write_record(&head)?;
        for r in &self.runs {
            let seed = r
                .config
                .get("seed")
                .map_or(String::new(), |s| s.to_string());
            for s in r.eval_keys() {
                let mut row = vec![r.name.clone(), r.method(), seed.clone(), s.to_string()];
                row.extend(
                    r.eval_at(s, false)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|x| {
                            if x.is_finite() {
                                x.to_string()
                            } else {
                                String::new()
                            }
                        }),
                );
                w.write_record(&row)?;
            }
        }
        Ok(w.into_inner()?)
    }
}

fn list_or_none(keys: &[u64]) -> String {
    if keys.is_empty() {
        "none yet".into()
    } else {
        keys.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SimCVD run folder with `config`, a train log to `trained` and `summary` evaluations.
    fn run(root: &Path, config: &str, trained: u32, summary: &str) -> PathBuf {
        std::fs::create_dir_all(root.join("evaluations")).unwrap();
        std::fs::write(root.join("config.toml"), config).unwrap();
        std::fs::write(
            root.join("manifest.json"),
            r#"{"labeled": [{"id": "a"}], "unlabeled": [{"id": "b"}, {"id": "c"}], "test": [{"id": "t"}]}"#,
        )
        .unwrap();
        let log: String = (1..=trained).map(|s| format!("{s},0.5,1.0\n")).collect();
        std::fs::write(
            root.join("train_log.csv"),
            format!("step,loss,seconds\n{log}"),
        )
        .unwrap();
        std::fs::write(
            root.join("evaluations/summary.csv"),
            format!("step,dice,jaccard,hd95_voxel,asd_voxel\n{summary}"),
        )
        .unwrap();
        root.into()
    }

    const BASE: &str = "method = \"simcvd\"\nseed = 5\nmax_steps = 300\nuse_pd = true\n";

    #[test]
    fn runs_side_by_side() {
        let d = tempfile::tempdir().unwrap();
        let a = run(
            &d.path().join("simcvd"),
            BASE,
            300,
            "100,0.5,0.333333,10.0,2.5\n200,0.75,0.6,8.0,2.0\n300,0.8125,0.684211,4.25,1.0\n",
        );
        let b = run(
            &d.path().join("sup"),
            "method = \"supervised\"\nseed = 5\nmax_steps = 300\n",
            250,
            "100,0.25,0.142857,20.0,6.0\n200,0.5,0.333333,12.5,3.0\n",
        );
        std::fs::create_dir_all(a.join("predictions-last")).unwrap();
        std::fs::write(
            a.join("predictions-last/metrics.csv"),
            "case,dice,jaccard,hd95_voxel,asd_voxel,assd_voxel,hd95_monai_voxel,empty\n\
             t,0.9,0.818182,3.0,1.0,1.0,3.0,\nmean,0.9,0.818182,3.0,1.0,1.0,3.0,\n",
        )
        .unwrap();
        let c = Comparison::read(&[a.clone(), b.clone()]).unwrap();
        let md = c.markdown(None).unwrap();
        let lines: Vec<String> = md
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for want in [
            "| simcvd | simcvd | 1 labeled, 2 unlabeled, 1 test | 5 | 300 of 300 steps | (reference) |",
            // use_pd is set in the first run's config only
            "| sup | supervised | 1 labeled, 2 unlabeled (unused), 1 test | 5 | 250 of 300 steps | method=supervised, use_pd unset |",
            "Test-set monitoring during training (no weights are chosen on it) at step 200, the last step every run evaluated (evaluations/summary.csv):",
            "| simcvd | 75.00 | 60.00 | 8.00 | 2.00 |",
            "| sup | 50.00 | 33.33 | 12.50 | 3.00 |",
            "| run | 100 | 200 | 300 |",
            "| simcvd | 50.00 | 75.00 | 81.25 |",
            "| sup | 25.00 | 50.00 | |",
            "| simcvd | predictions-last | 1 | 90.00 | 81.82 | 3.00 | 1.00 |",
        ] {
            assert!(lines.iter().any(|l| l == want), "no line {want:?} in\n{md}");
        }
        // --step picks another step; one a run lacks is an error that lists what it has
        let at100 = c.markdown(Some(100)).unwrap();
        assert!(
            at100.contains("at step 100 (") && at100.contains("| 25.00 "),
            "{at100}"
        );
        let err = c.markdown(Some(300)).unwrap_err().to_string();
        assert!(
            err.contains("no evaluation at step 300") && err.contains("it has 100, 200"),
            "{err}"
        );
        // the CSV has every evaluation, values as the files have them
        let csv = String::from_utf8(c.csv().unwrap()).unwrap();
        assert_eq!(
            csv.lines().collect::<Vec<_>>(),
            [
                "run,method,seed,step,dice,jaccard,hd95_voxel,asd_voxel",
                "simcvd,simcvd,5,100,0.5,0.333333,10,2.5",
                "simcvd,simcvd,5,200,0.75,0.6,8,2",
                "simcvd,simcvd,5,300,0.8125,0.684211,4.25,1",
                "sup,supervised,5,100,0.25,0.142857,20,6",
                "sup,supervised,5,200,0.5,0.333333,12.5,3",
            ]
        );
    }

    #[test]
    fn no_common_step_same_names_and_mixed_kinds() {
        let d = tempfile::tempdir().unwrap();
        let a = run(
            &d.path().join("x/run"),
            BASE,
            100,
            "100,0.5,0.333333,10.0,2.5\n",
        );
        let b = run(&d.path().join("y/run"), BASE, 50, "");
        let md = Comparison::read(&[a.clone(), b.clone()])
            .unwrap()
            .markdown(None)
            .unwrap();
        assert!(md.contains("No step was evaluated by every run"), "{md}");
        assert!(md.contains("| none yet "), "{md}");
        // the same folder name twice: the paths tell them apart
        assert!(md.contains(&format!("| {} ", a.display())), "{md}");
        assert!(md.contains("| none "), "identical configs: {md}");
        // an AMVLM run (no method in its config) is not compared with a V-Net run
        let m = d.path().join("amvlm");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.toml"), "seed = 5\nepochs = 3\n").unwrap();
        let err = Comparison::read(&[a, m]).err().unwrap().to_string();
        assert!(err.contains("compare runs of one kind"), "{err}");
        let err = Comparison::read(&[d.path().join("nothing")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a semiseg run folder"), "{err}");
    }
}
