//! SimCVD training and evaluation on the native backends.

pub mod data;
pub mod evaluate;
pub mod memory;
pub mod model_io;
pub mod train;
