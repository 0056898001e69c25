//! `semiseg inspect SCAN`: the header summary (NIfTI or NRRD).

use crate::cli::InspectArgs;
use semiseg::volume::{is_nrrd, read_scan, AffineSource, Endian, NiftiVersion, ReadOptions};
use std::io::Write;

#[derive(serde::Serialize)]
struct Summary {
    file: String,
    format: String,
    dims: Vec<i64>,
    volumes: i64,
    spacing_mm: [f64; 3],
    dtype: String,
    scl_slope: f64,
    scl_inter: f64,
    orientation: String,
    affine_source: String,
    affine: [[f64; 4]; 4],
    min: f32,
    max: f32,
    mean: f64,
    description: String,
}

pub fn run(a: &InspectArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = ReadOptions {
        first_volume_of_4d: true,
        ..ReadOptions::default()
    };
    if a.scan.is_dir() {
        anyhow::bail!(
            "{} is a folder; give one scan (.nii or .nii.gz), or see a dataset folder with `semiseg dataset {}`",
            a.scan.display(),
            a.scan.display()
        );
    }
    let vol = read_scan(&a.scan, &opts)?;
    let mut magic = [0u8; 8];
    let nrrd = std::fs::File::open(&a.scan)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .is_ok_and(|n| is_nrrd(&magic[..n]));
    let h = &vol.header;
    let nd = h.dim[0].clamp(1, 7) as usize;
    let volumes: i64 = h.dim[4..=nd.max(3)].iter().product::<i64>().max(1);
    let (min, max) = vol.range().unwrap_or((0.0, 0.0));
    let mean = vol.data.iter().map(|&v| v as f64).sum::<f64>() / vol.len().max(1) as f64;
    let s = Summary {
        file: a.scan.display().to_string(),
        format: if nrrd {
            "NRRD (geometry from space directions and space origin, shown as RAS)".into()
        } else {
            format!(
                "NIfTI-{} {}, {}-endian",
                if h.version == NiftiVersion::One { 1 } else { 2 },
                if h.single_file {
                    "single file"
                } else {
                    ".hdr/.img pair"
                },
                if h.endian == Endian::Little {
                    "little"
                } else {
                    "big"
                }
            )
        },
        dims: h.dim[1..=nd].to_vec(),
        volumes,
        spacing_mm: vol.spacing(),
        dtype: vol.source_dtype.to_string(),
        scl_slope: h.scl_slope,
        scl_inter: h.scl_inter,
        orientation: vol.orientation(),
        affine_source: match vol.affine_source {
            _ if nrrd => "the NRRD header".into(),
            AffineSource::Sform => format!("sform, code {}", h.sform_code),
            AffineSource::Qform => format!("qform, code {}", h.qform_code),
            AffineSource::Pixdim => "pixdim (no sform or qform set)".into(),
        },
        affine: vol.affine,
        min,
        max,
        mean,
        description: if nrrd { String::new() } else { h.description() },
    };
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
    let dims = s
        .dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ");
    writeln!(out, "file         {}", s.file)?;
    writeln!(out, "format       {}", s.format)?;
    if volumes > 1 {
        writeln!(
            out,
            "dimensions   {dims} ({volumes} volumes; statistics below are of the first)"
        )?;
    } else {
        writeln!(out, "dimensions   {dims}")?;
    }
    let sp = s.spacing_mm;
    writeln!(
        out,
        "voxel size   {:.4} x {:.4} x {:.4} mm",
        sp[0], sp[1], sp[2]
    )?;
    let scaling = if !nrrd && h.scl_slope != 0.0 && h.scl_slope.is_finite() {
        format!(" (scl_slope {}, scl_inter {})", h.scl_slope, h.scl_inter)
    } else {
        String::new()
    };
    writeln!(out, "data type    {}{scaling}", s.dtype)?;
    writeln!(
        out,
        "orientation  {} (affine from {})",
        s.orientation, s.affine_source
    )?;
    for (i, row) in s.affine.iter().enumerate() {
        let label = if i == 0 { "affine" } else { "" };
        writeln!(
            out,
            "{label:<12} [{:>10.4} {:>10.4} {:>10.4} {:>10.4} ]",
            row[0], row[1], row[2], row[3]
        )?;
    }
    writeln!(
        out,
        "intensity    min {:.6}, max {:.6}, mean {:.6}",
        s.min, s.max, s.mean
    )?;
    if !s.description.is_empty() {
        writeln!(out, "description  {}", s.description)?;
    }
    Ok(())
}
