//! SimCVD (spec part B): configuration, model, the losses of B4, one training step's loss, and the
//! signed distance map of B3.

mod config;
mod consistency;
mod contrast;
mod distill;
mod model;
mod projection;
mod sdm;
mod step;
mod supervised;

pub use config::{Method, SimcvdConfig};
pub use consistency::softmax_mse;
pub use contrast::info_nce;
pub use distill::pairwise_distillation;
pub use model::SimcvdModel;
pub use projection::{ProjectionHead, ProjectionHeadConfig};
pub use sdm::signed_distance_map;
pub use step::{simcvd_loss, Batch, Losses};
pub use supervised::{cross_entropy, dice_loss, sdm_loss, seg_loss, DICE_SMOOTH};
