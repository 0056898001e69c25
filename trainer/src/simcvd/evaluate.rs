//! Evaluation of a V-Net on whole volumes: sliding window (B6), metrics in voxels (B7), and the
//! predicted masks written as NIfTI on each input's own grid.

use super::data::LoadedCase;
use anyhow::Context;
use rayon::prelude::*;
use semiseg::data::Grid;
use semiseg::infer::{keep_largest_component, sliding_window_predict};
use semiseg::metrics::{evaluate_case, CaseMetrics};
use semiseg::nets::VNet;
use semiseg::volume::{encode_nifti, DataType};
use std::path::Path;

/// Windows per forward pass during evaluation.
pub const EVAL_BATCH: usize = 2;

/// Segment one volume; labels on the canonical grid.
pub fn segment<B: burn::tensor::backend::Backend>(
    net: &VNet<B>,
    image: &Grid<f32>,
    patch: [usize; 3],
    stride: [usize; 3],
    device: &B::Device,
) -> Grid<u8> {
    sliding_window_predict(
        net,
        image,
        patch,
        stride,
        EVAL_BATCH,
        device,
        &mut |_, _| {},
    )
    .0
}

/// Segment and score every case; with `out`, write `<id>.nii.gz` masks there (the folder must be
/// new or empty of those names: nothing is overwritten). With `largest_component`, each mask keeps
/// only its largest connected component before it is scored and written.
#[allow(clippy::too_many_arguments)]
pub fn evaluate<B: burn::tensor::backend::Backend>(
    net: &VNet<B>,
    cases: &[LoadedCase],
    patch: [usize; 3],
    stride: [usize; 3],
    largest_component: bool,
    device: &B::Device,
    out: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<Vec<(String, CaseMetrics)>> {
    let mut preds = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let mut p = segment(net, &c.image, patch, stride, device);
        if largest_component {
            keep_largest_component(&mut p, 1);
        }
        preds.push(p);
        progress(i + 1, cases.len());
    }
    let results: Vec<(String, CaseMetrics)> = cases
        .par_iter()
        .zip(&preds)
        .map(|(c, p)| {
            let label = c.label.as_ref().expect("evaluation cases carry labels");
            let pm: Vec<bool> = p.data.iter().map(|&v| v == 1).collect();
            let gm: Vec<bool> = label.data.iter().map(|&v| v == 1).collect();
            (c.id.clone(), evaluate_case(&pm, &gm, p.dims, [1.0; 3]))
        })
        .collect();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        for (c, p) in cases.iter().zip(&preds) {
            write_mask(dir, &c.id, c, p)?;
        }
    }
    Ok(results)
}

/// Write a predicted mask for `case` on its original grid as `dir/<id>.nii.gz` (uint8).
pub fn write_mask(
    dir: &Path,
    id: &str,
    case: &LoadedCase,
    labels: &Grid<u8>,
) -> anyhow::Result<()> {
    let vol = case
        .back
        .undo(&labels.data.iter().map(|&v| v as f32).collect::<Vec<_>>())
        .map_err(anyhow::Error::msg)?;
    let bytes = encode_nifti(&vol, DataType::Uint8, true)?;
    let path = dir.join(format!("{id}.nii.gz"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("{}: not overwriting an existing file", path.display()))?;
    std::io::Write::write_all(&mut f, &bytes)?;
    Ok(())
}
