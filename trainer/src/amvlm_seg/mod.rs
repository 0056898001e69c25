//! AMVLM's text-guided segmentation (spec A6) on the native backends: the frozen VLM, the data,
//! the training method and the evaluation.

pub mod data;
pub mod evaluate;
pub mod localisation;
pub mod model_io;
pub mod train;
pub mod vlm;
