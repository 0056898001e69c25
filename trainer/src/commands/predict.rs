//! `semiseg predict`: one scan in, one mask out, aligned with the scan.

use crate::cli::PredictArgs;
use crate::run_dir::RunDir;
use crate::simcvd::evaluate::segment;
use crate::simcvd::model_io::load_run_model;
use crate::with_backend;
use anyhow::bail;
use burn::module::AutodiffModule;
use semiseg::data::Grid;
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
    let run = RunDir::open(&a.model)?;
    let scan = read_nifti(&a.scan, &ReadOptions::default())?;
    let (canon, back) = Reorientation::to_canonical(&scan);
    let image = Grid::new(canon.data.clone(), canon.dims);
    let t0 = Instant::now();
    let labels = with_backend!(a.backend, |B, device| {
        let (cfg, model) = load_run_model::<B>(&run, a.checkpoint, &device)?;
        let net = model.valid().net;
        segment(&net, &image, cfg.patch, cfg.stride, &device)
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
