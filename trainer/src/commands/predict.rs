//! `semiseg predict`: one scan in, one mask out, aligned with the scan. The model is a run folder
//! or a model bundle (`semiseg export`), the file the browser page runs.

use crate::cli::PredictArgs;
use crate::output_file::{check_new_file, create_parent};
use crate::simcvd::evaluate::segment;
use crate::simcvd::model_io::ModelSource;
use crate::with_backend;
use semiseg::data::Grid;
use semiseg::infer::{check_normalised, keep_largest_component, zscore_scan, WindowPlan};
use semiseg::volume::{read_scan, write_nifti, DataType, ReadOptions, Reorientation};
use std::io::Write;
use std::time::Instant;

pub fn run(a: &PredictArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    use super::predict_2d::Source2d;
    // a bundle file (`semiseg export`) or a run folder, 3D or 2D
    let model = ModelSource::open(&a.model)?;
    let model = match model {
        ModelSource::Run(run) if run.kind()? == crate::run_info::RunKind::AmvlmSeg => {
            return super::predict_2d::run(a, Source2d::Run(run), out);
        }
        ModelSource::Bundle(b) if b.is_2d() => {
            return super::predict_2d::run(a, Source2d::Bundle(b), out);
        }
        other => other,
    };
    if a.prompt.is_some() {
        anyhow::bail!(
            "--prompt needs a text-guided 2D model (`semiseg train amvlm-seg`); {} is a 3D model",
            a.model.display()
        );
    }
    check_new_file(&a.output, "-o", None)?;
    let (patch, stride) = model.patch_stride()?;
    let stride = a.stride.unwrap_or(stride);
    WindowPlan::check_stride(patch, stride).map_err(anyhow::Error::msg)?;
    let scan = read_scan(&a.scan, &ReadOptions::default())?;
    let (canon, back) = Reorientation::to_canonical(&scan);
    let fit_note = WindowPlan::fit(canon.dims, patch)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.scan.display()))?;
    let voxels = if a.zscore {
        zscore_scan(&canon.data)
    } else {
        check_normalised(&canon.data).map(|_| canon.data.clone())
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", a.scan.display()))?;
    let image = Grid::new(voxels, canon.dims);
    let t0 = Instant::now();
    let backend = crate::backend::select(a.backend)?;
    let mut labels = with_backend!(backend.kind, |B, device| {
        let net = model.load_vnet::<B>(a.checkpoint, &device)?;
        segment(&net, &image, patch, stride, &device)
    });
    let cleaned = a
        .largest_component
        .then(|| keep_largest_component(&mut labels, 1));
    let mask = back
        .undo(&labels.data.iter().map(|&v| v as f32).collect::<Vec<_>>())
        .map_err(anyhow::Error::msg)?;
    create_parent(&a.output)?;
    write_nifti(&a.output, &mask, DataType::Uint8)?;
    let voxels = labels.data.iter().filter(|&&v| v == 1).count();
    writeln!(
        out,
        "{}: {} foreground voxels ({:.1} ml), {:.1} s on {}",
        a.output.display(),
        voxels,
        voxels as f64 * scan.spacing().iter().product::<f64>() / 1000.0,
        t0.elapsed().as_secs_f64(),
        backend
    )?;
    if let Some(note) = fit_note {
        writeln!(out, "note: {note}")?;
    }
    if let Some(c) = cleaned {
        writeln!(
            out,
            "--largest-component: kept the largest of {} component(s) ({} voxels), removed {} voxels",
            c.components,
            c.kept,
            c.removed
        )?;
    }
    Ok(())
}
