//! Segmentation metrics as the semi-supervised literature computes them (spec B7, medpy's
//! `metric.binary`), and the exact Euclidean distance transform they rest on.
//!
//! Masks are `&[bool]` in C order with dims `[ni, nj, nk]`. Distances are in voxels when the
//! spacing is `[1.0; 3]` (the literature's tables) or in millimetres with the scan's spacing.

mod case;
mod distance;
mod edt;
mod overlap;
mod surface;

pub use case::{evaluate_case, mean_metrics, CaseMetrics, EmptyCase};
pub use distance::{asd, assd, hd95, hd95_monai, percentile};
pub use edt::{edt, sq_edt};
pub use overlap::{dice, jaccard};
pub use surface::{inner_boundary, surface, surface_distances};
