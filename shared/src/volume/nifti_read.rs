//! Reading NIfTI-1/2 scans (`.nii`, `.nii.gz`, `.hdr/.img[.gz]` pairs) from a path or from bytes (a
//! browser upload) into a [`Volume`]. Every failure is a [`VolumeError`] naming the file; nothing
//! is allocated before the header has been checked against [`ReadOptions::max_voxels`].

use super::dtype::DataType;
use super::gzip::{GzipStream, GZIP_MAGIC};
use super::header::{NiftiHeader, ParseError};
use super::{Volume, VolumeError};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Default largest volume accepted: 2^28 voxels (1 GiB as `f32`; a 512x512x1024 CT fits).
pub const MAX_VOXELS: usize = 1 << 28;

/// How to read a scan.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Refuse volumes with more voxels than this (their memory is checked before allocating).
    pub max_voxels: usize,
    /// For 4D files: `false` (default) is an error, `true` reads the first 3D volume.
    pub first_volume_of_4d: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_voxels: MAX_VOXELS,
            first_volume_of_4d: false,
        }
    }
}

/// Read a scan from disk. A `.hdr` (or `.img`) path reads the pair.
pub fn read_nifti(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume, VolumeError> {
    let path = path.as_ref();
    let name = path.to_string_lossy().to_lowercase();
    let is = |ext: &str| name.ends_with(ext) || name.ends_with(&format!("{ext}.gz"));
    if is(".hdr") || is(".img") {
        let (hdr, img) = pair_paths(path)?;
        let header_src = open(&hdr)?;
        let data_src = open(&img)?;
        return read_from(&hdr, header_src, Some((&img, data_src)), opts);
    }
    let src = open(path)?;
    read_from(path, src, None::<(&Path, Source<&[u8]>)>, opts)
}

/// Read a scan from bytes in memory (gzip is detected from its magic number). `name` is used in
/// error messages.
pub fn read_nifti_bytes(
    name: &str,
    bytes: &[u8],
    opts: &ReadOptions,
) -> Result<Volume, VolumeError> {
    read_from(
        Path::new(name),
        source(bytes),
        None::<(&Path, Source<&[u8]>)>,
        opts,
    )
}

/// Find the other file of a `.hdr/.img` pair (plain or gzipped).
fn pair_paths(path: &Path) -> Result<(PathBuf, PathBuf), VolumeError> {
    let s = path.to_string_lossy();
    let lower = s.to_lowercase();
    let stem_len = if lower.ends_with(".gz") {
        s.len() - 7
    } else {
        s.len() - 4
    };
    let stem = &s[..stem_len];
    let find = |ext: &str| {
        [format!("{stem}.{ext}"), format!("{stem}.{ext}.gz")]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    let hdr = find("hdr");
    let img = find("img");
    match (hdr, img) {
        (Some(h), Some(i)) => Ok((h, i)),
        (None, _) => Err(VolumeError::NotNifti {
            file: path.into(),
            reason: format!(
                "no header file {stem}.hdr beside the image; a .hdr/.img pair needs both files"
            ),
        }),
        (_, None) => Err(VolumeError::NotNifti {
            file: path.into(),
            reason: format!(
                "no image file {stem}.img beside the header; a .hdr/.img pair needs both files"
            ),
        }),
    }
}

/// A byte source that may be gzip-compressed.
struct Source<R: Read> {
    reader: R,
    gzip: bool,
}

fn source(bytes: &[u8]) -> Source<Box<dyn Read + '_>> {
    let gzip = bytes.starts_with(&GZIP_MAGIC);
    let reader: Box<dyn Read> = if gzip {
        Box::new(GzipStream::new(bytes))
    } else {
        Box::new(bytes)
    };
    Source { reader, gzip }
}

fn open(path: &Path) -> Result<Source<Box<dyn Read>>, VolumeError> {
    let file = std::fs::File::open(path).map_err(|e| VolumeError::io(path, e))?;
    let mut buf = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut buf, &mut magic).map_err(|e| VolumeError::io(path, e))?;
    let head = std::io::Cursor::new(magic[..n].to_vec()).chain(buf);
    let gzip = n == 2 && magic == GZIP_MAGIC;
    let reader: Box<dyn Read> = if gzip {
        Box::new(GzipStream::new(BufReader::new(head)))
    } else {
        Box::new(head)
    };
    Ok(Source { reader, gzip })
}

/// Read until `buf` is full or the input ends; returns the count read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read exactly `n` bytes or say precisely what was missing.
fn read_exactly<R: Read>(
    file: &Path,
    src: &mut Source<R>,
    n: usize,
    what: &str,
) -> Result<Vec<u8>, VolumeError> {
    read_exactly_after(file, src, n, 0, what)
}

/// Skip `n` bytes (read and dropped in small pieces: an absurd count costs no memory).
fn skip_exactly<R: Read>(
    file: &Path,
    src: &mut Source<R>,
    n: u64,
    what: &str,
) -> Result<(), VolumeError> {
    let got = std::io::copy(&mut (&mut src.reader).take(n), &mut std::io::sink())
        .map_err(|e| stream_error(file, src.gzip, e))?;
    if got < n {
        return Err(VolumeError::Truncated {
            file: file.into(),
            reason: format!("{what}: expected {n} bytes, found {got}"),
        });
    }
    Ok(())
}

/// Read the last `total - had` bytes of a `total`-byte part of which `had` are already read.
fn read_exactly_after<R: Read>(
    file: &Path,
    src: &mut Source<R>,
    total: usize,
    had: usize,
    what: &str,
) -> Result<Vec<u8>, VolumeError> {
    let n = total - had;
    let mut buf = vec![0u8; n];
    let got = read_up_to(&mut src.reader, &mut buf).map_err(|e| stream_error(file, src.gzip, e))?;
    if got < n {
        return Err(VolumeError::Truncated {
            file: file.into(),
            reason: format!("{what}: expected {total} bytes, found {}", had + got),
        });
    }
    Ok(buf)
}

fn stream_error(file: &Path, gzip: bool, e: std::io::Error) -> VolumeError {
    if gzip && e.kind() == std::io::ErrorKind::UnexpectedEof {
        VolumeError::Truncated {
            file: file.into(),
            reason: "the gzip stream ends early".into(),
        }
    } else if gzip && e.kind() != std::io::ErrorKind::NotFound {
        VolumeError::Gzip {
            file: file.into(),
            reason: e.to_string(),
        }
    } else {
        VolumeError::io(file, e)
    }
}

fn read_from<R: Read, S: Read>(
    file: &Path,
    mut src: Source<R>,
    pair: Option<(&Path, Source<S>)>,
    opts: &ReadOptions,
) -> Result<Volume, VolumeError> {
    // 1. Header: 348 bytes, or 540 for NIfTI-2.
    let head = read_exactly_lenient(file, &mut src, 540)?;
    let header = NiftiHeader::parse(&head).map_err(|e| match e {
        ParseError::NotNifti(reason) => VolumeError::NotNifti {
            file: file.into(),
            reason,
        },
        ParseError::Truncated(reason) => VolumeError::Truncated {
            file: file.into(),
            reason,
        },
        ParseError::BadHeader(reason) => VolumeError::BadHeader {
            file: file.into(),
            reason,
        },
    })?;
    // `head` may hold bytes past the header (extension flag, extensions, voxels).
    let bad = |reason: String| VolumeError::BadHeader {
        file: file.into(),
        reason,
    };

    // 2. Check the geometry before allocating anything large.
    let dtype = DataType::from_code(header.datatype).map_err(|what| VolumeError::Unsupported {
        file: file.into(),
        reason: format!("{what}; semiseg reads uint8, int8, int16, uint16, int32, uint32, float32 and float64 scans"),
    })?;
    let dims = spatial_dims(&header, opts).map_err(|e| e.for_file(file))?;
    let n_vox = opts.voxel_count(file, dims)?;
    let (affine, source) = header.affine();
    if source == super::AffineSource::Qform {
        if let Some(problem) = header.quaternion_problem() {
            return Err(bad(problem));
        }
    }
    check_affine(&affine).map_err(bad)?;
    let n_bytes = n_vox * dtype.size();

    // 3. Skip to the voxel data (extensions in a single file), then read it. The offset is
    //    checked before anything is skipped, and skipped bytes are never held in memory.
    let vox_offset = header.vox_offset;
    if !(vox_offset.is_finite() && (0.0..=(1u64 << 31) as f64).contains(&vox_offset)) {
        return Err(bad(format!(
            "vox_offset {vox_offset} is not a valid byte offset (0 to 2^31)"
        )));
    }
    let raw = match pair {
        None => {
            // A single file with vox_offset 0 is common in the wild: data follows the header.
            let offset = (vox_offset as usize).max(header.size() + 4);
            let mut raw = Vec::new();
            if offset >= head.len() {
                skip_exactly(
                    file,
                    &mut src,
                    (offset - head.len()) as u64,
                    "header extensions",
                )?;
            } else {
                raw.extend_from_slice(&head[offset..(offset + n_bytes).min(head.len())]);
            }
            let rest = read_exactly_after(file, &mut src, n_bytes, raw.len(), "voxel data")?;
            raw.extend_from_slice(&rest);
            let seen_extra = head.len().saturating_sub(offset + n_bytes);
            check_no_extra(file, &mut src, seen_extra, &header, dims, dtype)?;
            raw
        }
        Some((img_path, mut img)) => {
            let offset = vox_offset as usize;
            skip_exactly(
                img_path,
                &mut img,
                offset as u64,
                "bytes before the voxel data",
            )?;
            let raw = read_exactly(img_path, &mut img, n_bytes, "voxel data")?;
            check_no_extra(img_path, &mut img, 0, &header, dims, dtype)?;
            raw
        }
    };

    // 4. Decode, scale (scl_slope/scl_inter; a slope of 0 or NaN means none) and transpose from the
    //    file's x-fastest order to C order.
    let (slope, inter) = scaling(&header);
    let [nx, ny, _] = dims;
    let size = dtype.size();
    let mut data = vec![0f32; n_vox];
    let mut non_finite = 0usize;
    let mut first_file_index = usize::MAX;
    super::file_order::decode_to_c_order(&raw, dims, size, &mut data, |f, chunk| {
        let v = (dtype.decode(chunk, header.endian) * slope + inter) as f32;
        if !v.is_finite() {
            non_finite += 1;
            first_file_index = first_file_index.min(f);
        }
        v
    });
    if non_finite > 0 {
        let f = first_file_index;
        let first = [f % nx, (f / nx) % ny, f / (nx * ny)];
        return Err(VolumeError::NonFinite {
            file: file.into(),
            count: non_finite,
            first,
        });
    }
    Ok(Volume::from_parts(data, dims, header, dtype))
}

/// Like [`read_exactly`] but a short read is fine (the header parser says what is missing).
fn read_exactly_lenient<R: Read>(
    file: &Path,
    src: &mut Source<R>,
    n: usize,
) -> Result<Vec<u8>, VolumeError> {
    let mut buf = vec![0u8; n];
    let got = read_up_to(&mut src.reader, &mut buf).map_err(|e| stream_error(file, src.gzip, e))?;
    buf.truncate(got);
    Ok(buf)
}

/// The `(slope, intercept)` that turn stored values into real ones.
pub(crate) fn scaling(h: &NiftiHeader) -> (f64, f64) {
    if h.scl_slope.is_finite() && h.scl_slope != 0.0 {
        let inter = if h.scl_inter.is_finite() {
            h.scl_inter
        } else {
            0.0
        };
        (h.scl_slope, inter)
    } else {
        (1.0, 0.0)
    }
}

/// What is wrong with a header (NIfTI or NRRD): invalid, or valid but not what semiseg reads.
#[derive(Debug)]
pub(crate) enum HeaderProblem {
    Bad(String),
    Unsupported(String),
}

impl HeaderProblem {
    pub(crate) fn for_file(self, file: &Path) -> VolumeError {
        match self {
            HeaderProblem::Bad(reason) => VolumeError::BadHeader {
                file: file.into(),
                reason,
            },
            HeaderProblem::Unsupported(reason) => VolumeError::Unsupported {
                file: file.into(),
                reason,
            },
        }
    }
}

impl ReadOptions {
    /// The voxel count of `dims`, or an error before anything is allocated if it passes
    /// [`ReadOptions::max_voxels`].
    pub(crate) fn voxel_count(&self, file: &Path, dims: [usize; 3]) -> Result<usize, VolumeError> {
        let gib = |n: f64| n * 4.0 / (1u64 << 30) as f64;
        dims.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= self.max_voxels)
            .ok_or_else(|| VolumeError::Unsupported {
                file: file.into(),
                reason: format!(
                    "{}x{}x{} voxels would need {:.1} GiB as float32, more than the limit of {} voxels ({:.1} GiB); \
                     crop or downsample the scan first",
                    dims[0],
                    dims[1],
                    dims[2],
                    gib(dims.iter().map(|&d| d as f64).product::<f64>()),
                    self.max_voxels,
                    gib(self.max_voxels as f64)
                ),
            })
    }
}

/// The three spatial dimensions, after checking `dim[]` and the 4D policy.
fn spatial_dims(h: &NiftiHeader, opts: &ReadOptions) -> Result<[usize; 3], HeaderProblem> {
    let nd = h.dim[0];
    if !(1..=7).contains(&nd) {
        return Err(HeaderProblem::Bad(format!(
            "dim[0] = {nd}, the number of dimensions must be 1 to 7"
        )));
    }
    let nd = nd as usize;
    for i in 1..=nd {
        if h.dim[i] < 1 {
            return Err(HeaderProblem::Bad(format!(
                "dim[{i}] = {}, every dimension must be at least 1",
                h.dim[i]
            )));
        }
    }
    let get = |i: usize| if i <= nd { h.dim[i] as u64 } else { 1 };
    let extra: Vec<u64> = (4..=nd).map(get).collect();
    let volumes: u64 = extra.iter().product();
    if volumes > 1 {
        if nd > 4 && extra[1..].iter().any(|&d| d > 1) {
            return Err(HeaderProblem::Unsupported(format!(
                "{nd}D data (dims {:?}); semiseg reads 3D scans, or the first volume of a 4D series",
                &h.dim[1..=nd]
            )));
        }
        if !opts.first_volume_of_4d {
            return Err(HeaderProblem::Unsupported(format!(
                "4D data with {volumes} volumes of {}x{}x{}; semiseg segments 3D scans: split \
                 the series into 3D files first (e.g. fslsplit, or nibabel's four_to_three); \
                 `semiseg inspect` shows the header",
                get(1),
                get(2),
                get(3)
            )));
        }
    }
    let to_usize = |v: u64| {
        usize::try_from(v)
            .map_err(|_| HeaderProblem::Unsupported(format!("dimension {v} too large")))
    };
    Ok([to_usize(get(1))?, to_usize(get(2))?, to_usize(get(3))?])
}

pub(super) fn check_affine(a: &[[f64; 4]; 4]) -> Result<(), String> {
    if a.iter().flatten().any(|v| !v.is_finite()) {
        return Err("the voxel-to-world affine has NaN or infinite entries".into());
    }
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if !det.is_finite() {
        return Err("the voxel-to-world affine overflows (voxel sizes near 1e308?)".into());
    }
    if det.abs() < 1e-12 {
        return Err("the voxel-to-world affine is singular (a voxel size of 0?); fix pixdim or the sform/qform".into());
    }
    Ok(())
}

/// A file much longer than its header says (a full slice or more left over) means the dimensions
/// are wrong, and reading it would give a silently scrambled volume. Of a 4D file read for its
/// first volume, the other volumes must all be there (streamed past, never held), and nothing more.
fn check_no_extra<R: Read>(
    file: &Path,
    src: &mut Source<R>,
    mut seen_extra: usize,
    h: &NiftiHeader,
    dims: [usize; 3],
    dtype: DataType,
) -> Result<(), VolumeError> {
    let volumes = (4..=7)
        .filter(|&i| i as i64 <= h.dim[0])
        .try_fold(1u64, |n, i| n.checked_mul(h.dim[i] as u64));
    let volume_bytes = dims.iter().product::<usize>() as u64 * dtype.size() as u64;
    let Some(rest) = volumes.and_then(|v| (v - 1).checked_mul(volume_bytes)) else {
        return Err(VolumeError::BadHeader {
            file: file.into(),
            reason: format!(
                "dims {:?} overflow: no file holds that many volumes",
                &h.dim[1..]
            ),
        });
    };
    if rest > 0 {
        let skip = rest.saturating_sub(seen_extra as u64);
        skip_exactly(file, src, skip, "the other volumes of the 4D series")?;
        seen_extra = (seen_extra as u64).saturating_sub(rest) as usize;
    }
    let slice = dims[0] * dims[1] * dtype.size();
    let mut probe = vec![0u8; slice.saturating_sub(seen_extra)];
    let got =
        read_up_to(&mut src.reader, &mut probe).map_err(|e| stream_error(file, src.gzip, e))?;
    if seen_extra + got >= slice {
        return Err(VolumeError::BadHeader {
            file: file.into(),
            reason: format!(
                "the file holds more voxel data than its dimensions {}x{}x{} ({}) say; the header's dim[] is wrong",
                dims[0], dims[1], dims[2], dtype
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::encode_nifti;

    /// A 3x2x2 uint8 NIfTI-1 file (little-endian) of the values 0..12, and its voxel bytes.
    fn small(gzip: bool) -> Vec<u8> {
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut affine = [[0.0; 4]; 4];
        for (i, row) in affine.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        let vol = Volume::new(data, [3, 2, 2], affine);
        encode_nifti(&vol, DataType::Uint8, gzip).unwrap()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read(bytes: &[u8], opts: &ReadOptions) -> Result<Volume, VolumeError> {
        read_nifti_bytes("t.nii", bytes, opts)
    }

    fn set_i16(bytes: &mut [u8], at: usize, v: i16) {
        bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn zero_padding_after_a_gzip_stream_is_read_as_gunzip_does() {
        // before: "invalid gzip header" for a .nii.gz that gunzip and nibabel read
        let mut padded = small(true);
        padded.extend([0u8; 512]);
        let v = read(&padded, &ReadOptions::default()).unwrap();
        assert_eq!(
            v.data,
            read(&small(true), &ReadOptions::default()).unwrap().data
        );
        let mut junk = small(true);
        junk.extend(b"\0\0junk");
        let e = read(&junk, &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("neither zero padding"), "{e}");
    }

    #[test]
    fn every_volume_of_a_4d_file_read_for_its_first_is_checked() {
        let first = small(false);
        let four_d = |volumes: i16, present: usize| {
            let mut b = first.clone();
            set_i16(&mut b, 40, 4); // dim[0]
            set_i16(&mut b, 48, volumes); // dim[4]
            for _ in 1..present {
                b.extend_from_slice(&first[first.len() - 12..]);
            }
            b
        };
        let opts = ReadOptions {
            first_volume_of_4d: true,
            ..ReadOptions::default()
        };
        let v = read(&four_d(3, 3), &opts).unwrap();
        assert_eq!(v.data.len(), 12);
        // before: a 4D file cut after its first volume, or with more data than its dims, passed
        let e = read(&four_d(3, 2), &opts).unwrap_err();
        assert!(
            e.to_string().contains("other volumes of the 4D series"),
            "{e}"
        );
        let e = read(&four_d(3, 5), &opts).unwrap_err();
        assert!(e.to_string().contains("more voxel data"), "{e}");
        let e = read(&gz(&four_d(3, 2)), &opts).unwrap_err();
        assert!(e.to_string().contains("other volumes"), "{e}");
    }

    #[test]
    fn a_quaternion_that_is_no_rotation_is_refused_when_the_qform_is_used() {
        let mut b = small(false);
        set_i16(&mut b, 252, 1); // qform_code
        set_i16(&mut b, 254, 0); // sform_code
        b[256..260].copy_from_slice(&0.9f32.to_le_bytes()); // quatern_b
        b[260..264].copy_from_slice(&0.9f32.to_le_bytes()); // quatern_c
        let e = read(&b, &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a rotation"), "{e}");
        set_i16(&mut b, 254, 1); // the sform is used: the quaternion does not matter
        read(&b, &ReadOptions::default()).unwrap();
    }
}
