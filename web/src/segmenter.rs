//! The segmentation engine the Web Worker runs for 3D scans: a model bundle loaded onto WebGPU
//! (burn-wgpu) or onto the CPU backend compiled to wasm (burn-flex), and the shared asynchronous
//! sliding window (`semiseg::infer::sliding_window_labels`, spec B6). (2D text-guided models run
//! in their own wasm module, `web/text`, fetched only when an image is segmented.) The worker chooses the backend: it asks for
//! WebGPU only after `navigator.gpu.requestAdapter()` returned an adapter.

use burn::backend::wgpu::{graphics::WebGpu, init_setup_async, RuntimeOptions, WgpuDevice};
use burn::backend::{Flex, Wgpu};
use semiseg::data::Grid;
use semiseg::infer::{sliding_window_labels, ModelBundle, ModelCard};
use semiseg::nets::VNet;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

enum Engine {
    WebGpu(Box<VNet<Wgpu>>, WgpuDevice),
    Cpu(Box<VNet<Flex>>),
}

/// A loaded model on one backend.
#[wasm_bindgen]
pub struct Segmenter {
    engine: Rc<Engine>,
    card: ModelCard,
}

thread_local! {
    /// The WebGPU device is set up once per worker.
    static GPU_READY: Cell<bool> = const { Cell::new(false) };
}

/// Load a model bundle (`.semiseg` bytes) onto WebGPU (`webgpu = true`) or the CPU.
#[wasm_bindgen]
pub async fn load_segmenter(bundle: Vec<u8>, webgpu: bool) -> Result<Segmenter, JsError> {
    let bundle = ModelBundle::decode_owned(bundle).map_err(|e| JsError::new(&e.to_string()))?;
    let engine = if webgpu {
        let device = WgpuDevice::default();
        if !GPU_READY.get() {
            init_setup_async::<WebGpu>(&device, RuntimeOptions::default()).await;
            GPU_READY.set(true);
        }
        let net = bundle
            .load_vnet::<Wgpu>(&device)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Engine::WebGpu(Box::new(net), device)
    } else {
        let net = bundle
            .load_vnet::<Flex>(&Default::default())
            .map_err(|e| JsError::new(&e.to_string()))?;
        Engine::Cpu(Box::new(net))
    };
    Ok(Segmenter {
        engine: Rc::new(engine),
        card: bundle.card,
    })
}

#[wasm_bindgen]
impl Segmenter {
    /// "WebGPU" or "CPU (wasm)".
    pub fn backend(&self) -> String {
        match *self.engine {
            Engine::WebGpu(..) => "WebGPU".into(),
            Engine::Cpu(_) => "CPU (wasm)".into(),
        }
    }

    /// The model card as JSON.
    pub fn card(&self) -> String {
        serde_json::to_string(&self.card).expect("a card is plain data")
    }

    /// Segment a canonical volume (`image`, `dims`) with the card's patch and `stride` (empty:
    /// the card's). `progress(done, total)` is called after each window. Resolves to the labels.
    pub fn segment(
        &self,
        image: Vec<f32>,
        dims: Vec<u32>,
        stride: Vec<u32>,
        progress: js_sys::Function,
    ) -> js_sys::Promise {
        let engine = self.engine.clone();
        let patch = self.card.patch;
        let stride: [usize; 3] = if stride.len() == 3 {
            std::array::from_fn(|d| stride[d].max(1) as usize)
        } else {
            self.card.stride
        };
        wasm_bindgen_futures::future_to_promise(async move {
            if dims.len() != 3 || dims.iter().map(|&d| d as usize).product::<usize>() != image.len()
            {
                return Err(JsError::new("image and dims do not agree").into());
            }
            let dims: [usize; 3] = std::array::from_fn(|d| dims[d] as usize);
            let grid = Grid::new(image, dims);
            let mut report = |done: usize, total: usize| {
                let _ = progress.call2(
                    &JsValue::NULL,
                    &(done as f64).into(),
                    &(total as f64).into(),
                );
            };
            let labels = match &*engine {
                Engine::WebGpu(net, dev) => {
                    sliding_window_labels(net, &grid, patch, stride, dev, &mut report).await
                }
                Engine::Cpu(net) => {
                    sliding_window_labels(
                        net,
                        &grid,
                        patch,
                        stride,
                        &Default::default(),
                        &mut report,
                    )
                    .await
                }
            }
            .map_err(|e| JsError::new(&e))?;
            Ok(js_sys::Uint8Array::from(labels.data.as_slice()).into())
        })
    }
}
