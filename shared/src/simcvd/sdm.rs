//! The normalised signed distance map of DTC / SimCVD (spec B3, DTC `compute_sdf`): negative
//! inside the object, positive outside, 0 on its inner boundary, in [-1, 1]; voxel units.

use crate::metrics::{edt, inner_boundary};

/// SDM of a binary patch `g` (C order, dims `[ni, nj, nk]`), spec B3:
///
/// `SDM = (negdis - min)/(max - min) - (posdis - min)/(max - min)`, then `SDM[boundary] = 0`, with
/// `posdis = EDT(g)`, `negdis = EDT(!g)` and the boundary from `find_boundaries(g, 'inner')`.
///
/// An empty patch gives 0 everywhere (as in DTC). A patch with no background has no boundary to
/// measure from and also gives 0 (DTC would divide 0 by 0 there).
pub fn signed_distance_map(g: &[bool], dims: [usize; 3]) -> Vec<f32> {
    let n = g.len();
    let any_fg = g.iter().any(|&v| v);
    let any_bg = g.iter().any(|&v| !v);
    if !any_fg || !any_bg {
        return vec![0.0; n];
    }
    let one = [1.0; 3];
    let not_g: Vec<bool> = g.iter().map(|&v| !v).collect();
    let posdis = edt(g, dims, one);
    let negdis = edt(&not_g, dims, one);
    let boundary = inner_boundary(g, dims);
    let normalise = |d: &[f64]| -> Vec<f64> {
        let (lo, hi) = d
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            d.iter().map(|&v| (v - lo) / (hi - lo)).collect()
        } else {
            vec![0.0; d.len()]
        }
    };
    let (neg, pos) = (normalise(&negdis), normalise(&posdis));
    (0..n)
        .map(|f| {
            if boundary[f] {
                0.0
            } else {
                (neg[f] - pos[f]) as f32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_line() {
        // 1x1x7 line, object at k = 2..=4: posdis = [0,0,1,2,1,0,0], negdis = [2,1,0,0,0,1,2]
        // normalised: neg/2 - pos/2; the inner boundary (k=2, k=4) is set to 0.
        let g = [false, false, true, true, true, false, false];
        let s = signed_distance_map(&g, [1, 1, 7]);
        assert_eq!(s, vec![1.0, 0.5, 0.0, -1.0, 0.0, 0.5, 1.0]);
        assert_eq!(signed_distance_map(&[false; 4], [1, 1, 4]), vec![0.0; 4]);
        assert_eq!(signed_distance_map(&[true; 4], [1, 1, 4]), vec![0.0; 4]);
    }
}
