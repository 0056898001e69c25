//! AMVLM (spec part A). Vision-language pre-training: projection heads (A2), the Probability
//! Distribution Transformer (A3), the 2-Wasserstein distance (A4) and the four losses of A5.
//! Text-guided segmentation (A6): the Text Mask Generator, its loss L_tg and the student's loss;
//! our additions of A8 (calibration, trust, grounding from labels).

pub mod config;
pub mod cross_entropy;
pub mod css;
pub mod heads;
pub mod icl;
pub mod itc;
pub mod model;
pub mod pdt;
pub mod prompt_embedding;
pub mod seg_config;
pub mod seg_step;
pub mod step;
pub mod student_loss;
pub mod text_mask;
pub mod tg_loss;
pub mod token_weights;
pub mod trust;
pub mod wasserstein;
pub mod word_patch;
pub mod xg;

pub use config::AmvlmConfig;
pub use heads::{ProjectionHead, ProjectionHeadConfig};
pub use model::{Amvlm, AmvlmEncoders, ImageEmbeddings, TextEmbeddings};
pub use pdt::{Gaussians, Pdt, PdtConfig, SigmaMode};
pub use prompt_embedding::PromptEmbedding;
pub use seg_config::{LabeledAmount, SegConfig, SegMethod, TextBranch, TextView, UnlabeledDraw};
pub use seg_step::{seg_losses, GroundInputs, SegBatch, SegLosses, TextInputs};
pub use step::{amvlm_loss, AmvlmBatch, AmvlmLosses};
pub use student_loss::{student_loss, StudentLossForm, StudentLosses, TextTargets, Unlabeled};
pub use text_mask::{TextCalibration, TextMaskConfig, TextMaskForm, TextMaskGenerator};
pub use tg_loss::tg_loss;
pub use trust::{all_foreground_dice, pooled_dice, update_trust, TrustSample};
pub use word_patch::word_patch_loss;
