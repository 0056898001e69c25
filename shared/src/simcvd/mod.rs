//! SimCVD (spec part B). So far: the normalised signed distance map (B3) its SDM head learns.

mod sdm;

pub use sdm::signed_distance_map;
