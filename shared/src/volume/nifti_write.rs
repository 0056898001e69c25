//! Writing a [`Volume`] as NIfTI, in memory (the browser's download) or to a new file. The header
//! the volume came with is written back (its version, xforms, units and description), so a mask
//! written for a scan opens aligned with it in any viewer. Output is always little-endian, with no
//! extensions and no scaling.

use super::dtype::DataType;
use super::header::{NiftiHeader, NiftiVersion, NIFTI1_SIZE, NIFTI2_MAGIC_TAIL, NIFTI2_SIZE};
use super::{Volume, VolumeError};
use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::Path;

/// Encode `vol` as NIfTI bytes with voxels of type `dtype` (gzip-compressed if `gzip`).
///
/// Integer types need integral values in range: anything else is an error, not a silent rounding.
pub fn encode_nifti(vol: &Volume, dtype: DataType, gzip: bool) -> Result<Vec<u8>, VolumeError> {
    let name = Path::new("<output>");
    if let Some((lo, hi)) = dtype.integer_range() {
        if let Some(&bad) = vol
            .data
            .iter()
            .find(|&&v| v.fract() != 0.0 || (v as f64) < lo || (v as f64) > hi)
        {
            return Err(VolumeError::Write {
                file: name.into(),
                reason: format!("value {bad} cannot be stored as {dtype}; write float32 instead"),
            });
        }
    }
    let mut h = vol.header.clone();
    let [nx, ny, nz] = vol.dims;
    if h.version == NiftiVersion::One && vol.dims.iter().any(|&d| d > i16::MAX as usize) {
        h.version = NiftiVersion::Two; // NIfTI-1 dims are 16-bit
    }
    h.dim = [3, nx as i64, ny as i64, nz as i64, 1, 1, 1, 1];
    h.datatype = dtype.code();
    h.bitpix = (dtype.size() * 8) as i16;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.cal_min = 0.0;
    h.cal_max = 0.0;
    h.single_file = true;
    h.vox_offset = (h.size() + 4) as f64;

    let mut out = Vec::with_capacity(h.size() + 4 + vol.len() * dtype.size());
    match h.version {
        NiftiVersion::One => encode_header1(&h, &mut out),
        NiftiVersion::Two => encode_header2(&h, &mut out),
    }
    out.extend_from_slice(&[0, 0, 0, 0]); // no extensions
                                          // C order (i, j, k) -> the file's i-fastest order.
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                dtype.encode_le(vol.data[(i * ny + j) * nz + k] as f64, &mut out);
            }
        }
    }
    if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(&out)
            .and_then(|_| enc.finish())
            .map_err(|e| VolumeError::Write {
                file: name.into(),
                reason: format!("gzip: {e}"),
            })
    } else {
        Ok(out)
    }
}

/// Write `vol` to `path` (gzip if it ends with `.gz`). An existing file is never replaced: that is
/// an error asking for another name.
pub fn write_nifti(
    path: impl AsRef<Path>,
    vol: &Volume,
    dtype: DataType,
) -> Result<(), VolumeError> {
    let path = path.as_ref();
    let lower = path.to_string_lossy().to_lowercase();
    if !(lower.ends_with(".nii") || lower.ends_with(".nii.gz")) {
        return Err(VolumeError::Write {
            file: path.into(),
            reason: "the name must end with .nii or .nii.gz".into(),
        });
    }
    let bytes = encode_nifti(vol, dtype, lower.ends_with(".gz")).map_err(|e| match e {
        VolumeError::Write { reason, .. } => VolumeError::Write {
            file: path.into(),
            reason,
        },
        other => other,
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| VolumeError::Write {
            file: path.into(),
            reason: if e.kind() == std::io::ErrorKind::AlreadyExists {
                "the file already exists and semiseg never overwrites; choose another name or remove it".into()
            } else {
                e.to_string()
            },
        })?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| VolumeError::io(path, e))
}

fn fixed(bytes: &[u8], len: usize, out: &mut Vec<u8>) {
    let n = bytes.len().min(len);
    out.extend_from_slice(&bytes[..n]);
    out.resize(out.len() + len - n, 0);
}

/// The 348-byte NIfTI-1 header, little-endian (layout of `nifti1.h`).
fn encode_header1(h: &NiftiHeader, o: &mut Vec<u8>) {
    let start = o.len();
    o.extend_from_slice(&(NIFTI1_SIZE as i32).to_le_bytes());
    o.extend_from_slice(&[0; 10]); // data_type
    o.extend_from_slice(&[0; 18]); // db_name
    o.extend_from_slice(&0i32.to_le_bytes()); // extents
    o.extend_from_slice(&0i16.to_le_bytes()); // session_error
    o.push(b'r'); // regular
    o.push(h.dim_info);
    for d in h.dim {
        o.extend_from_slice(&(d as i16).to_le_bytes());
    }
    for p in h.intent_p {
        o.extend_from_slice(&(p as f32).to_le_bytes());
    }
    o.extend_from_slice(&(h.intent_code as i16).to_le_bytes());
    o.extend_from_slice(&h.datatype.to_le_bytes());
    o.extend_from_slice(&h.bitpix.to_le_bytes());
    o.extend_from_slice(&(h.slice_start as i16).to_le_bytes());
    for p in h.pixdim {
        o.extend_from_slice(&(p as f32).to_le_bytes());
    }
    for v in [h.vox_offset, h.scl_slope, h.scl_inter] {
        o.extend_from_slice(&(v as f32).to_le_bytes());
    }
    o.extend_from_slice(&(h.slice_end as i16).to_le_bytes());
    o.push(h.slice_code as u8);
    o.push(h.xyzt_units as u8);
    for v in [h.cal_max, h.cal_min, h.slice_duration, h.toffset] {
        o.extend_from_slice(&(v as f32).to_le_bytes());
    }
    o.extend_from_slice(&[0; 8]); // glmax, glmin
    fixed(&h.descrip, 80, o);
    fixed(&h.aux_file, 24, o);
    o.extend_from_slice(&(h.qform_code as i16).to_le_bytes());
    o.extend_from_slice(&(h.sform_code as i16).to_le_bytes());
    for v in h.quatern.iter().chain(&h.qoffset) {
        o.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    for v in h.srow.iter().flatten() {
        o.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    fixed(&h.intent_name, 16, o);
    o.extend_from_slice(b"n+1\0");
    debug_assert_eq!(o.len() - start, NIFTI1_SIZE);
}

/// The 540-byte NIfTI-2 header, little-endian (layout of `nifti2.h`).
fn encode_header2(h: &NiftiHeader, o: &mut Vec<u8>) {
    let start = o.len();
    o.extend_from_slice(&(NIFTI2_SIZE as i32).to_le_bytes());
    o.extend_from_slice(b"n+2\0");
    o.extend_from_slice(&NIFTI2_MAGIC_TAIL);
    o.extend_from_slice(&h.datatype.to_le_bytes());
    o.extend_from_slice(&h.bitpix.to_le_bytes());
    for d in h.dim {
        o.extend_from_slice(&d.to_le_bytes());
    }
    for v in h.intent_p.iter().chain(&h.pixdim) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    o.extend_from_slice(&(h.vox_offset as i64).to_le_bytes());
    for v in [
        h.scl_slope,
        h.scl_inter,
        h.cal_max,
        h.cal_min,
        h.slice_duration,
        h.toffset,
    ] {
        o.extend_from_slice(&v.to_le_bytes());
    }
    o.extend_from_slice(&h.slice_start.to_le_bytes());
    o.extend_from_slice(&h.slice_end.to_le_bytes());
    fixed(&h.descrip, 80, o);
    fixed(&h.aux_file, 24, o);
    o.extend_from_slice(&h.qform_code.to_le_bytes());
    o.extend_from_slice(&h.sform_code.to_le_bytes());
    for v in h
        .quatern
        .iter()
        .chain(&h.qoffset)
        .chain(h.srow.iter().flatten())
    {
        o.extend_from_slice(&v.to_le_bytes());
    }
    o.extend_from_slice(&h.slice_code.to_le_bytes());
    o.extend_from_slice(&h.xyzt_units.to_le_bytes());
    o.extend_from_slice(&h.intent_code.to_le_bytes());
    fixed(&h.intent_name, 16, o);
    o.push(h.dim_info);
    o.extend_from_slice(&[0; 15]);
    debug_assert_eq!(o.len() - start, NIFTI2_SIZE);
}
