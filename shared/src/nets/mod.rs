//! Networks (burn modules, generic over the `Backend`): the V-Net of SimCVD (spec B2) and the
//! dropout variants it needs; the ViT image encoder of AMVLM (A2) and the attention it exposes.

mod alpha_dropout;
pub mod attention;
mod dropout3d;
mod l2_normalize;
pub mod vit;
mod vnet;

pub use alpha_dropout::{AlphaDropout, AlphaDropoutConfig};
pub use dropout3d::{Dropout3d, Dropout3dConfig};
pub use l2_normalize::l2_normalize;
pub use vit::{Vit, VitConfig, VitOutput};
pub use vnet::{VNet, VNetConfig, VNetOutput};
