//! Inference: sliding-window segmentation of whole volumes (spec B6), the model bundles that carry
//! trained weights to `semiseg predict` and the browser, the memory estimates made before a run (3D and 2D), and
//! the optional largest-component post-processing, and the check that a scan is normalised like
//! the training data; 2D text-guided inference (an image, a prompt checked and tokenised as in
//! training, its text mask).

mod bundle;
mod intensity;
mod largest_component;
mod memory;
mod prompt;
mod sliding_window;
mod text_guided;
mod text_guided_memory;

pub use bundle::{
    BundleError, Card2dMetrics, CardMetrics, Image2dCard, ModelBundle, ModelCard, Precision,
    AMVLM_SEG, VNET,
};
pub use intensity::{
    check_normalised, mean_std, zscore_scan, MAX_NORMALISED_MEAN, MAX_NORMALISED_STD,
};
pub use largest_component::{keep_largest_component, ComponentSummary};
pub use memory::InferenceMemory;
pub use prompt::{model_text, prepare_prompt, Prompt, PromptError};
pub use sliding_window::{sliding_window_labels, sliding_window_predict, Accumulator, WindowPlan};
pub use text_guided::{map_to_gray8, map_to_image, EmbeddedImage, TextGuidedModel, TextGuidedNets};
pub use text_guided_memory::{ImageFile, TextGuidedMemory};
