//! Networks (burn modules, generic over the `Backend`): the V-Net of SimCVD (spec B2) and the
//! dropout variants it needs.

mod alpha_dropout;
mod dropout3d;
mod vnet;

pub use alpha_dropout::{AlphaDropout, AlphaDropoutConfig};
pub use dropout3d::{Dropout3d, Dropout3dConfig};
pub use vnet::{VNet, VNetConfig, VNetOutput};
