//! semiseg: semi-supervised medical image segmentation.
//!
//! This crate is the one model crate shared by the native trainer and the browser app. The flow it
//! keeps visible (see `README.md`):
//!
//! scan bytes -> [`volume::Volume`] (canonical orientation) -> model input -> model -> probabilities
//! -> mask [`volume::Volume`] (the input's orientation) -> bytes.
//!
//! - [`volume`]: NIfTI-1/2 reading and writing, orientation.
//! - [`metrics`]: exact Euclidean distance transform, Dice, Jaccard, 95HD, ASD (spec B7).
//! - [`simcvd`]: SimCVD's pieces (spec part B); for now the normalised signed distance map (B3).
//! - [`data`]: MSD-style datasets and the literature's labeled/unlabeled splits (B1).
//! - [`text`]: AMVLM's text side (A2): WordPiece tokenizer and MGCA word aggregation; the BERT
//!   encoder itself is [`nets::Bert`].

pub mod amvlm;
pub mod data;
pub mod infer;
pub mod metrics;
pub mod nets;
pub mod simcvd;
#[cfg(test)]
mod testing;
pub mod text;
pub mod train;
pub mod volume;
