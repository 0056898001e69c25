//! The four numbers of the literature's tables for one case, with its rule for empty masks.

use super::{asd, assd, dice, hd95, hd95_monai, jaccard};

/// Which mask of a case was empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EmptyCase {
    Prediction,
    GroundTruth,
    Both,
}

/// Per-case metrics. Distances are in voxels or millimetres, as the spacing given.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CaseMetrics {
    pub dice: f64,
    pub jaccard: f64,
    /// medpy `hd95` (pooled 95th percentile), the literature's "95HD".
    pub hd95: f64,
    /// medpy `asd` (prediction to ground truth), the literature's "ASD".
    pub asd: f64,
    /// medpy `assd` (symmetric average surface distance).
    pub assd: f64,
    /// MONAI-style HD95 (max of the directed 95th percentiles).
    pub hd95_monai: f64,
    /// Set when a mask was empty: then every metric is 0, as in the semi-supervised literature's
    /// evaluation code (SSL4MIS `cal_metric`), so means stay comparable with published tables.
    pub empty: Option<EmptyCase>,
}

/// A surface distance metric: `(pred, gt, dims, spacing) -> value` (None for an empty mask).
type DistanceFn = fn(&[bool], &[bool], [usize; 3], [f64; 3]) -> Option<f64>;

/// Metrics of one predicted mask against its ground truth.
///
/// Empty masks follow the literature: if either mask is empty, all metrics are 0 and `empty` says
/// which (a Dice of 0 for a missed structure; note the distances are 0 too, not infinite).
pub fn evaluate_case(
    pred: &[bool],
    gt: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
) -> CaseMetrics {
    let p = pred.iter().any(|&v| v);
    let g = gt.iter().any(|&v| v);
    let empty = match (p, g) {
        (true, true) => None,
        (false, true) => Some(EmptyCase::Prediction),
        (true, false) => Some(EmptyCase::GroundTruth),
        (false, false) => Some(EmptyCase::Both),
    };
    if empty.is_some() {
        return CaseMetrics {
            dice: 0.0,
            jaccard: 0.0,
            hd95: 0.0,
            asd: 0.0,
            assd: 0.0,
            hd95_monai: 0.0,
            empty,
        };
    }
    let dist = |f: DistanceFn| f(pred, gt, dims, spacing).expect("both masks are non-empty");
    CaseMetrics {
        dice: dice(pred, gt),
        jaccard: jaccard(pred, gt),
        hd95: dist(hd95),
        asd: dist(asd),
        assd: dist(assd),
        hd95_monai: dist(hd95_monai),
        empty: None,
    }
}

/// The mean of each metric over the cases (the literature averages over all test cases, empty
/// ones included). `None` for no cases.
pub fn mean_metrics(cases: &[CaseMetrics]) -> Option<CaseMetrics> {
    if cases.is_empty() {
        return None;
    }
    let n = cases.len() as f64;
    let m = |f: fn(&CaseMetrics) -> f64| cases.iter().map(f).sum::<f64>() / n;
    Some(CaseMetrics {
        dice: m(|c| c.dice),
        jaccard: m(|c| c.jaccard),
        hd95: m(|c| c.hd95),
        asd: m(|c| c.asd),
        assd: m(|c| c.assd),
        hd95_monai: m(|c| c.hd95_monai),
        empty: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_masks_are_perfect_and_empty_follows_the_literature() {
        let dims = [4, 4, 4];
        let m: Vec<bool> = (0..64).map(|f| f % 3 == 0).collect();
        let c = evaluate_case(&m, &m, dims, [1.0; 3]);
        assert_eq!((c.dice, c.jaccard, c.hd95, c.asd), (1.0, 1.0, 0.0, 0.0));
        let e = evaluate_case(&[false; 64], &m, dims, [1.0; 3]);
        assert_eq!(e.empty, Some(EmptyCase::Prediction));
        assert_eq!((e.dice, e.hd95), (0.0, 0.0));
        let mean = mean_metrics(&[c, e]).unwrap();
        assert_eq!(mean.dice, 0.5);
    }
}
