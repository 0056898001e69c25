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
use semiseg::infer::{ModelBundle, WindowPlan};
use semiseg::volume::{read_nifti, write_nifti, DataType, ReadOptions, Reorientation};
use std::io::Write;
use std::time::Instant;

enum Model {
    Bundle(Box<ModelBundle>),
    Run(RunDir),
}

pub fn run(a: &PredictArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.output.exists() {
        bail!(
            "{} already exists; semiseg never overwrites: choose another -o",
            a.output.display()
        );
    }
    // a bundle file (`semiseg export`) or a run folder
    let model = if a.model.is_file() {
        let bytes = std::fs::read(&a.model)
            .with_context(|| format!("cannot read {}", a.model.display()))?;
        Model::Bundle(Box::new(
            ModelBundle::decode(&bytes).with_context(|| format!("{}", a.model.display()))?,
        ))
    } else {
        Model::Run(RunDir::open(&a.model)?)
    };
    let scan = read_nifti(&a.scan, &ReadOptions::default())?;
    let (canon, back) = Reorientation::to_canonical(&scan);
    let image = Grid::new(canon.data.clone(), canon.dims);
    let t0 = Instant::now();
    let labels = with_backend!(a.backend, |B, device| {
        let (net, patch, stride) = match &model {
            Model::Bundle(b) => (
                b.load_vnet::<B>(&device)?.valid(),
                b.card.patch,
                b.card.stride,
            ),
            Model::Run(run) => {
                let (cfg, m) = load_run_model::<B>(run, a.checkpoint, &device)?;
                (m.valid().net, cfg.patch, cfg.stride)
            }
        };
        let stride = a.stride.unwrap_or(stride);
        WindowPlan::check_stride(patch, stride).map_err(anyhow::Error::msg)?;
        segment(&net, &image, patch, stride, &device)
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
