//! Orientation: which anatomical direction each array axis points to, and the exact (lossless)
//! flips and axis permutations between a scan's own frame and the canonical RAS+ frame used for
//! computation. No resampling: an oblique scan is put in its *closest* canonical frame, as
//! nibabel's `as_closest_canonical` does, and its affine stays exact.

use super::header::NiftiHeader;
use super::Volume;

/// For each array axis, the world axis it mostly follows and whether it points the negative way.
/// Greedy on the direction cosines: the largest remaining |entry| first, so oblique affines get
/// their nearest orthogonal labelling.
fn axis_map(affine: &[[f64; 4]; 4]) -> [(usize, bool); 3] {
    let norm: [f64; 3] =
        std::array::from_fn(|j| (0..3).map(|i| affine[i][j].powi(2)).sum::<f64>().sqrt());
    let mut used_row = [false; 3];
    let mut used_col = [false; 3];
    let mut out = [(0usize, false); 3];
    for _ in 0..3 {
        let mut best = (0, 0, -1.0);
        for (i, row_used) in used_row.iter().enumerate() {
            for (j, col_used) in used_col.iter().enumerate() {
                let v = (affine[i][j] / norm[j]).abs();
                if !row_used && !col_used && v > best.2 {
                    best = (i, j, v);
                }
            }
        }
        let (i, j, _) = best;
        used_row[i] = true;
        used_col[j] = true;
        out[j] = (i, affine[i][j] < 0.0);
    }
    out
}

/// Orientation codes of the array axes: for each axis the direction it increases towards, e.g.
/// `['L','A','S']` for an affine `diag(-1, 1, 1)`.
pub fn axis_codes(affine: &[[f64; 4]; 4]) -> [char; 3] {
    axis_map(affine).map(|(world, negative)| match (world, negative) {
        (0, false) => 'R',
        (0, true) => 'L',
        (1, false) => 'A',
        (1, true) => 'P',
        (2, false) => 'S',
        _ => 'I',
    })
}

/// The exact mapping between a scan's array and its canonical (RAS+) array, kept to map a result
/// computed in the canonical frame back onto the original grid, header included.
#[derive(Debug, Clone, PartialEq)]
pub struct Reorientation {
    /// Canonical axis `a` is original axis `perm[a]`...
    perm: [usize; 3],
    /// ...read backwards when `flip[a]`.
    flip: [bool; 3],
    /// The original dims, affine and header, restored exactly by [`Reorientation::undo`].
    original: Volume,
}

impl Reorientation {
    /// Put `vol` in the canonical frame. Returns the reoriented volume and the mapping back.
    pub fn to_canonical(vol: &Volume) -> (Volume, Reorientation) {
        let map = axis_map(&vol.affine);
        let mut perm = [0; 3];
        let mut flip = [false; 3];
        for (j, &(world, negative)) in map.iter().enumerate() {
            perm[world] = j;
            flip[world] = negative;
        }
        let dims: [usize; 3] = std::array::from_fn(|a| vol.dims[perm[a]]);
        // T: canonical voxel index -> original voxel index; canonical affine = affine · T.
        let mut t = [[0.0; 4]; 4];
        for a in 0..3 {
            t[perm[a]][a] = if flip[a] { -1.0 } else { 1.0 };
            t[perm[a]][3] = if flip[a] {
                (vol.dims[perm[a]] - 1) as f64
            } else {
                0.0
            };
        }
        t[3][3] = 1.0;
        let affine = matmul(&vol.affine, &t);
        let data = permute(&vol.data, vol.dims, dims, |o| {
            std::array::from_fn(|j| {
                let a = perm.iter().position(|&p| p == j).unwrap();
                if flip[a] {
                    dims[a] - 1 - o[a]
                } else {
                    o[a]
                }
            })
        });
        let header = canonical_header(&vol.header, &affine, dims, perm);
        let canonical = Volume {
            data,
            dims,
            affine,
            affine_source: vol.affine_source,
            header,
            source_dtype: vol.source_dtype,
        };
        let original = Volume {
            data: Vec::new(),
            ..vol.clone()
        };
        (
            canonical,
            Reorientation {
                perm,
                flip,
                original,
            },
        )
    }

    /// `true` when the scan already was canonical (nothing moves).
    pub fn is_identity(&self) -> bool {
        self.perm == [0, 1, 2] && self.flip == [false; 3]
    }

    /// The scan as it was read (its own grid and header).
    pub fn original(&self) -> &Volume {
        &self.original
    }

    /// The dims of the canonical array.
    pub fn canonical_dims(&self) -> [usize; 3] {
        std::array::from_fn(|a| self.original.dims[self.perm[a]])
    }

    /// Map voxels computed on the canonical grid (e.g. a predicted mask) back onto the original
    /// grid: the result has the original dims, affine and header, ready to be written.
    pub fn undo(&self, canonical_data: &[f32]) -> Result<Volume, String> {
        let cdims = self.canonical_dims();
        if canonical_data.len() != cdims.iter().product::<usize>() {
            return Err(format!(
                "{} voxels given, the canonical grid {}x{}x{} has {}",
                canonical_data.len(),
                cdims[0],
                cdims[1],
                cdims[2],
                cdims.iter().product::<usize>()
            ));
        }
        let (perm, flip) = (self.perm, self.flip);
        let data = permute(canonical_data, cdims, self.original.dims, |o| {
            std::array::from_fn(|a| {
                let v = o[perm[a]];
                if flip[a] {
                    cdims[a] - 1 - v
                } else {
                    v
                }
            })
        });
        // `original` keeps the geometry and header without voxels
        Ok(Volume {
            data,
            ..self.original.clone()
        })
    }
}

/// Gather `src` (dims `sdims`) into a new C-order array of dims `ddims`, where `index_in_src`
/// maps a destination index to its source index.
fn permute(
    src: &[f32],
    sdims: [usize; 3],
    ddims: [usize; 3],
    index_in_src: impl Fn([usize; 3]) -> [usize; 3],
) -> Vec<f32> {
    let mut out = Vec::with_capacity(src.len());
    for i in 0..ddims[0] {
        for j in 0..ddims[1] {
            for k in 0..ddims[2] {
                let s = index_in_src([i, j, k]);
                out.push(src[(s[0] * sdims[1] + s[1]) * sdims[2] + s[2]]);
            }
        }
    }
    out
}

fn matmul(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..4).map(|k| a[i][k] * b[k][j]).sum()))
}

/// The header of a reoriented volume: the new affine as its sform (the qform is dropped, as it no
/// longer matches), pixdims permuted.
fn canonical_header(
    h: &NiftiHeader,
    affine: &[[f64; 4]; 4],
    dims: [usize; 3],
    perm: [usize; 3],
) -> NiftiHeader {
    let mut out = h.clone();
    out.dim[1..4].copy_from_slice(&dims.map(|d| d as i64));
    let p = h.pixdim;
    for a in 0..3 {
        out.pixdim[a + 1] = p[perm[a] + 1];
    }
    out.pixdim[0] = 1.0;
    out.srow = [affine[0], affine[1], affine[2]];
    if h.sform_code == 0 && h.qform_code == 0 {
        // affine from pixdim: always positive diagonal, so nothing moved; keep it that way
        return out;
    }
    out.sform_code = if h.sform_code > 0 {
        h.sform_code
    } else {
        h.qform_code
    };
    out.qform_code = 0;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine(m: [[f64; 3]; 3], t: [f64; 3]) -> [[f64; 4]; 4] {
        let mut a = [[0.0; 4]; 4];
        for i in 0..3 {
            a[i][..3].copy_from_slice(&m[i]);
            a[i][3] = t[i];
        }
        a[3][3] = 1.0;
        a
    }

    fn ramp(dims: [usize; 3], aff: [[f64; 4]; 4]) -> Volume {
        let n = dims.iter().product();
        Volume::new((0..n).map(|v| v as f32).collect(), dims, aff)
    }

    fn world(a: &[[f64; 4]; 4], idx: [usize; 3]) -> [f64; 3] {
        std::array::from_fn(|r| (0..3).map(|c| a[r][c] * idx[c] as f64).sum::<f64>() + a[r][3])
    }

    /// Every voxel keeps its world position and value; undo restores the input exactly.
    fn check(aff: [[f64; 4]; 4], codes: &str) {
        let vol = ramp([3, 4, 5], aff);
        assert_eq!(vol.orientation(), codes);
        let (can, r) = Reorientation::to_canonical(&vol);
        assert_eq!(can.orientation(), "RAS");
        for i in 0..can.dims[0] {
            for j in 0..can.dims[1] {
                for k in 0..can.dims[2] {
                    let w = world(&can.affine, [i, j, k]);
                    let v = can.data[can.index(i, j, k)] as usize;
                    let src = [v / 20, (v / 5) % 4, v % 5];
                    let w0 = world(&vol.affine, src);
                    for d in 0..3 {
                        assert!((w[d] - w0[d]).abs() < 1e-9, "{codes}: {w:?} vs {w0:?}");
                    }
                }
            }
        }
        assert_eq!(can.header.affine().0, can.affine);
        let back = r.undo(&can.data).unwrap();
        assert_eq!(back, vol);
    }

    #[test]
    fn las_lps_lsa_and_oblique_round_trip() {
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        check(affine(id, [0.0; 3]), "RAS");
        check(
            affine(
                [[-0.7, 0.0, 0.0], [0.0, 0.7, 0.0], [0.0, 0.0, 2.0]],
                [10.0, -5.0, 3.0],
            ),
            "LAS",
        );
        check(
            affine(
                [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.5]],
                [0.0; 3],
            ),
            "LPS",
        );
        check(
            affine(
                [[-1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 3.0, 0.0]],
                [1.0, 2.0, 3.0],
            ),
            "LSA",
        );
        // oblique: 20 degrees about z, then an LPS flip
        let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
        check(
            affine(
                [[-c, s, 0.0], [-s, -c, 0.0], [0.0, 0.0, 1.2]],
                [4.0, 5.0, 6.0],
            ),
            "LPS",
        );
    }

    #[test]
    fn undo_rejects_wrong_size() {
        let vol = ramp(
            [2, 3, 4],
            affine(
                [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                [0.0; 3],
            ),
        );
        let (_, r) = Reorientation::to_canonical(&vol);
        assert!(r.undo(&[0.0; 5]).unwrap_err().contains("5 voxels"));
    }
}
