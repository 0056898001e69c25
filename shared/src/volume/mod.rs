//! Scans: the [`Volume`] type, NIfTI-1/2 input and output, NRRD input, and orientation.
//!
//! Voxels are kept as `f32` in C order over the array axes `(i, j, k)` (index `(i*ny + j)*nz + k`),
//! the order of `nibabel.load(f).get_fdata()` and of the literature's `.h5` patches, so a tensor of
//! shape `[1, 1, nx, ny, nz]` is the volume without copying.

mod dtype;
mod file_order;
mod gzip;
mod header;
mod nifti_read;
mod nifti_write;
mod nrrd_read;
mod orientation;
#[allow(clippy::module_inception)] // the Volume type, in the folder of everything about volumes
mod volume;

pub use dtype::DataType;
pub use header::{AffineSource, Endian, NiftiHeader, NiftiVersion};
pub use nifti_read::{read_nifti, read_nifti_bytes, ReadOptions, MAX_VOXELS};
pub use nifti_write::{encode_nifti, write_nifti};
pub use nrrd_read::{is_nrrd, read_nrrd, read_nrrd_bytes};
pub use orientation::{axis_codes, Reorientation};
pub use volume::Volume;

use std::path::{Path, PathBuf};

/// Read a scan in any format semiseg reads, told apart by its first bytes: NRRD (`.nrrd`,
/// `.nhdr`) or NIfTI (everything else, with NIfTI's own messages for other formats).
pub fn read_scan(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume, VolumeError> {
    let path = path.as_ref();
    let mut magic = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| VolumeError::io(path, e))?;
    if is_nrrd(&magic[..n]) {
        read_nrrd(path, opts)
    } else {
        read_nifti(path, opts)
    }
}

/// [`read_scan`] for bytes in memory (a browser upload); `name` is used in messages.
pub fn read_scan_bytes(
    name: &str,
    bytes: &[u8],
    opts: &ReadOptions,
) -> Result<Volume, VolumeError> {
    if is_nrrd(bytes) {
        read_nrrd_bytes(name, bytes, opts)
    } else {
        read_nifti_bytes(name, bytes, opts)
    }
}

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
