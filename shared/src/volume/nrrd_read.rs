//! Reading NRRD volumes (`.nrrd` with attached data, `.nhdr` with a detached data file), the format
//! of the LA challenge's raw `lgemri.nrrd` / `laendo.nrrd` (spec B1, C: "a small NRRD reader:
//! header + raw/gzip payload"). The result is the same [`Volume`] as NIfTI gives: voxels in C order
//! over the array axes, and the affine in RAS+ millimetres.
//!
//! Format: <http://teem.sourceforge.net/nrrd/format.html>. Read here: `NRRD0001`..`NRRD0005`, 3D,
//! the scalar types of [`DataType`], encodings `raw`, `gzip`/`gz` and `text`/`txt`/`ascii`,
//! `endian`, `byte skip`, `line skip`, `space`/`space dimension`, `space directions`,
//! `space origin`, `spacings`, and one detached `data file`. Everything else is a clear error.

use super::dtype::DataType;
use super::gzip::{starts_gzip_member, GzipStream};
use super::header::{Endian, NiftiHeader};
use super::nifti_read::{HeaderProblem, ReadOptions};
use super::{Volume, VolumeError};
use std::io::{BufRead, Read, Seek};
use std::path::{Path, PathBuf};

/// Whether these bytes start an NRRD file.
pub fn is_nrrd(bytes: &[u8]) -> bool {
    bytes.starts_with(b"NRRD000")
}

/// Read an NRRD volume from disk (`.nrrd`, or a `.nhdr` header and the data file it names).
pub fn read_nrrd(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume, VolumeError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| VolumeError::io(path, e))?;
    read(
        path,
        &bytes,
        Some(path.parent().unwrap_or(Path::new("."))),
        opts,
    )
}

/// Read an NRRD volume with attached data from bytes in memory (`name` is used in messages).
pub fn read_nrrd_bytes(
    name: &str,
    bytes: &[u8],
    opts: &ReadOptions,
) -> Result<Volume, VolumeError> {
    read(Path::new(name), bytes, None, opts)
}

/// How the voxel bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Raw,
    Gzip,
    Text,
}

/// The fields of an NRRD header that semiseg uses.
#[derive(Debug, Clone, PartialEq)]
struct NrrdHeader {
    dtype: DataType,
    dims: [usize; 3],
    encoding: Encoding,
    endian: Option<Endian>,
    /// Voxel index to RAS+ millimetres.
    affine: [[f64; 4]; 4],
    data_file: Option<String>,
    line_skip: usize,
    /// `-1` (raw only): the data are the last bytes of the file.
    byte_skip: i64,
}

fn read(
    file: &Path,
    bytes: &[u8],
    dir: Option<&Path>,
    opts: &ReadOptions,
) -> Result<Volume, VolumeError> {
    if !is_nrrd(bytes) {
        return Err(VolumeError::NotNifti {
            file: file.into(),
            reason: "not an NRRD file either (it does not start with NRRD000x)".into(),
        });
    }
    let (text, data_start) = header_text(bytes).map_err(|reason| VolumeError::Truncated {
        file: file.into(),
        reason,
    })?;
    let header = parse_header(text).map_err(|e| e.for_file(file))?;
    let n_vox = opts.voxel_count(file, header.dims)?;

    // The payload: after the header, or in the data file it names.
    let detached;
    let (data_name, payload): (PathBuf, &[u8]) = match &header.data_file {
        None => (file.into(), &bytes[data_start..]),
        Some(name) => {
            let Some(dir) = dir else {
                return Err(VolumeError::Unsupported {
                    file: file.into(),
                    reason: format!(
                        "the header keeps its voxels in a separate file ({name}); \
                         open an .nrrd with the data attached (e.g. `unu save -f nrrd`)"
                    ),
                });
            };
            let data_path = dir.join(name);
            detached = read_data_file(&data_path, &header, n_vox)?;
            (data_path, &detached[..])
        }
    };
    let payload = if header.data_file.is_some() {
        payload // lines already skipped
    } else {
        skip_lines(payload, header.line_skip).ok_or_else(|| lines_missing(&data_name, &header))?
    };
    let data = decode(&data_name, payload, &header, n_vox)?;
    if let Some(f) = data.iter().position(|v| !v.is_finite()) {
        let [_, ny, nz] = header.dims;
        return Err(VolumeError::NonFinite {
            file: file.into(),
            count: data.iter().filter(|v| !v.is_finite()).count(),
            first: [f / (ny * nz), (f / nz) % ny, f % nz],
        });
    }
    let nifti = NiftiHeader::for_affine(header.dims, &header.affine, header.dtype);
    Ok(Volume::from_parts(data, header.dims, nifti, header.dtype))
}

/// The header's text and where the data start: the header ends at the first empty line.
fn header_text(bytes: &[u8]) -> Result<(&str, usize), String> {
    let mut at = 0;
    while at < bytes.len() {
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| at + p + 1)
            .unwrap_or(bytes.len());
        let line = &bytes[at..end];
        if line == b"\n" || line == b"\r\n" {
            let text = std::str::from_utf8(&bytes[..at])
                .map_err(|_| "the header is not text".to_string())?;
            return Ok((text, end));
        }
        at = end;
    }
    // A header with a detached data file may end without an empty line.
    let text = std::str::from_utf8(bytes).map_err(|_| {
        "the header never ends (no empty line before the data); the file is cut short or corrupt"
            .to_string()
    })?;
    Ok((text, bytes.len()))
}

/// Field values by lower-cased name.
type Fields = std::collections::HashMap<String, String>;

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

fn parse_header(text: &str) -> Result<NrrdHeader, HeaderProblem> {
    use HeaderProblem::{Bad, Unsupported};
    let mut fields = Fields::new();
    for line in text.lines().skip(1) {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() || is_key_value(line) {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Bad(format!(
                "line {} is not `field: value` (is the empty line between the header and \
                 the data missing?)",
                quote(line)
            )));
        };
        fields.insert(name.trim().to_lowercase(), value.trim().to_string());
    }
    let get = |name: &str| field(&fields, name);
    let need = |name: &str| get(name).ok_or_else(|| Bad(format!("the `{name}` field is missing")));

    let dtype = data_type(need("type")?)?;
    let dimension: usize = need("dimension")?.parse().map_err(|_| {
        Bad(format!(
            "dimension {} is not a number",
            quote(get("dimension").unwrap_or(""))
        ))
    })?;
    let sizes = numbers::<usize>(need("sizes")?).ok_or_else(|| {
        Bad(format!(
            "sizes {} are not whole numbers",
            quote(get("sizes").unwrap_or(""))
        ))
    })?;
    if sizes.len() != dimension {
        return Err(Bad(format!(
            "{} sizes for dimension {dimension}",
            sizes.len()
        )));
    }
    if sizes.contains(&0) {
        return Err(Bad(format!(
            "sizes {sizes:?}: every size must be at least 1"
        )));
    }
    if dimension != 3 {
        return Err(Unsupported(format!(
            "{dimension}D data (sizes {sizes:?}); semiseg reads 3D scalar volumes"
        )));
    }
    let dims = [sizes[0], sizes[1], sizes[2]];
    let encoding = match need("encoding")?.to_lowercase().as_str() {
        "raw" => Encoding::Raw,
        "gzip" | "gz" => Encoding::Gzip,
        "text" | "txt" | "ascii" => Encoding::Text,
        other => {
            return Err(Unsupported(format!(
                "the {} encoding; semiseg reads raw, gzip and text NRRD \
                 (re-save it, e.g. `unu save -e gzip -f nrrd`)",
                short(other)
            )))
        }
    };
    let endian = match get("endian").map(str::to_lowercase).as_deref() {
        None => None,
        Some("little") => Some(Endian::Little),
        Some("big") => Some(Endian::Big),
        Some(other) => {
            return Err(Bad(format!(
                "endian {} is neither little nor big",
                quote(other)
            )))
        }
    };
    if endian.is_none() && dtype.size() > 1 && encoding != Encoding::Text {
        return Err(Bad(format!(
            "the `endian` field is missing, and {} voxels need it",
            dtype.name()
        )));
    }
    let data_file = get("data file")
        .or(get("datafile"))
        .map(|f| {
            if f.starts_with("LIST") || f.contains('%') || f.split_whitespace().count() > 1 {
                Err(Unsupported(format!(
                    "data file {} lists several files; semiseg reads one data file",
                    quote(f)
                )))
            } else {
                Ok(f.to_string())
            }
        })
        .transpose()?;
    let line_skip = match get("line skip").or(get("lineskip")) {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| Bad(format!("line skip {} is not a number", quote(v))))?,
    };
    let byte_skip: i64 = match get("byte skip").or(get("byteskip")) {
        None => 0,
        Some(v) => v
            .parse()
            .ok()
            .filter(|&b: &i64| b >= -1)
            .ok_or_else(|| Bad(format!("byte skip {} is not a number >= -1", quote(v))))?,
    };
    if byte_skip == -1 && encoding != Encoding::Raw {
        return Err(Bad(
            "byte skip -1 (data at the end of the file) needs the raw encoding".into(),
        ));
    }
    let affine = affine(&fields)?;
    Ok(NrrdHeader {
        dtype,
        dims,
        encoding,
        endian,
        affine,
        data_file,
        line_skip,
        byte_skip,
    })
}

/// A value quoted for a message, cut to 60 characters: a header line can be megabytes long (a
/// data line read as header when the empty line before the data is missing).
fn quote(s: &str) -> String {
    let (head, cut) = cut(s);
    format!("{head:?}{cut}")
}

/// A value for a message as it is, cut to 60 characters as [`quote`] does.
fn short(s: &str) -> String {
    let (head, cut) = cut(s);
    format!("{head}{cut}")
}

fn cut(s: &str) -> (&str, String) {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => (s, String::new()),
        Some((at, _)) => (&s[..at], format!("... ({} characters)", s.chars().count())),
    }
}

/// `key:=value` lines carry free-form metadata.
fn is_key_value(line: &str) -> bool {
    match (line.find(":="), line.find(": ")) {
        (Some(kv), Some(field)) => kv < field,
        (Some(_), None) => true,
        _ => false,
    }
}

fn numbers<T: std::str::FromStr>(s: &str) -> Option<Vec<T>> {
    s.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// The NRRD type names (all the spellings the format allows) of the types semiseg reads.
fn data_type(name: &str) -> Result<DataType, HeaderProblem> {
    let n = name.to_lowercase();
    Ok(match n.as_str() {
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => DataType::Uint8,
        "signed char" | "int8" | "int8_t" => DataType::Int8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            DataType::Int16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
            DataType::Uint16
        }
        "int" | "signed int" | "int32" | "int32_t" => DataType::Int32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => DataType::Uint32,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        _ => {
            return Err(HeaderProblem::Unsupported(format!(
            "{} voxels; semiseg reads uint8, int8, int16, uint16, int32, uint32, float and double",
            short(name)
        )))
        }
    })
}

/// The RAS+ affine from `space`, `space directions` and `space origin` (or `spacings`; identity
/// with neither). NRRD world vectors are in the named space; LPS and LAS are turned to RAS.
fn affine(fields: &Fields) -> Result<[[f64; 4]; 4], HeaderProblem> {
    use HeaderProblem::{Bad, Unsupported};
    let get = |name: &str| field(fields, name);
    let sign = match get("space").map(str::to_lowercase).as_deref() {
        None => [1.0, 1.0, 1.0],
        Some("right-anterior-superior" | "ras" | "scanner-xyz" | "3d-right-handed") => {
            [1.0, 1.0, 1.0]
        }
        Some("left-anterior-superior" | "las") => [-1.0, 1.0, 1.0],
        Some("left-posterior-superior" | "lps") => [-1.0, -1.0, 1.0],
        Some(other) => {
            return Err(Unsupported(format!(
                "space {}; semiseg reads 3D spatial volumes (RAS, LAS, LPS)",
                quote(other)
            )))
        }
    };
    let mut a = [[0.0; 4]; 4];
    a[3][3] = 1.0;
    if let Some(dirs) = get("space directions") {
        let axes = vectors(dirs).ok_or_else(|| {
            Bad(format!(
                "space directions {} are not 3 vectors (a,b,c)",
                quote(dirs)
            ))
        })?;
        if axes.len() != 3 || axes.iter().any(|v| v.len() != 3) {
            return Err(Unsupported(format!(
                "space directions {}: semiseg reads 3 spatial axes of a 3D space",
                quote(dirs)
            )));
        }
        for (axis, v) in axes.iter().enumerate() {
            for w in 0..3 {
                a[w][axis] = sign[w] * v[w];
            }
        }
        if let Some(origin) = get("space origin") {
            let o = vectors(origin)
                .filter(|o| o.len() == 1 && o[0].len() == 3)
                .ok_or_else(|| {
                    Bad(format!(
                        "space origin {} is not a vector (x,y,z)",
                        quote(origin)
                    ))
                })?;
            for w in 0..3 {
                a[w][3] = sign[w] * o[0][w];
            }
        }
    } else if let Some(s) = get("spacings") {
        let s = numbers::<f64>(s)
            .filter(|s| s.len() == 3)
            .ok_or_else(|| Bad(format!("spacings {} are not 3 numbers", quote(s))))?;
        for (i, v) in s.iter().enumerate() {
            a[i][i] = if v.is_nan() { 1.0 } else { *v };
        }
    } else {
        for (i, row) in a.iter_mut().enumerate().take(3) {
            row[i] = 1.0;
        }
    }
    if a.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Bad("the geometry has NaN or infinite entries".into()));
    }
    // zero or parallel directions, a spacing of 0, or sizes so large the volume overflows: a
    // geometry no mask could be put back onto (as the NIfTI reader refuses singular affines)
    super::nifti_read::check_affine(&a).map_err(Bad)?;
    Ok(a)
}

/// `(a,b,c) (d,e,f)` as vectors; `None` if any is not a parenthesised list of numbers. A `none`
/// entry (a non-spatial axis) becomes an empty vector.
fn vectors(s: &str) -> Option<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(Vec::new());
            rest = r.trim_start();
            continue;
        }
        let inner = rest.strip_prefix('(')?;
        let close = inner.find(')')?;
        let v: Option<Vec<f64>> = inner[..close]
            .split(',')
            .map(|x| x.trim().parse().ok())
            .collect();
        out.push(v?);
        rest = inner[close + 1..].trim_start();
    }
    Some(out)
}

fn lines_missing(file: &Path, h: &NrrdHeader) -> VolumeError {
    VolumeError::Truncated {
        file: file.into(),
        reason: format!(
            "the header says to skip {} lines, the data has fewer",
            h.line_skip
        ),
    }
}

/// The bytes of a detached data file that the voxels can come from, after its skipped lines: only
/// a regular file is read (a device such as `/dev/zero`, a pipe or a folder would never end or
/// block), and only as much of it as this volume can need, so a wrong `data file:` costs no memory.
fn read_data_file(path: &Path, h: &NrrdHeader, n_vox: usize) -> Result<Vec<u8>, VolumeError> {
    let io = |e| VolumeError::io(path, e);
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(VolumeError::Unsupported {
            file: path.into(),
            reason: "the header's `data file` is not a regular file (a folder, device or pipe);                      name the file that holds the voxels"
                .into(),
        });
    }
    let mut r = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    for _ in 0..h.line_skip {
        if r.skip_until(b'\n').map_err(io)? == 0 {
            return Err(lines_missing(path, h));
        }
    }
    let n_bytes = n_vox as u64 * h.dtype.size() as u64;
    let slice = (h.dims[0] * h.dims[1] * h.dtype.size()) as u64;
    let at = r.stream_position().map_err(io)?;
    let left = meta.len().saturating_sub(at);
    let limit = match h.encoding {
        Encoding::Raw if h.byte_skip == -1 => {
            // the data are the last bytes: read only those
            if left >= n_bytes {
                r.seek(std::io::SeekFrom::End(-(n_bytes as i64)))
                    .map_err(io)?;
            }
            n_bytes
        }
        // the skip, the voxels and one slice more (to tell a file longer than its sizes)
        Encoding::Raw => (h.byte_skip as u64).saturating_add(n_bytes + slice),
        // deflate never grows data by more than 5 bytes a 64 KiB block; text needs at most
        // a few dozen characters a value
        Encoding::Gzip => (h.byte_skip as u64)
            .saturating_add(n_bytes + slice)
            .saturating_mul(2)
            .saturating_add(1 << 16),
        Encoding::Text => 64 * n_vox as u64 + (1 << 16),
    };
    if left > limit && h.encoding != Encoding::Raw {
        return Err(VolumeError::BadHeader {
            file: path.into(),
            reason: format!(
                "the data file is {left} bytes, more than {} {}x{}x{} voxels can take; \
                 the header's sizes or `data file` are wrong",
                h.dtype.name(),
                h.dims[0],
                h.dims[1],
                h.dims[2]
            ),
        });
    }
    let mut bytes = Vec::new();
    r.take(limit).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

fn skip_lines(data: &[u8], n: usize) -> Option<&[u8]> {
    let mut rest = data;
    for _ in 0..n {
        let p = rest.iter().position(|&b| b == b'\n')?;
        rest = &rest[p + 1..];
    }
    Some(rest)
}

/// The voxels of the payload, decoded and transposed from the file's x-fastest order to C order.
fn decode(
    file: &Path,
    payload: &[u8],
    h: &NrrdHeader,
    n_vox: usize,
) -> Result<Vec<f32>, VolumeError> {
    let truncated = |reason: String| VolumeError::Truncated {
        file: file.into(),
        reason,
    };
    let [nx, ny, nz] = h.dims;
    let to_c = |f: usize| ((f % nx) * ny + (f / nx) % ny) * nz + f / (nx * ny);
    let mut data = vec![0f32; n_vox];
    if h.encoding == Encoding::Text {
        let mut count = 0;
        for word in std::str::from_utf8(payload)
            .map_err(|_| truncated("text data that is not text".into()))?
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            if count == n_vox {
                return Err(too_long(file, h));
            }
            let v: f64 = word.parse().map_err(|_| VolumeError::BadHeader {
                file: file.into(),
                reason: format!("text data: {} is not a number", quote(word)),
            })?;
            data[to_c(count)] = v as f32;
            count += 1;
        }
        if count < n_vox {
            return Err(truncated(format!(
                "{count} of {n_vox} values in the text data"
            )));
        }
        return Ok(data);
    }
    let n_bytes = n_vox * h.dtype.size();
    let owned;
    let raw: &[u8] = match h.encoding {
        Encoding::Raw => {
            let start = if h.byte_skip == -1 {
                payload.len().checked_sub(n_bytes).ok_or_else(|| {
                    truncated(format!("{} data bytes, {n_bytes} needed", payload.len()))
                })?
            } else {
                h.byte_skip as usize
            };
            let end = start.saturating_add(n_bytes);
            if payload.len() < end {
                return Err(truncated(format!(
                    "{} data bytes, {end} needed",
                    payload.len()
                )));
            }
            if h.byte_skip != -1 && payload.len() - end >= nx * ny * h.dtype.size() {
                return Err(too_long(file, h));
            }
            &payload[start..end]
        }
        Encoding::Gzip => {
            let mut gz = GzipStream::new(payload);
            let gz_err = |e: std::io::Error| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    truncated("the gzip stream ends early".into())
                } else {
                    VolumeError::Gzip {
                        file: file.into(),
                        reason: e.to_string(),
                    }
                }
            };
            std::io::copy(
                &mut (&mut gz).take(h.byte_skip as u64),
                &mut std::io::sink(),
            )
            .map_err(gz_err)?;
            let mut buf = Vec::with_capacity(n_bytes);
            (&mut gz)
                .take(n_bytes as u64)
                .read_to_end(&mut buf)
                .map_err(gz_err)?;
            if buf.len() < n_bytes {
                return Err(truncated(format!(
                    "{} bytes after decompression, {n_bytes} needed",
                    buf.len()
                )));
            }
            let mut probe = vec![0u8; nx * ny * h.dtype.size()];
            let mut extra = 0;
            while extra < probe.len() {
                match gz.read(&mut probe[extra..]).map_err(gz_err)? {
                    0 => break,
                    k => extra += k,
                }
            }
            if extra == probe.len() {
                return Err(too_long(file, h));
            }
            owned = buf;
            &owned
        }
        Encoding::Text => unreachable!("handled above"),
    };
    // voxels that are themselves a gzip stream: compressed twice, or compressed under `raw`
    if starts_gzip_member(raw) {
        return Err(VolumeError::BadHeader {
            file: file.into(),
            reason: if h.encoding == Encoding::Gzip {
                "the voxel data is gzip-compressed twice (it decompresses to another gzip \
                 stream); decompress it once and save again"
            } else {
                "the voxel data is a gzip stream but the header's encoding is raw; \
                 set `encoding: gzip`"
            }
            .into(),
        });
    }
    let endian = h.endian.unwrap_or(Endian::Little);
    super::file_order::decode_to_c_order(raw, h.dims, h.dtype.size(), &mut data, |_, chunk| {
        h.dtype.decode(chunk, endian) as f32
    });
    Ok(data)
}

/// A full slice or more beyond the voxels means the sizes are wrong: reading on would scramble.
fn too_long(file: &Path, h: &NrrdHeader) -> VolumeError {
    VolumeError::BadHeader {
        file: file.into(),
        reason: format!(
            "the file holds more voxel data than its sizes {}x{}x{} ({}) say; the header is wrong",
            h.dims[0],
            h.dims[1],
            h.dims[2],
            h.dtype.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// A 3x2x2 volume whose voxel (x, y, z) holds 100x + 10y + z, x fastest in the file.
    fn values() -> Vec<f64> {
        let mut v = Vec::new();
        for z in 0..2 {
            for y in 0..2 {
                for x in 0..3 {
                    v.push((100 * x + 10 * y + z) as f64);
                }
            }
        }
        v
    }

    fn nrrd(header: &str, payload: &[u8]) -> Vec<u8> {
        let mut b = format!("NRRD0004\n{header}\n").into_bytes();
        b.extend_from_slice(payload);
        b
    }

    fn read_ok(bytes: &[u8]) -> Volume {
        read_nrrd_bytes("t.nrrd", bytes, &ReadOptions::default()).unwrap()
    }

    fn read_err(bytes: &[u8]) -> String {
        read_nrrd_bytes("t.nrrd", bytes, &ReadOptions::default())
            .unwrap_err()
            .to_string()
    }

    fn check_values(v: &Volume) {
        assert_eq!(v.dims, [3, 2, 2]);
        for x in 0..3 {
            for y in 0..2 {
                for z in 0..2 {
                    assert_eq!(v.data[v.index(x, y, z)], (100 * x + 10 * y + z) as f32);
                }
            }
        }
    }

    #[test]
    fn raw_and_gzip_in_both_byte_orders() {
        let le: Vec<u8> = values()
            .iter()
            .flat_map(|&v| (v as i16).to_le_bytes())
            .collect();
        let be: Vec<u8> = values()
            .iter()
            .flat_map(|&v| (v as i16).to_be_bytes())
            .collect();
        let head = |enc: &str, end: &str| {
            format!("type: short\ndimension: 3\nsizes: 3 2 2\nendian: {end}\nencoding: {enc}\n")
        };
        let v = read_ok(&nrrd(&head("raw", "little"), &le));
        check_values(&v);
        assert_eq!(v.source_dtype, DataType::Int16);
        check_values(&read_ok(&nrrd(&head("raw", "big"), &be)));
        check_values(&read_ok(&nrrd(&head("gzip", "big"), &gz(&be))));
        check_values(&read_ok(&nrrd(&head("gz", "little"), &gz(&le))));
    }

    #[test]
    fn text_float_and_skips() {
        let text: Vec<String> = values().iter().map(|v| v.to_string()).collect();
        let h = "type: float\ndimension: 3\nsizes: 3 2 2\nencoding: text\n";
        check_values(&read_ok(&nrrd(h, text.join(" ").as_bytes())));
        // byte skip: 5 junk bytes first; -1: the data are the last bytes.
        let f: Vec<u8> = values()
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect();
        let mut skipped = b"junk!".to_vec();
        skipped.extend_from_slice(&f);
        let h = "type: float\ndimension: 3\nsizes: 3 2 2\nendian: little\nencoding: raw\nbyte skip: 5\n";
        check_values(&read_ok(&nrrd(h, &skipped)));
        let h = "type: float\ndimension: 3\nsizes: 3 2 2\nendian: little\nencoding: raw\nbyte skip: -1\n";
        check_values(&read_ok(&nrrd(h, &skipped)));
        // Comments and key:=value lines are ignored; field names are case-insensitive.
        let h = "# a comment\nTYPE: uchar\nname:=a: b\ndimension: 3\nsizes: 3 2 2\nencoding: raw\n";
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        assert_eq!(read_ok(&nrrd(h, &u8s)).data[1], 1.0);
    }

    /// Geometry no mask could go back onto is refused when read (it used to panic later, in the
    /// reorientation, or to write masks semiseg then refused).
    #[test]
    fn singular_or_overflowing_geometry_is_refused() {
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        for (dirs, want) in [
            ("(0,0,0) (0,0,0) (0,0,0)", "singular"),
            ("(1,0,0) (2,0,0) (0,0,1)", "singular"),
            ("(1,0,0) (0,0,0) (0,0,1)", "singular"),
            ("(1e308,0,0) (0,1e308,0) (0,0,1e308)", "overflows"),
        ] {
            let h = format!(
                "type: uchar\ndimension: 3\nspace: RAS\nsizes: 3 2 2\nspace directions: {dirs}\nencoding: raw\n"
            );
            let e = read_err(&nrrd(&h, &u8s));
            assert!(e.contains(want), "{dirs}: {e}");
        }
        let h = "type: uchar\ndimension: 3\nsizes: 3 2 2\nspacings: 2 0 4\nencoding: raw\n";
        assert!(read_err(&nrrd(h, &u8s)).contains("singular"));
    }

    #[test]
    fn lps_geometry_becomes_ras() {
        // LPS directions and origin: the x and y world components change sign (spec B1: the LA
        // challenge files are LPS).
        let h = "type: uchar\ndimension: 3\nspace: left-posterior-superior\nsizes: 3 2 2\n\
                 space directions: (0.625,0,0) (0,0.625,0) (0,0,2.5)\nendian: little\nencoding: raw\n\
                 space origin: (10,-20,30)\n";
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        let v = read_ok(&nrrd(h, &u8s));
        assert_eq!(v.affine[0], [-0.625, 0.0, 0.0, -10.0]);
        assert_eq!(v.affine[1], [0.0, -0.625, 0.0, 20.0]);
        assert_eq!(v.affine[2], [0.0, 0.0, 2.5, 30.0]);
        assert_eq!(v.orientation(), "LPS");
        assert_eq!(v.spacing(), [0.625, 0.625, 2.5]);
        // RAS is kept; `spacings` alone gives a diagonal.
        let h = "type: uchar\ndimension: 3\nspace: RAS\nsizes: 3 2 2\n\
                 space directions: (0,1,0) (-1,0,0) (0,0,1)\nencoding: raw\n";
        let v = read_ok(&nrrd(h, &u8s));
        assert_eq!(v.affine[0], [0.0, -1.0, 0.0, 0.0]);
        let h = "type: uchar\ndimension: 3\nsizes: 3 2 2\nspacings: 2 3 4\nencoding: raw\n";
        assert_eq!(read_ok(&nrrd(h, &u8s)).spacing(), [2.0, 3.0, 4.0]);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        let base = "type: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\n";
        assert!(read_err(&nrrd(base, &u8s[..10])).contains("truncated"));
        let mut long = u8s.clone();
        long.extend_from_slice(&[0; 6]);
        assert!(read_err(&nrrd(base, &long)).contains("more voxel data"));
        let e = read_err(&nrrd(&base.replace("raw", "bzip2"), &u8s));
        assert!(e.contains("bzip2") && e.contains("unu save"), "{e}");
        let e = read_err(&nrrd(
            "type: short\ndimension: 3\nsizes: 3 2 2\nencoding: raw\n",
            &u8s,
        ));
        assert!(e.contains("endian"), "{e}");
        let e = read_err(&nrrd(
            "type: float\ndimension: 4\nsizes: 3 2 2 2\nencoding: raw\n",
            &u8s,
        ));
        assert!(e.contains("4D"), "{e}");
        let e = read_err(&nrrd(&base.replace("uchar", "long long"), &u8s));
        assert!(e.contains("long long voxels"), "{e}");
        let e = read_err(&nrrd(&base.replace("sizes: 3 2 2\n", ""), &u8s));
        assert!(e.contains("`sizes` field is missing"), "{e}");
        let e = read_err(&nrrd(&format!("{base}data file: t.raw\n"), b""));
        assert!(e.contains("separate file"), "{e}");
        let e = read_err(&nrrd(&base.replace("raw", "gzip"), &gz(&u8s)[..12]));
        assert!(e.contains("truncated") || e.contains("gzip"), "{e}");
        let nan: Vec<u8> = (0..12)
            .flat_map(|i| {
                let v: f32 = if i == 7 { f32::NAN } else { 0.0 };
                v.to_le_bytes()
            })
            .collect();
        let e = read_err(&nrrd(
            "type: float\ndimension: 3\nsizes: 3 2 2\nendian: little\nencoding: raw\n",
            &nan,
        ));
        // file index 7 = x 1, y 0, z 1
        assert!(e.contains("[1, 0, 1]"), "{e}");
        assert!(read_err(b"P5 2 2 255\n").contains("not an NRRD"));
        let big = ReadOptions {
            max_voxels: 11,
            ..ReadOptions::default()
        };
        let e = read_nrrd_bytes("t.nrrd", &nrrd(base, &u8s), &big).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
    }

    #[test]
    fn detached_data_file_next_to_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        std::fs::write(dir.path().join("v.raw.gz"), gz(&u8s)).unwrap();
        std::fs::write(
            dir.path().join("v.nhdr"),
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: gzip\ndata file: v.raw.gz\n",
        )
        .unwrap();
        check_values(&read_nrrd(dir.path().join("v.nhdr"), &ReadOptions::default()).unwrap());
    }

    #[test]
    fn data_file_that_is_not_a_regular_file_is_refused_at_once() {
        // before: /dev/zero was read until memory ran out, and a FIFO blocked
        let dir = tempfile::tempdir().unwrap();
        let head = |file: &str| {
            format!("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\ndata file: {file}\n")
        };
        for target in ["/dev/zero", "/dev/urandom"] {
            std::fs::write(dir.path().join("v.nhdr"), head(target)).unwrap();
            let e = read_nrrd(dir.path().join("v.nhdr"), &ReadOptions::default()).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("v.nhdr"), head("sub")).unwrap();
        let e = read_nrrd(dir.path().join("v.nhdr"), &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn only_the_bytes_needed_are_read_from_a_data_file() {
        let dir = tempfile::tempdir().unwrap();
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        // the voxels at the end of a long file (byte skip -1): read from its tail
        let mut tail = vec![7u8; 100_000];
        tail.extend_from_slice(&u8s);
        std::fs::write(dir.path().join("v.raw"), &tail).unwrap();
        std::fs::write(
            dir.path().join("v.nhdr"),
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\nbyte skip: -1\ndata file: v.raw\n",
        )
        .unwrap();
        check_values(&read_nrrd(dir.path().join("v.nhdr"), &ReadOptions::default()).unwrap());
        let header = parse_header(
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\nbyte skip: -1\n",
        )
        .unwrap();
        let bytes = read_data_file(&dir.path().join("v.raw"), &header, 12).unwrap();
        assert_eq!(bytes, u8s);
        // a gzip data file far larger than any stream of these voxels: refused before reading
        let header =
            parse_header("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: gzip\n")
                .unwrap();
        let e = read_data_file(&dir.path().join("v.raw"), &header, 12).unwrap_err();
        assert!(
            e.to_string().contains("more than uint8 3x2x2 voxels"),
            "{e}"
        );
        // skipped lines of a detached file
        let mut lines = b"one\ntwo\n".to_vec();
        lines.extend_from_slice(&u8s);
        std::fs::write(dir.path().join("l.raw"), &lines).unwrap();
        std::fs::write(
            dir.path().join("l.nhdr"),
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\nline skip: 2\ndata file: l.raw\n",
        )
        .unwrap();
        check_values(&read_nrrd(dir.path().join("l.nhdr"), &ReadOptions::default()).unwrap());
        std::fs::write(
            dir.path().join("l.nhdr"),
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\nline skip: 9\ndata file: l.raw\n",
        )
        .unwrap();
        let e = read_nrrd(dir.path().join("l.nhdr"), &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("skip 9 lines"), "{e}");
    }

    #[test]
    fn gzip_inside_gzip_is_refused_not_read_as_voxels() {
        // 12 uint8 voxels whose single gzip is 12 bytes or more: gzipped again, the outer stream
        // decompressed to a gzip stream that was taken as voxels
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        let inner = gz(&u8s);
        let sizes = format!("{} 1 1", inner.len());
        let head = format!("type: uchar\ndimension: 3\nsizes: {sizes}\nencoding: gzip\n");
        let e = read_err(&nrrd(&head, &gz(&inner)));
        assert!(e.contains("compressed twice"), "{e}");
        let e = read_err(&nrrd(&head.replace("gzip", "raw"), &inner));
        assert!(e.contains("encoding: gzip"), "{e}");
    }

    #[test]
    fn huge_values_are_cut_in_messages() {
        // a text NRRD without the empty line before its data: a 1 MB data line was quoted whole
        let data = "1 ".repeat(500_000);
        let bytes =
            format!("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: text\n{data}\n");
        let e = read_err(bytes.as_bytes());
        assert!(e.len() < 400, "{} characters", e.len());
        assert!(e.contains("empty line"), "{e}");
        assert!(e.contains("1000000 characters"), "{e}");
        let e = read_err(&nrrd(&format!("type: {}\n", "x".repeat(5000)), b""));
        assert!(e.len() < 400, "{e}");
    }

    #[test]
    fn huge_byte_skip_is_a_truncation_not_an_overflow() {
        let u8s: Vec<u8> = values().iter().map(|&v| v as u8).collect();
        let head = "type: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw\nbyte skip: 9223372036854775807\n";
        assert!(read_err(&nrrd(head, &u8s)).contains("truncated"));
    }
}
