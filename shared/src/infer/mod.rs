//! Inference: sliding-window segmentation of whole volumes (spec B6).

mod sliding_window;

pub use sliding_window::{sliding_window_predict, Accumulator, WindowPlan};
