//! AMVLM pre-training and evaluation on the native backends.

pub mod data;
pub mod evaluate;
pub mod overlay;
pub mod setup;
pub mod train;
