//! semiseg in the browser. This is the skeleton the browser app grows from: it proves that the
//! shared crate (the same NIfTI reader and metrics as the CLI) runs in wasm, and exposes a first
//! entry point the page calls. Segmentation, the viewer and the worker come with the browser issue.

use wasm_bindgen::prelude::*;

/// Read a NIfTI upload and describe it (dimensions, voxel size, orientation), or say what is wrong
/// with it. Uses `semiseg::volume`, exactly as `semiseg inspect` does.
#[wasm_bindgen]
pub fn describe_scan(name: &str, bytes: &[u8]) -> Result<String, JsValue> {
    let vol = semiseg::volume::read_nifti_bytes(name, bytes, &Default::default())
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    let [x, y, z] = vol.dims;
    let s = vol.spacing();
    Ok(format!(
        "{name}: {x} x {y} x {z} voxels of {:.3} x {:.3} x {:.3} mm, {} stored as {}",
        s[0],
        s[1],
        s[2],
        vol.orientation(),
        vol.source_dtype
    ))
}

#[wasm_bindgen(start)]
pub fn start() {
    gloo::console::log!("semiseg web: ready");
}
