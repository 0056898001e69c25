//! Inference: sliding-window segmentation of whole volumes (spec B6), the model bundles that carry
//! trained weights to `semiseg predict` and the browser, the memory estimate made before a run, and
//! the optional largest-component post-processing.

mod bundle;
mod largest_component;
mod memory;
mod sliding_window;

pub use bundle::{BundleError, CardMetrics, ModelBundle, ModelCard, Precision};
pub use largest_component::{keep_largest_component, ComponentSummary};
pub use memory::InferenceMemory;
pub use sliding_window::{sliding_window_labels, sliding_window_predict, Accumulator, WindowPlan};
