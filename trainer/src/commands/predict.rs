//! `semiseg predict`: one scan in, one mask out, aligned with the scan. The model is a run folder
//! or a model bundle (`semiseg export`), the file the browser page runs.

use crate::cli::PredictArgs;
use crate::run_dir::RunDir;
use crate::simcvd::evaluate::segment;
use crate::simcvd::model_io::load_run_model;
use crate::with_backend;
use anyhow::{bail, Context};
use burn::module::AutodiffModule;
use semiseg::data::Grid;
use semiseg::infer::ModelBundle;
use semiseg::volume::{read_nifti, write_nifti, DataType, ReadOptions, Reorientation};
use std::io::Write;
use std::time::Instant;

pub fn run(a: &PredictArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.output.exists() {
        bail!(
            "{} already exists; semiseg never overwrites: choose another -o",
            a.output.display()
        );
    }
    let bundle = if a.model.is_file() {
        let bytes = std::fs::read(&a.model)
            .with_context(|| format!("cannot read {}", a.model.display()))?;
        Some(ModelBundle::decode(&bytes).with_context(|| format!("{}", a.model.display()))?)
    } else {
        None
    };
    let run = match bundle {
        None => Some(RunDir::open(&a.model)?),
        Some(_) => None,
    };
    let scan = read_nifti(&a.scan, &ReadOptions::default())?;
    let (canon, back) = Reorientation::to_canonical(&scan);
    let image = Grid::new(canon.data.clone(), canon.dims);
    let t0 = Instant::now();
    let labels = with_backend!(a.backend, |B, device| {
        let (net, patch, stride) = match (&bundle, &run) {
            (Some(b), _) => (
                b.load_vnet::<B>(&device)?.valid(),
                b.card.patch,
                b.card.stride,
            ),
            (None, Some(run)) => {
                let (cfg, model) = load_run_model::<B>(run, a.checkpoint, &device)?;
                (model.valid().net, cfg.patch, cfg.stride)
            }
            (None, None) => unreachable!("a model is a bundle or a run"),
        };
        segment(&net, &image, patch, a.stride.unwrap_or(stride), &device)
    });
    let mask = back
        .undo(&labels.data.iter().map(|&v| v as f32).collect::<Vec<_>>())
        .map_err(anyhow::Error::msg)?;
    write_nifti(&a.output, &mask, DataType::Uint8)?;
    let voxels = labels.data.iter().filter(|&&v| v == 1).count();
    writeln!(
        out,
        "{}: {} foreground voxels ({:.1} ml), {:.1} s on {}",
        a.output.display(),
        voxels,
        voxels as f64 * scan.spacing().iter().product::<f64>() / 1000.0,
        t0.elapsed().as_secs_f64(),
        a.backend
    )?;
    Ok(())
}
