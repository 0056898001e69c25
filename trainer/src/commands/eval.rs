//! `semiseg eval --pred DIR --gt DIR`: per-case and mean Dice, Jaccard, 95HD, ASD (spec B7).

use crate::cli::{EvalArgs, SpacingUnit};
use crate::output_file::{check_new_file, create_parent};
use crate::report::{print_table, write_csv};
use anyhow::{bail, Context};
use rayon::prelude::*;
use semiseg::data::{case_id, read_list, scans_in, Grid};
use semiseg::infer::keep_largest_component;
use semiseg::metrics::{evaluate_case, mean_metrics, CaseMetrics};
use semiseg::volume::{read_scan, ReadOptions, Reorientation, Volume};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn run(a: &EvalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let preds = index(&a.pred, "--pred")?;
    let gts = index(&a.gt, "--gt")?;
    let ids: Vec<String> = match &a.cases {
        Some(list) => {
            let ids = read_list(list)?;
            let missing = |m: &BTreeMap<String, PathBuf>| -> Vec<String> {
                ids.iter()
                    .filter(|id| !m.contains_key(*id))
                    .cloned()
                    .collect()
            };
            let (mp, mg) = (missing(&preds), missing(&gts));
            if !mp.is_empty() {
                bail!(
                    "{} case(s) of {} have no prediction in {}: {}",
                    mp.len(),
                    list.display(),
                    a.pred.display(),
                    sample(&mp)
                );
            }
            if !mg.is_empty() {
                bail!(
                    "{} case(s) of {} have no ground truth in {}: {}",
                    mg.len(),
                    list.display(),
                    a.gt.display(),
                    sample(&mg)
                );
            }
            ids
        }
        None => {
            let orphans: Vec<String> = preds
                .keys()
                .filter(|id| !gts.contains_key(*id))
                .cloned()
                .collect();
            if !orphans.is_empty() {
                bail!(
                    "{} prediction(s) in {} have no ground truth in {} (matched by file name without .nii/.nii.gz): {}",
                    orphans.len(),
                    a.pred.display(),
                    a.gt.display(),
                    sample(&orphans)
                );
            }
            // a case left out would make the mean one over fewer cases without a word
            let unpredicted: Vec<String> = gts
                .keys()
                .filter(|id| !preds.contains_key(*id))
                .cloned()
                .collect();
            if !unpredicted.is_empty() {
                bail!(
                    "{} ground-truth case(s) in {} have no prediction in {}: {}; predict them, or \
                     score a subset with --cases LIST",
                    unpredicted.len(),
                    a.gt.display(),
                    a.pred.display(),
                    sample(&unpredicted)
                );
            }
            preds.keys().cloned().collect()
        }
    };
    if let Some(csv) = &a.csv {
        check_new_file(csv, "--csv", Some(a.overwrite))?;
        // --overwrite must never replace one of the masks being scored
        if let Ok(c) = csv.canonicalize() {
            let input = preds
                .values()
                .chain(gts.values())
                .find(|p| p.canonicalize().is_ok_and(|p| p == c));
            if let Some(p) = input {
                bail!(
                    "--csv {} is {}, one of the masks being scored; choose another file",
                    csv.display(),
                    p.display()
                );
            }
        }
    }

    let scored: Vec<(String, CaseMetrics, Option<String>)> = ids
        .par_iter()
        .map(|id| {
            let (m, soft) = score(&preds[id], &gts[id], a).with_context(|| format!("case {id}"))?;
            let name = preds[id]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| id.clone());
            Ok((name, m, soft))
        })
        .collect::<anyhow::Result<_>>()?;
    let soft: Vec<&String> = scored.iter().filter_map(|(_, _, s)| s.as_ref()).collect();
    if let Some(first) = soft.first() {
        writeln!(
            out,
            "note: {} of {} case(s) hold values other than 0 and 1 ({first}); a voxel counts as \
             the structure where its value is above 0.5 (probabilities are thresholded at 0.5, \
             negative values are background)",
            soft.len(),
            scored.len()
        )?;
    }
    let results: Vec<(String, CaseMetrics)> =
        scored.into_iter().map(|(name, m, _)| (name, m)).collect();
    let metrics: Vec<CaseMetrics> = results.iter().map(|(_, m)| *m).collect();
    let mean = mean_metrics(&metrics).context("no cases to evaluate")?;

    if a.largest_component {
        writeln!(
            out,
            "--largest-component: each prediction keeps only its largest connected component"
        )?;
    }
    print_table(out, &results, &mean, a.spacing)?;
    if let Some(csv) = &a.csv {
        create_parent(csv)?;
        write_csv(csv, &results, &mean, a.spacing)
            .with_context(|| format!("writing {}", csv.display()))?;
        writeln!(out, "wrote {}", csv.display())?;
    }
    Ok(())
}

/// Scans of a folder by case id.
fn index(dir: &Path, flag: &str) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    if !dir.is_dir() {
        bail!("{flag} {}: not a folder", dir.display());
    }
    let mut map = BTreeMap::new();
    for p in scans_in(dir)? {
        let id = case_id(&p);
        if let Some(prev) = map.insert(id.clone(), p.clone()) {
            bail!(
                "{} and {} are both case {id:?}; keep one of them",
                prev.display(),
                p.display()
            );
        }
    }
    if map.is_empty() {
        bail!("{flag} {}: no .nii or .nii.gz files", dir.display());
    }
    Ok(map)
}

fn sample(ids: &[String]) -> String {
    let mut s = ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 5 {
        s.push_str(", ...");
    }
    s
}

/// Where a mask holds values other than 0 and 1 (probabilities, negative values): a note for the
/// user, since such a mask is scored at `> 0.5`.
fn soft_values(vol: &Volume, path: &Path) -> Option<String> {
    let odd = |v: &f32| *v != 0.0 && *v != 1.0;
    let first = vol.data.iter().find(|v| odd(v))?;
    let count = vol.data.iter().filter(|v| odd(v)).count();
    Some(format!(
        "{}: {count} voxel(s), e.g. {first}",
        path.file_name().unwrap_or_default().to_string_lossy()
    ))
}

/// A mask on the canonical grid, checked to be binary unless a label is chosen.
fn mask(vol: &Volume, path: &Path, label: Option<u32>) -> anyhow::Result<Vec<bool>> {
    if let Some(l) = label {
        return Ok(vol.data.iter().map(|&v| v.round() == l as f32).collect());
    }
    vol.binary_mask().map_err(|labels| {
        anyhow::anyhow!(
            "{} has label values above 1 ({:?}); it is not a binary mask: choose the structure with --label N",
            path.display(),
            labels
        )
    })
}

/// A case's metrics, and a note if either mask is not all 0 and 1 (scored at `> 0.5`).
fn score(
    pred_path: &Path,
    gt_path: &Path,
    a: &EvalArgs,
) -> anyhow::Result<(CaseMetrics, Option<String>)> {
    let (unit, label) = (a.spacing, a.label);
    let opts = ReadOptions::default();
    let (pred, _) = Reorientation::to_canonical(&read_scan(pred_path, &opts)?);
    let (gt, _) = Reorientation::to_canonical(&read_scan(gt_path, &opts)?);
    gt.aligned_with(&pred).map_err(|why| {
        anyhow::anyhow!(
            "prediction {} and ground truth {}: {why}",
            pred_path.display(),
            gt_path.display()
        )
    })?;
    let spacing = match unit {
        SpacingUnit::Voxel => [1.0; 3],
        SpacingUnit::Mm => gt.spacing(),
    };
    let mut p = mask(&pred, pred_path, label)?;
    if a.largest_component {
        let mut grid = Grid::new(p.iter().map(|&v| u8::from(v)).collect(), gt.dims);
        keep_largest_component(&mut grid, 1);
        p = grid.data.iter().map(|&v| v == 1).collect();
    }
    let g = mask(&gt, gt_path, label)?;
    let soft = match label {
        Some(_) => None,
        None => soft_values(&pred, pred_path).or_else(|| soft_values(&gt, gt_path)),
    };
    Ok((evaluate_case(&p, &g, gt.dims, spacing), soft))
}
