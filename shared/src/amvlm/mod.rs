//! AMVLM's vision-language pre-training (spec part A): projection heads (A2), the Probability
//! Distribution Transformer (A3), the 2-Wasserstein distance (A4) and the four losses of A5.

pub mod config;
pub mod cross_entropy;
pub mod css;
pub mod heads;
pub mod icl;
pub mod itc;
pub mod model;
pub mod pdt;
pub mod step;
pub mod token_weights;
pub mod wasserstein;
pub mod xg;

pub use config::AmvlmConfig;
pub use heads::{ProjectionHead, ProjectionHeadConfig};
pub use model::{Amvlm, AmvlmEncoders, ImageEmbeddings, TextEmbeddings};
pub use pdt::{Gaussians, Pdt, PdtConfig, SigmaMode};
pub use step::{amvlm_loss, AmvlmBatch, AmvlmLosses};
