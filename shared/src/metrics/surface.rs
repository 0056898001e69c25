//! Object surfaces and surface-to-surface distances (medpy's `__surface_distances`).

use super::edt::edt;

/// For each voxel of `mask`, whether a 6-neighbour is background. `outside_is_background` decides
/// what lies beyond the array: medpy erodes with `border_value=0` (true), skimage's
/// `find_boundaries` reflects the edge (false).
fn boundary(mask: &[bool], dims: [usize; 3], outside_is_background: bool) -> Vec<bool> {
    assert_eq!(
        mask.len(),
        dims.iter().product::<usize>(),
        "mask/dims mismatch"
    );
    let [ni, nj, nk] = dims;
    let mut out = vec![false; mask.len()];
    for i in 0..ni {
        for j in 0..nj {
            for k in 0..nk {
                let f = (i * nj + j) * nk + k;
                if !mask[f] {
                    continue;
                }
                let at = |i: usize, j: usize, k: usize| mask[(i * nj + j) * nk + k];
                let edge = [(i, ni), (j, nj), (k, nk)]
                    .iter()
                    .any(|&(c, n)| c == 0 || c + 1 == n);
                let mut bg = false;
                if i > 0 && !at(i - 1, j, k) || i + 1 < ni && !at(i + 1, j, k) {
                    bg = true;
                }
                if j > 0 && !at(i, j - 1, k) || j + 1 < nj && !at(i, j + 1, k) {
                    bg = true;
                }
                if k > 0 && !at(i, j, k - 1) || k + 1 < nk && !at(i, j, k + 1) {
                    bg = true;
                }
                out[f] = bg || (outside_is_background && edge);
            }
        }
    }
    out
}

/// medpy's surface: `mask XOR binary_erosion(mask, 3D cross)`, where the erosion treats the
/// outside of the array as background (so foreground on the array's edge is surface).
pub fn surface(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    boundary(mask, dims, true)
}

/// skimage's `find_boundaries(mask, mode='inner')` (connectivity 1): foreground voxels with a
/// background 6-neighbour inside the array. Used by the signed distance map (spec B3).
pub fn inner_boundary(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    boundary(mask, dims, false)
}

/// Distances from each surface voxel of `a` to the nearest surface voxel of `b`, in the units of
/// `spacing` (medpy `__surface_distances(a, b, spacing, connectivity=1)`). Empty if `a` has no
/// surface; infinite entries if `b` has none.
pub fn surface_distances(a: &[bool], b: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let sa = surface(a, dims);
    let sb = surface(b, dims);
    let not_sb: Vec<bool> = sb.iter().map(|&s| !s).collect();
    let dt = edt(&not_sb, dims, spacing);
    sa.iter()
        .zip(&dt)
        .filter(|(&s, _)| s)
        .map(|(_, &d)| d)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_surface_counts() {
        // a 3x3x3 cube inside a 5x5x5 grid: 26 surface voxels, the centre is interior
        let dims = [5, 5, 5];
        let mask: Vec<bool> = (0..125)
            .map(|f| {
                let (i, j, k) = (f / 25, (f / 5) % 5, f % 5);
                (1..4).contains(&i) && (1..4).contains(&j) && (1..4).contains(&k)
            })
            .collect();
        assert_eq!(surface(&mask, dims).iter().filter(|&&s| s).count(), 26);
        assert_eq!(
            inner_boundary(&mask, dims).iter().filter(|&&s| s).count(),
            26
        );
        // a full grid: every voxel on the array edge is medpy surface, none is an inner boundary
        let full = vec![true; 27];
        assert_eq!(surface(&full, [3, 3, 3]).iter().filter(|&&s| s).count(), 26);
        assert!(!inner_boundary(&full, [3, 3, 3]).iter().any(|&s| s));
    }
}
