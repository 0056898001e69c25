//! Surface distance metrics (spec B7): medpy's `hd95` and `asd`, the symmetric `assd`, and MONAI's
//! HD95 under its own name.
//!
//! All of them need both masks non-empty; [`super::evaluate_case`] applies the literature's rule
//! for empty masks. Called directly on an empty mask they return `None`.

use super::surface::surface_distances;

/// The `q`-th percentile (0..=100) with linear interpolation, as `numpy.percentile`'s default.
/// `None` for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let t = h - lo as f64;
    Some(v[lo] + t * (v[hi] - v[lo]))
}

fn both_ways(
    pred: &[bool],
    gt: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
) -> Option<(Vec<f64>, Vec<f64>)> {
    if !pred.iter().any(|&p| p) || !gt.iter().any(|&g| g) {
        return None;
    }
    Some((
        surface_distances(pred, gt, dims, spacing),
        surface_distances(gt, pred, dims, spacing),
    ))
}

/// medpy `hd95`: the 95th percentile of the prediction→GT and GT→prediction surface distances
/// pooled together.
pub fn hd95(pred: &[bool], gt: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Option<f64> {
    let (mut ab, ba) = both_ways(pred, gt, dims, spacing)?;
    ab.extend(ba);
    percentile(&ab, 95.0)
}

/// MONAI-style HD95: the larger of the two directed 95th percentiles (same surfaces as medpy).
/// Not what the semi-supervised tables report; offered for comparison with MONAI pipelines.
pub fn hd95_monai(pred: &[bool], gt: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Option<f64> {
    let (ab, ba) = both_ways(pred, gt, dims, spacing)?;
    Some(percentile(&ab, 95.0)?.max(percentile(&ba, 95.0)?))
}

/// medpy `asd`: the mean distance from the prediction's surface to the GT's (directed).
pub fn asd(pred: &[bool], gt: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Option<f64> {
    let (ab, _) = both_ways(pred, gt, dims, spacing)?;
    Some(ab.iter().sum::<f64>() / ab.len() as f64)
}

/// medpy `assd` (0.5): the mean of the prediction→GT and GT→prediction surface distances pooled
/// together. (medpy 0.4 averaged the two directed means instead; the two differ when the surfaces
/// have different voxel counts.)
pub fn assd(pred: &[bool], gt: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Option<f64> {
    let (mut ab, ba) = both_ways(pred, gt, dims, spacing)?;
    ab.extend(ba);
    Some(ab.iter().sum::<f64>() / ab.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([1, 2, 3, 4], 95) = 3.85; [5] -> 5
        assert!((percentile(&[4.0, 1.0, 3.0, 2.0], 95.0).unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[5.0], 95.0), Some(5.0));
        assert_eq!(percentile(&[], 95.0), None);
    }

    #[test]
    fn shifted_slab_distances() {
        // two 1-voxel-thick slabs in a 1x1x6 line, at k=1 and k=4: every distance is 3
        let mut a = [false; 6];
        let mut b = [false; 6];
        a[1] = true;
        b[4] = true;
        let d = [1, 1, 6];
        assert_eq!(hd95(&a, &b, d, [1.0; 3]), Some(3.0));
        assert_eq!(asd(&a, &b, d, [1.0, 1.0, 0.5]), Some(1.5));
        assert_eq!(hd95_monai(&a, &b, d, [1.0; 3]), Some(3.0));
        assert_eq!(hd95(&a, &[false; 6], d, [1.0; 3]), None);
    }
}
