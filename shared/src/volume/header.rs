//! The NIfTI header, unified over NIfTI-1 (348 bytes, parsed by the `nifti` crate) and NIfTI-2
//! (540 bytes, parsed here: the `nifti` crate reads only NIfTI-1), and the affine it defines.

use super::dtype::DataType;

/// Byte order of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Endian {
    Little,
    Big,
}

/// Which NIfTI format a header came from (and is written back as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NiftiVersion {
    One,
    Two,
}

/// Where the voxel-to-world affine came from, by the priority semiseg uses (the one of nibabel's
/// `get_best_affine`, except that with no xform the NIfTI standard's method 1 is used):
/// `sform_code > 0` wins, then `qform_code > 0`, then the spacing alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AffineSource {
    Sform,
    Qform,
    /// Neither xform set: `diag(pixdim[1..=3])` (NIfTI "method 1").
    Pixdim,
}

/// A NIfTI-1 or NIfTI-2 header with every field kept, in the widest type either version uses, so a
/// scan can be written back with the fields it came with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NiftiHeader {
    pub version: NiftiVersion,
    pub endian: Endian,
    pub dim_info: u8,
    pub dim: [i64; 8],
    pub intent_p: [f64; 3],
    pub intent_code: i32,
    pub datatype: i16,
    pub bitpix: i16,
    pub slice_start: i64,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub slice_end: i64,
    pub slice_code: i32,
    pub xyzt_units: i32,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_duration: f64,
    pub toffset: f64,
    pub descrip: Vec<u8>,
    pub aux_file: Vec<u8>,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub intent_name: Vec<u8>,
    /// `true` for a single `.nii` file (magic `n+1`/`n+2`), `false` for a `.hdr/.img` pair.
    pub single_file: bool,
}

pub(crate) const NIFTI1_SIZE: usize = 348;
pub(crate) const NIFTI2_SIZE: usize = 540;
pub(crate) const NIFTI2_MAGIC_TAIL: [u8; 4] = [b'\r', b'\n', 0x1a, b'\n'];

/// Reads fixed-size fields at byte offsets in one byte order.
struct Fields<'a> {
    b: &'a [u8],
    endian: Endian,
}

macro_rules! field {
    ($name:ident, $t:ty) => {
        fn $name(&self, at: usize) -> $t {
            let arr = self.b[at..at + std::mem::size_of::<$t>()]
                .try_into()
                .unwrap();
            match self.endian {
                Endian::Little => <$t>::from_le_bytes(arr),
                Endian::Big => <$t>::from_be_bytes(arr),
            }
        }
    };
}

impl Fields<'_> {
    field!(i16, i16);
    field!(i32, i32);
    field!(i64, i64);
    field!(f64, f64);
}

/// What a file that is not NIfTI is, from its magic bytes, and what to do with it: the formats
/// people most often open by mistake (a slice exported as an image, a DICOM file, an archive).
fn other_format(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    macro_rules! image {
        ($kind:literal) => {
            concat!(
                "it is a ",
                $kind,
                " image; semiseg reads 3D volumes in NIfTI (.nii, .nii.gz)"
            )
        };
    }
    Some(if starts(b"\x89PNG") {
        image!("PNG")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        image!("JPEG")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        image!("TIFF")
    } else if at(128, b"DICM") {
        "it is a DICOM file; convert the series to one NIfTI volume first (e.g. with dcm2niix)"
    } else if starts(b"NRRD") {
        "it is an NRRD volume, and here (a dataset) scans must be NIfTI: convert it first \
         (the LA challenge's raw scans with `semiseg prepare-la`, others with 3D Slicer or SimpleITK)"
    } else if starts(b"ObjectType") {
        "it is a MetaImage (.mha/.mhd) volume; convert it to NIfTI first (e.g. with SimpleITK)"
    } else if starts(b"\x89HDF") {
        "it is an HDF5 file (e.g. the .h5 volumes of UA-MT's LA release); export the image to NIfTI first"
    } else if starts(b"PK\x03\x04") {
        "it is a ZIP archive; unpack it and open the .nii or .nii.gz inside"
    } else if at(257, b"ustar") {
        "it is a tar archive; unpack it and open the .nii or .nii.gz inside"
    } else {
        return None;
    })
}

impl NiftiHeader {
    /// Size in bytes of the header on disk.
    pub fn size(&self) -> usize {
        match self.version {
            NiftiVersion::One => NIFTI1_SIZE,
            NiftiVersion::Two => NIFTI2_SIZE,
        }
    }

    /// Parse a header from the first bytes of a file. `Err` is a human reason (the caller adds the
    /// file name): wrong magic, truncation or an impossible field.
    pub fn parse(bytes: &[u8]) -> Result<NiftiHeader, ParseError> {
        if bytes.len() < 4 {
            return Err(ParseError::Truncated(format!(
                "{} bytes, less than a header",
                bytes.len()
            )));
        }
        let size_le = i32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let size_be = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
        let wanted = |n: usize| {
            if bytes.len() < n {
                Err(ParseError::Truncated(format!(
                    "{} bytes, a NIfTI header needs {n}",
                    bytes.len()
                )))
            } else {
                Ok(())
            }
        };
        if size_le == NIFTI1_SIZE as i32 || size_be == NIFTI1_SIZE as i32 {
            wanted(NIFTI1_SIZE)?;
            Self::parse_nifti1(&bytes[..NIFTI1_SIZE])
        } else if size_le == NIFTI2_SIZE as i32 || size_be == NIFTI2_SIZE as i32 {
            wanted(NIFTI2_SIZE)?;
            let endian = if size_le == NIFTI2_SIZE as i32 {
                Endian::Little
            } else {
                Endian::Big
            };
            Self::parse_nifti2(&bytes[..NIFTI2_SIZE], endian)
        } else if let Some(what) = other_format(bytes) {
            Err(ParseError::NotNifti(what.into()))
        } else {
            Err(ParseError::NotNifti(format!(
                "the first 4 bytes ({:02x?}) are not a NIfTI header size (348 or 540)",
                &bytes[0..4]
            )))
        }
    }

    /// NIfTI-1 through the `nifti` crate, which also detects the byte order.
    fn parse_nifti1(bytes: &[u8]) -> Result<NiftiHeader, ParseError> {
        let magic = &bytes[344..348];
        let single_file = match magic {
            b"n+1\0" => true,
            b"ni1\0" => false,
            other => {
                return Err(ParseError::NotNifti(format!(
                    "NIfTI-1 magic is {:?}, expected \"n+1\" or \"ni1\" (ANALYZE 7.5 files are not supported)",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let h = nifti::NiftiHeader::from_reader(bytes)
            .map_err(|e| ParseError::BadHeader(format!("NIfTI-1 header: {e}")))?;
        let endian = if h.endianness == nifti::Endianness::Little {
            Endian::Little
        } else {
            Endian::Big
        };
        // The crate stores dims as u16; NIfTI-1 defines them as signed shorts.
        let dim = h.dim.map(|d| d as i16 as i64);
        Ok(NiftiHeader {
            version: NiftiVersion::One,
            endian,
            dim_info: h.dim_info,
            dim,
            intent_p: [h.intent_p1 as f64, h.intent_p2 as f64, h.intent_p3 as f64],
            intent_code: h.intent_code as i32,
            datatype: h.datatype,
            bitpix: h.bitpix,
            slice_start: h.slice_start as i64,
            pixdim: h.pixdim.map(|p| p as f64),
            vox_offset: h.vox_offset as f64,
            scl_slope: h.scl_slope as f64,
            scl_inter: h.scl_inter as f64,
            slice_end: h.slice_end as i64,
            slice_code: h.slice_code as i32,
            xyzt_units: h.xyzt_units as i32,
            cal_max: h.cal_max as f64,
            cal_min: h.cal_min as f64,
            slice_duration: h.slice_duration as f64,
            toffset: h.toffset as f64,
            descrip: h.descrip.clone(),
            aux_file: h.aux_file.to_vec(),
            qform_code: h.qform_code as i32,
            sform_code: h.sform_code as i32,
            quatern: [h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64],
            qoffset: [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64],
            srow: [
                h.srow_x.map(|v| v as f64),
                h.srow_y.map(|v| v as f64),
                h.srow_z.map(|v| v as f64),
            ],
            intent_name: h.intent_name.to_vec(),
            single_file,
        })
    }

    /// NIfTI-2 (540-byte header; field offsets from `nifti2.h`).
    fn parse_nifti2(b: &[u8], endian: Endian) -> Result<NiftiHeader, ParseError> {
        let magic = &b[4..12];
        let single_file = match &magic[0..4] {
            b"n+2\0" => true,
            b"ni2\0" => false,
            other => {
                return Err(ParseError::NotNifti(format!(
                    "NIfTI-2 magic is {:?}, expected \"n+2\" or \"ni2\"",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        if magic[4..8] != NIFTI2_MAGIC_TAIL {
            return Err(ParseError::NotNifti(
                "NIfTI-2 magic is damaged (the bytes after \"n+2\" are not \\r\\n\\x1a\\n; was the file transferred in text mode?)".into(),
            ));
        }
        let f = Fields { b, endian };
        let arr8_i64 = |at: usize| std::array::from_fn(|i| f.i64(at + 8 * i));
        let arr_f64 = |at: usize| -> [f64; 4] { std::array::from_fn(|i| f.f64(at + 8 * i)) };
        Ok(NiftiHeader {
            version: NiftiVersion::Two,
            endian,
            datatype: f.i16(12),
            bitpix: f.i16(14),
            dim: arr8_i64(16),
            intent_p: [f.f64(80), f.f64(88), f.f64(96)],
            pixdim: std::array::from_fn(|i| f.f64(104 + 8 * i)),
            vox_offset: f.i64(168) as f64,
            scl_slope: f.f64(176),
            scl_inter: f.f64(184),
            cal_max: f.f64(192),
            cal_min: f.f64(200),
            slice_duration: f.f64(208),
            toffset: f.f64(216),
            slice_start: f.i64(224),
            slice_end: f.i64(232),
            descrip: b[240..320].to_vec(),
            aux_file: b[320..344].to_vec(),
            qform_code: f.i32(344),
            sform_code: f.i32(348),
            quatern: [f.f64(352), f.f64(360), f.f64(368)],
            qoffset: [f.f64(376), f.f64(384), f.f64(392)],
            srow: [arr_f64(400), arr_f64(432), arr_f64(464)],
            slice_code: f.i32(496),
            xyzt_units: f.i32(500),
            intent_code: f.i32(504),
            intent_name: b[508..524].to_vec(),
            dim_info: b[524],
            single_file,
        })
    }

    /// A fresh little-endian NIfTI-1 header for a 3D volume with this affine (sform only).
    pub fn for_affine(dims: [usize; 3], affine: &[[f64; 4]; 4], datatype: DataType) -> Self {
        let spacing = spacing_of(affine);
        let mut descrip = b"semiseg".to_vec();
        descrip.resize(80, 0);
        NiftiHeader {
            version: NiftiVersion::One,
            endian: Endian::Little,
            dim_info: 0,
            dim: [
                3,
                dims[0] as i64,
                dims[1] as i64,
                dims[2] as i64,
                1,
                1,
                1,
                1,
            ],
            intent_p: [0.0; 3],
            intent_code: 0,
            datatype: datatype.code(),
            bitpix: (datatype.size() * 8) as i16,
            slice_start: 0,
            pixdim: [1.0, spacing[0], spacing[1], spacing[2], 1.0, 1.0, 1.0, 1.0],
            vox_offset: 352.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            slice_end: 0,
            slice_code: 0,
            xyzt_units: 2, // millimetres
            cal_max: 0.0,
            cal_min: 0.0,
            slice_duration: 0.0,
            toffset: 0.0,
            descrip,
            aux_file: vec![0; 24],
            qform_code: 0,
            sform_code: 2, // aligned to some anatomical frame
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [affine[0], affine[1], affine[2]],
            intent_name: vec![0; 16],
            single_file: true,
        }
    }

    /// The voxel-to-world affine by semiseg's priority (see [`AffineSource`]).
    pub fn affine(&self) -> ([[f64; 4]; 4], AffineSource) {
        if self.sform_code > 0 {
            let s = self.srow;
            (
                [s[0], s[1], s[2], [0.0, 0.0, 0.0, 1.0]],
                AffineSource::Sform,
            )
        } else if self.qform_code > 0 {
            (self.qform_affine(), AffineSource::Qform)
        } else {
            // negative voxel sizes count as positive, as nibabel reads them
            let p = self.pixdim.map(f64::abs);
            (
                [
                    [p[1], 0.0, 0.0, 0.0],
                    [0.0, p[2], 0.0, 0.0],
                    [0.0, 0.0, p[3], 0.0],
                    [0.0, 0.0, 0.0, 1.0],
                ],
                AffineSource::Pixdim,
            )
        }
    }

    /// The quaternion affine (NIfTI "method 2"): `R(b,c,d) · diag(dx, dy, qfac·dz) + qoffset`, as
    /// nibabel reads it: the voxel sizes are `|pixdim[1..=3]|` (nibabel sets negative ones to their
    /// absolute value on load) and the rotation is normalised (`quat2mat`). A quaternion whose
    /// `b² + c² + d²` passes 1 is no rotation: [`NiftiHeader::quaternion_problem`] refuses it.
    pub fn qform_affine(&self) -> [[f64; 4]; 4] {
        let [b, c, d] = self.quatern;
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        // nibabel's quat2mat: s = 2 / |q|² makes R orthonormal for any non-zero q
        let norm2 = a * a + b * b + c * c + d * d;
        let s = if norm2 < f64::EPSILON {
            0.0
        } else {
            2.0 / norm2
        };
        let r = [
            [
                1.0 - s * (c * c + d * d),
                s * (b * c - a * d),
                s * (b * d + a * c),
            ],
            [
                s * (b * c + a * d),
                1.0 - s * (b * b + d * d),
                s * (c * d - a * b),
            ],
            [
                s * (b * d - a * c),
                s * (c * d + a * b),
                1.0 - s * (b * b + c * c),
            ],
        ];
        let qfac = if self.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let p = self.pixdim.map(f64::abs);
        let scale = [p[1], p[2], qfac * p[3]];
        let mut m = [[0.0; 4]; 4];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = r[i][j] * scale[j];
            }
            m[i][3] = self.qoffset[i];
        }
        m[3][3] = 1.0;
        m
    }

    /// Why the quaternion cannot be a rotation, if it cannot: `b² + c² + d²` above 1 (beyond
    /// rounding: nibabel's threshold of 3 float32 epsilons) leaves no real `a`. nibabel refuses
    /// such a file ("w2 should be positive"); semiseg does too, where the qform is the affine used.
    pub fn quaternion_problem(&self) -> Option<String> {
        let [b, c, d] = self.quatern;
        let w2 = 1.0 - (b * b + c * c + d * d);
        (w2.is_nan() || w2 < -3.0 * f32::EPSILON as f64).then(|| {
            format!(
                "the qform quaternion (b, c, d) = ({b}, {c}, {d}) is not a rotation                  (b² + c² + d² = {:.4} > 1); fix quatern_b/c/d or give an sform",
                1.0 - w2
            )
        })
    }

    /// The description field as text (up to its first NUL).
    pub fn description(&self) -> String {
        let end = self
            .descrip
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(self.descrip.len());
        String::from_utf8_lossy(&self.descrip[..end]).into_owned()
    }
}

/// Voxel sizes: the lengths of the affine's first three columns.
pub fn spacing_of(affine: &[[f64; 4]; 4]) -> [f64; 3] {
    std::array::from_fn(|j| (0..3).map(|i| affine[i][j].powi(2)).sum::<f64>().sqrt())
}

/// Why a header could not be parsed; the reader turns it into a [`super::VolumeError`].
#[derive(Debug)]
pub enum ParseError {
    NotNifti(String),
    Truncated(String),
    BadHeader(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qform_of_identity_quaternion_is_diagonal() {
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.pixdim = [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0];
        h.qoffset = [5.0, 6.0, 7.0];
        let m = h.qform_affine();
        assert_eq!(m[0], [2.0, 0.0, 0.0, 5.0]);
        assert_eq!(m[1], [0.0, 3.0, 0.0, 6.0]);
        assert_eq!(m[2], [0.0, 0.0, 4.0, 7.0]);
        // qfac = -1 flips the third axis
        h.pixdim[0] = -1.0;
        assert_eq!(h.qform_affine()[2][2], -4.0);
    }

    #[test]
    fn qform_matches_nibabel() {
        // nibabel 5.4: h['pixdim'][1:4] = [1, 2, 3]; quatern (b, c, d) = (0.5, 0.3, 0.2);
        // h.get_qform()[:3, :3] (float32 values)
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.pixdim = [1.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0];
        h.quatern = [0.5, 0.3, 0.2];
        let nibabel = [
            [0.73999998, -0.02992061, 2.01732147],
            [0.61496033, 0.84, -2.00220233],
            [-0.27244049, 1.81480158, 0.95999996],
        ];
        let m = h.qform_affine();
        for i in 0..3 {
            for j in 0..3 {
                assert!((m[i][j] - nibabel[i][j]).abs() < 1e-6, "{i},{j}: {m:?}");
            }
        }
        assert!(h.quaternion_problem().is_none());
    }

    #[test]
    fn negative_pixdim_is_read_as_its_absolute_value_as_nibabel_does() {
        // nibabel.load: "pixdim[1,2,3] should be positive; setting to abs of pixdim values";
        // before, a negative pixdim[2] mirrored the second axis
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.pixdim = [1.0, 1.0, -2.0, 3.0, 1.0, 1.0, 1.0, 1.0];
        h.sform_code = 0;
        h.qform_code = 1;
        let (m, _) = h.affine();
        assert_eq!((m[0][0], m[1][1], m[2][2]), (1.0, 2.0, 3.0));
        h.qform_code = 0;
        let (m, src) = h.affine();
        assert_eq!(src, AffineSource::Pixdim);
        assert_eq!((m[0][0], m[1][1], m[2][2]), (1.0, 2.0, 3.0));
    }

    #[test]
    fn quaternion_past_unit_length_is_refused_as_nibabel_does() {
        // nibabel.load: "w2 should be positive, but is -6.199999e-01"; before, such a
        // quaternion scaled the voxel size
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.quatern = [0.9, 0.9, 0.0];
        let problem = h.quaternion_problem().expect("refused");
        assert!(problem.contains("1.6200 > 1"), "{problem}");
        // a rounding error over 1 is fine (180 degrees about x, stored in float32)
        h.quatern = [1.0 + 1e-7, 0.0, 0.0];
        assert!(h.quaternion_problem().is_none());
        let m = h.qform_affine();
        let sizes = spacing_of(&m);
        for s in sizes {
            assert!((s - 1.0).abs() < 1e-6, "{sizes:?}");
        }
    }

    #[test]
    fn qform_of_180_degrees_about_z_flips_x_and_y() {
        // b=c=0, d=1 (a=0): rotation by pi about z = LPS from RAS
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.quatern = [0.0, 0.0, 1.0];
        let m = h.qform_affine();
        assert_eq!((m[0][0], m[1][1], m[2][2]), (-1.0, -1.0, 1.0));
    }

    #[test]
    fn affine_priority_is_sform_then_qform_then_pixdim() {
        let mut h = NiftiHeader::for_affine([2, 2, 2], &identity(), DataType::Uint8);
        h.srow[0][0] = 9.0;
        h.qform_code = 1;
        assert_eq!(h.affine().1, AffineSource::Sform);
        assert_eq!(h.affine().0[0][0], 9.0);
        h.sform_code = 0;
        assert_eq!(h.affine().1, AffineSource::Qform);
        h.qform_code = 0;
        h.pixdim[1] = 0.5;
        let (m, src) = h.affine();
        assert_eq!(src, AffineSource::Pixdim);
        assert_eq!(m[0][0], 0.5);
    }

    #[test]
    fn names_the_formats_opened_by_mistake() {
        let reason = |bytes: &[u8]| match NiftiHeader::parse(bytes) {
            Err(ParseError::NotNifti(r)) => r,
            other => panic!("{other:?}"),
        };
        assert!(reason(b"\x89PNG\r\n\x1a\n").starts_with("it is a PNG image"));
        assert!(reason(&[0xff, 0xd8, 0xff, 0xe0]).starts_with("it is a JPEG image"));
        assert!(reason(b"MM\0*\0\0\0\x08").starts_with("it is a TIFF image"));
        let mut dicom = vec![0u8; 540];
        dicom[128..132].copy_from_slice(b"DICM");
        assert!(reason(&dicom).contains("DICOM file; convert the series"));
        assert!(reason(b"NRRD0004\n").contains("NRRD"));
        assert!(reason(b"ObjectType = Image\n").contains("MetaImage"));
        assert!(reason(b"\x89HDF\r\n\x1a\n").contains("HDF5"));
        assert!(reason(b"PK\x03\x04 not a scan").contains("ZIP archive"));
        let mut tar = vec![b'a'; 540];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(reason(&tar).contains("tar archive"));
        // anything else: the bytes that were found
        assert!(reason(b"hello, world").contains("are not a NIfTI header size"));
    }

    #[test]
    fn rejects_non_nifti_bytes() {
        assert!(matches!(
            NiftiHeader::parse(b"PK\x03\x04 not a scan"),
            Err(ParseError::NotNifti(_))
        ));
        let mut short = vec![0u8; 100];
        short[0..4].copy_from_slice(&348i32.to_le_bytes());
        assert!(matches!(
            NiftiHeader::parse(&short),
            Err(ParseError::Truncated(_))
        ));
    }

    fn identity() -> [[f64; 4]; 4] {
        std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }))
    }
}
