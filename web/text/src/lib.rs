//! semiseg in the browser, 2D: a wasm module of its own, fetched only when the page opens an image
//! (the encoders, the tokenizer, the image codecs and their two backends are several MB, so the 3D
//! page's first load does not carry them):
//! - [`picture`]: an opened image (PNG, JPEG, TIFF) with the text-guided model's mask and text
//!   mask, its ground truth, Dice and IoU, and the PNG downloads (the page);
//! - [`samples`]: its pixel values in the file's own width;
//! - [`engine`]: the text-guided model (spec A6 at test time) on WebGPU or the wasm CPU backend,
//!   run by the page's Web Worker as `semiseg predict --prompt` runs it.

pub mod picture;
pub mod samples;
// The worker's engine exists in the browser build only (as web/src/segmenter.rs).
#[cfg(target_arch = "wasm32")]
pub mod engine;

use wasm_bindgen::prelude::*;

/// Report Rust panics on the console (they would otherwise show as "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("semiseg (2D) panicked: {info}").into());
    }));
}
