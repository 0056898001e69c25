//! semiseg in the browser. The page (`www/`) draws and handles events; this crate does the work
//! with the shared model crate, so the browser reads scans, segments and scores exactly as the CLI:
//! - [`scan`]: an opened scan in the canonical frame, its mask and ground truth, metrics and the
//!   mask download on the input's own grid;
//! - [`view`]: slices in anatomical orientation with window/level and overlays;
//! - [`segmenter`]: a 3D model bundle on WebGPU or the wasm CPU backend, run by the Web Worker.
//!
//! 2D images and prompts are another wasm module (`web/text`), fetched when first used.

pub mod scan;
// The Web Worker's engine exists in the browser build only: compiling its WebGPU and wasm-CPU
// paths into the native test build would only cost build minutes (no native test calls it; the
// browser tests run it). It is linted in the wasm build (scripts/build_web.sh under test.sh).
#[cfg(target_arch = "wasm32")]
pub mod segmenter;
pub mod view;

use semiseg::infer::{InferenceMemory, ModelBundle, WindowPlan};
use wasm_bindgen::prelude::*;

/// Three sizes from JavaScript (missing ones read as 1).
fn dims3(v: &[u32]) -> [usize; 3] {
    std::array::from_fn(|d| v.get(d).copied().unwrap_or(1) as usize)
}

/// `[bytes on the CPU backend, largest tensor bytes]` that segmenting a volume of `dims` with this
/// patch and model width needs (checked by the worker against the device's limits).
#[wasm_bindgen]
pub fn estimate_memory(
    dims: Vec<u32>,
    patch: Vec<u32>,
    n_filters: u32,
    n_classes: u32,
) -> Vec<f64> {
    let m = InferenceMemory::estimate(
        dims3(&dims),
        dims3(&patch),
        n_filters as usize,
        n_classes as usize,
    );
    vec![m.cpu_bytes() as f64, m.largest_tensor_bytes as f64]
}

/// Whether a volume of `dims` suits a model with this `patch` (`WindowPlan::fit`): an error for a
/// single slice, else a note for a volume smaller than the patch ("" when there is none).
#[wasm_bindgen]
pub fn check_fit(dims: Vec<u32>, patch: Vec<u32>) -> Result<String, JsError> {
    WindowPlan::fit(dims3(&dims), dims3(&patch))
        .map(Option::unwrap_or_default)
        .map_err(|e| JsError::new(&e))
}

/// The model card of a bundle (JSON), after checking the bundle's structure and weight hash.
#[wasm_bindgen]
pub fn read_model_card(bytes: &[u8]) -> Result<String, JsError> {
    let card = ModelBundle::read_card(bytes).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(serde_json::to_string(&card).expect("a card is plain data"))
}

/// Report Rust panics on the console (they would otherwise show as "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        gloo::console::error!(format!("semiseg panicked: {info}"));
    }));
}
