//! The [`Volume`]: voxels, geometry and the header they came with.

use super::dtype::DataType;
use super::header::{spacing_of, AffineSource, NiftiHeader};
use super::orientation::axis_codes;

/// A 3D scan or mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Voxel values (after `scl_slope`/`scl_inter`), C order over `(i, j, k)`.
    pub data: Vec<f32>,
    /// Array dimensions `(ni, nj, nk)`.
    pub dims: [usize; 3],
    /// Voxel index `(i, j, k, 1)` to world millimetres (RAS+, the NIfTI convention).
    pub affine: [[f64; 4]; 4],
    /// Where [`Volume::affine`] came from in the header.
    pub affine_source: AffineSource,
    /// The header read from disk (or made for a new volume), kept for writing back.
    pub header: NiftiHeader,
    /// The stored voxel type of the source file.
    pub source_dtype: DataType,
}

impl Volume {
    pub(crate) fn from_parts(
        data: Vec<f32>,
        dims: [usize; 3],
        header: NiftiHeader,
        source_dtype: DataType,
    ) -> Self {
        let (affine, affine_source) = header.affine();
        Volume {
            data,
            dims,
            affine,
            affine_source,
            header,
            source_dtype,
        }
    }

    /// A new volume with this geometry (a fresh NIfTI-1 header with the affine as sform).
    ///
    /// Panics if `data.len()` is not the product of `dims` (a programming error, not user input).
    pub fn new(data: Vec<f32>, dims: [usize; 3], affine: [[f64; 4]; 4]) -> Self {
        assert_eq!(
            data.len(),
            dims.iter().product::<usize>(),
            "data/dims mismatch"
        );
        let header = NiftiHeader::for_affine(dims, &affine, DataType::Float32);
        Volume::from_parts(data, dims, header, DataType::Float32)
    }

    /// A volume on the same grid as `self` (same dims, affine and header) with other voxels, e.g. a
    /// predicted mask for this scan.
    ///
    /// Panics if `data.len()` differs from the voxel count.
    pub fn with_data(&self, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), self.data.len(), "data/dims mismatch");
        Volume {
            data,
            ..self.clone()
        }
    }

    /// Voxel sizes in millimetres along the array axes.
    pub fn spacing(&self) -> [f64; 3] {
        spacing_of(&self.affine)
    }

    /// Orientation codes of the array axes, e.g. `"LAS"` (the direction each axis increases to).
    pub fn orientation(&self) -> String {
        axis_codes(&self.affine).iter().collect()
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Flat index of voxel `(i, j, k)`.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        (i * self.dims[1] + j) * self.dims[2] + k
    }

    /// Minimum and maximum voxel value (`None` for an empty volume).
    pub fn range(&self) -> Option<(f32, f32)> {
        self.data.iter().fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// Whether `other` (e.g. a mask) lies on this volume's grid: same dims and the same affine
    /// within 1e-3 relative. The error says how they differ. Compare volumes in the same
    /// orientation (both canonical, or both as read).
    pub fn aligned_with(&self, other: &Volume) -> Result<(), String> {
        if self.dims != other.dims {
            return Err(format!(
                "{:?} voxels against {:?}: both must be on the same grid",
                other.dims, self.dims
            ));
        }
        let worst = (0..3)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .map(|(i, j)| {
                (other.affine[i][j] - self.affine[i][j]).abs() / (1.0 + self.affine[i][j].abs())
            })
            .fold(0.0, f64::max);
        if worst > 1e-3 {
            return Err("same size but a different affine: they are not aligned in space (was one saved without the scan's header?)".into());
        }
        Ok(())
    }

    /// The voxels as a binary mask (`value > 0.5`) after checking that they are one: a label map
    /// (integer values above 1) is refused with up to 9 of its labels, so the caller can ask the
    /// user to choose one.
    pub fn binary_mask(&self) -> Result<Vec<bool>, Vec<i64>> {
        let mut labels = std::collections::BTreeSet::new();
        for &v in &self.data {
            if v.fract() == 0.0 && v > 1.0 {
                labels.insert(v as i64);
                if labels.len() > 8 {
                    break;
                }
            }
        }
        if labels.is_empty() {
            Ok(self.to_mask())
        } else {
            Err(labels.into_iter().collect())
        }
    }

    /// The voxels as a binary mask (`value > 0.5`), the form the metrics take.
    pub fn to_mask(&self) -> Vec<bool> {
        self.data.iter().map(|&v| v > 0.5).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(data: Vec<f32>) -> Volume {
        let mut aff = [[0.0; 4]; 4];
        for (i, row) in aff.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        Volume::new(data, [1, 1, 4], aff)
    }

    #[test]
    fn binary_mask_refuses_label_maps() {
        assert_eq!(
            vol(vec![0.0, 1.0, 0.7, 0.2]).binary_mask(),
            Ok(vec![false, true, true, false])
        );
        assert_eq!(vol(vec![0.0, 3.0, 2.0, 3.0]).binary_mask(), Err(vec![2, 3]));
    }

    #[test]
    fn aligned_with_checks_dims_and_affine() {
        let a = vol(vec![0.0; 4]);
        assert!(a.aligned_with(&a.clone()).is_ok());
        let mut moved = a.clone();
        moved.affine[0][3] = 5.0;
        assert!(moved.aligned_with(&a).unwrap_err().contains("affine"));
        let other = Volume::new(vec![0.0; 4], [1, 4, 1], a.affine);
        assert!(other.aligned_with(&a).unwrap_err().contains("same grid"));
    }
}
