//! The integration tests, one module per subject, in one test binary: each binary links the whole
//! workspace with its CPU, CUDA and wgpu backends, so one link instead of eight saves CI minutes.
//! Run one subject with its module path, e.g. `cargo test -p semiseg-integration simcvd::`.
//!
//! burn's random generator is process-wide: every test that initialises a model or trains holds
//! `semiseg_integration::one_training_at_a_time()`, whichever module it is in.

mod amvlm;
mod amvlm_seg;
mod bert;
mod cli;
mod dicom;
mod la2018;
mod lvit;
mod metrics;
mod nifti;
mod nrrd;
mod simcvd;
