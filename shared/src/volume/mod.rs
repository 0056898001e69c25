//! Scans: the [`Volume`] type, NIfTI-1/2 input and output, and orientation.
//!
//! Voxels are kept as `f32` in C order over the array axes `(i, j, k)` (index `(i*ny + j)*nz + k`),
//! the order of `nibabel.load(f).get_fdata()` and of the literature's `.h5` patches, so a tensor of
//! shape `[1, 1, nx, ny, nz]` is the volume without copying.

mod dtype;
mod header;
mod nifti_read;
mod nifti_write;
mod orientation;
#[allow(clippy::module_inception)] // the Volume type, in the folder of everything about volumes
mod volume;

pub use dtype::DataType;
pub use header::{AffineSource, Endian, NiftiHeader, NiftiVersion};
pub use nifti_read::{read_nifti, read_nifti_bytes, ReadOptions, MAX_VOXELS};
pub use nifti_write::{encode_nifti, write_nifti};
pub use orientation::{axis_codes, Reorientation};
pub use volume::Volume;

use std::path::PathBuf;

/// Everything that can go wrong with a scan. Each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{file}: cannot read the file: {cause}")]
    Io {
        file: PathBuf,
        cause: std::io::Error,
    },
    #[error("{file}: not a NIfTI file: {reason}")]
    NotNifti { file: PathBuf, reason: String },
    #[error(
        "{file}: the file is truncated: {reason}; the download or copy was probably cut short"
    )]
    Truncated { file: PathBuf, reason: String },
    #[error("{file}: gzip data is corrupt ({reason}); re-export or re-download the scan")]
    Gzip { file: PathBuf, reason: String },
    #[error("{file}: invalid header: {reason}")]
    BadHeader { file: PathBuf, reason: String },
    #[error("{file}: unsupported: {reason}")]
    Unsupported { file: PathBuf, reason: String },
    #[error("{file}: {count} voxels are NaN or infinite (first at array index {first:?}); clean the scan (e.g. replace them with 0) before using it")]
    NonFinite {
        file: PathBuf,
        count: usize,
        first: [usize; 3],
    },
    #[error("{file}: cannot write: {reason}")]
    Write { file: PathBuf, reason: String },
}

impl VolumeError {
    pub(crate) fn io(file: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        VolumeError::Io {
            file: file.into(),
            cause,
        }
    }
}
