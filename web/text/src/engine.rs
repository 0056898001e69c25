//! The 2D text-guided engine of the page's Web Worker (spec A6 at test time): a 2D model bundle
//! loaded onto WebGPU (burn-wgpu) or the wasm CPU backend (burn-flex) and run through the shared
//! crate's `TextGuidedModel` and `prepare_prompt`, as `semiseg predict --prompt` runs them. The last
//! image's embedding is kept, so a new prompt costs only the text encoder and the Text Mask
//! Generator.

use burn::backend::wgpu::{graphics::WebGpu, init_setup_async, RuntimeOptions, WgpuDevice};
use burn::backend::{Flex, Wgpu};
use burn::tensor::{backend::Backend, Tensor};
use semiseg::amvlm::AmvlmConfig;
use semiseg::data::Image2d;
use semiseg::infer::{
    prepare_prompt, EmbeddedImage, ModelBundle, ModelCard, Prompt, TextGuidedModel,
};
use semiseg::text::{Encoded, TextTokenizer};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A 2D text-guided model (spec A6) on one backend, with the last image's embedding kept so a
/// new prompt costs only the text encoder and the Text Mask Generator.
struct Loaded2d<B: Backend> {
    model: TextGuidedModel<B>,
    device: B::Device,
    image: RefCell<Option<EmbeddedImage<B>>>,
}

enum Engine2d {
    WebGpu(Box<Loaded2d<Wgpu>>),
    Cpu(Box<Loaded2d<Flex>>),
}

/// A loaded text-guided model, as `semiseg predict --prompt` runs it (shared crate).
#[wasm_bindgen]
pub struct TextSegmenter {
    engine: Rc<Engine2d>,
    tokenizer: TextTokenizer,
    vlm: AmvlmConfig,
    card: ModelCard,
}

/// Load a 2D bundle onto WebGPU (`webgpu = true`) or the CPU.
#[wasm_bindgen]
pub async fn load_text_segmenter(bundle: Vec<u8>, webgpu: bool) -> Result<TextSegmenter, JsError> {
    // the file's buffer becomes the weights, which go to the record reader uncopied
    let bundle = ModelBundle::decode_owned(bundle).map_err(|e| JsError::new(&e.to_string()))?;
    let err = |e: semiseg::infer::BundleError| JsError::new(&e.to_string());
    let (engine, tokenizer, card) = if webgpu {
        let device = WgpuDevice::default();
        if !GPU_READY.get() {
            init_setup_async::<WebGpu>(&device, RuntimeOptions::default()).await;
            GPU_READY.set(true);
        }
        let (model, tok, card) = bundle.into_text_guided::<Wgpu>(&device).map_err(err)?;
        let l = Loaded2d {
            model,
            device,
            image: RefCell::new(None),
        };
        (Engine2d::WebGpu(Box::new(l)), tok, card)
    } else {
        let device = Default::default();
        let (model, tok, card) = bundle.into_text_guided::<Flex>(&device).map_err(err)?;
        let l = Loaded2d {
            model,
            device,
            image: RefCell::new(None),
        };
        (Engine2d::Cpu(Box::new(l)), tok, card)
    };
    let vlm = card
        .image2d
        .as_ref()
        .expect("into_text_guided checked the 2D card")
        .vlm
        .clone();
    Ok(TextSegmenter {
        engine: Rc::new(engine),
        tokenizer,
        vlm,
        card,
    })
}

async fn read_map<B: Backend>(t: Tensor<B, 4>) -> Result<Vec<f32>, JsValue> {
    t.into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("reading a result from the device failed: {e:?}")))?
        .convert::<f32>()
        .to_vec()
        .map_err(|e| JsError::new(&format!("unexpected result type: {e:?}")).into())
}

impl<B: Backend> Loaded2d<B> {
    /// Embed `image` (kept for later prompts) and read the student's probability.
    async fn embed(&self, image: &Image2d) -> Result<Vec<f32>, JsValue> {
        let emb = self.model.embed(image, &self.device);
        let p = read_map(self.model.probability_map(&emb)).await?;
        *self.image.borrow_mut() = Some(emb);
        Ok(p)
    }

    /// The text mask of `prompt` over the kept image and, with `fuse`, the fused probability.
    async fn prompt(
        &self,
        prompt: &Encoded,
        fuse: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), JsValue> {
        let emb = self
            .image
            .borrow()
            .clone()
            .ok_or_else(|| JsError::new("no image embedded yet"))?;
        let no_tmg = || JsError::new("this model trained no text mask generator");
        let text = self
            .model
            .text_mask_map(&emb, prompt, &self.device)
            .ok_or_else(no_tmg)?;
        let text = read_map(text).await?;
        let fused = match fuse {
            true => Some(
                read_map(
                    self.model
                        .fused_map(&emb, prompt, &self.device)
                        .ok_or_else(no_tmg)?,
                )
                .await?,
            ),
            false => None,
        };
        Ok((text, fused))
    }

    /// Each word's pre-trained similarity over the kept image: `(slot, word)`s, the maps
    /// (`[L−1, g, g]` row-major) and `g`.
    async fn word_maps(
        &self,
        prompt: &Prompt,
    ) -> Result<(Vec<(usize, String)>, Vec<f32>, usize), JsValue> {
        let emb = self
            .image
            .borrow()
            .clone()
            .ok_or_else(|| JsError::new("no image embedded yet"))?;
        let (words, maps) = self.model.word_maps(&emb, prompt, &self.device);
        let grid = maps.dims()[2];
        Ok((words, read_map(maps).await?, grid))
    }
}

#[wasm_bindgen]
impl TextSegmenter {
    /// "WebGPU" or "CPU (wasm)".
    pub fn backend(&self) -> String {
        match *self.engine {
            Engine2d::WebGpu(_) => "WebGPU".into(),
            Engine2d::Cpu(_) => "CPU (wasm)".into(),
        }
    }

    /// The model card as JSON.
    pub fn card(&self) -> String {
        serde_json::to_string(&self.card).expect("a card is plain data")
    }

    /// The side of the model's square input (its maps have `size × size` values).
    pub fn size(&self) -> u32 {
        self.vlm.image_size as u32
    }

    /// Whether the model has a Text Mask Generator (the baselines have none: no prompt).
    pub fn has_text_mask(&self) -> bool {
        self.card.image2d.as_ref().is_some_and(|c| c.has_tmg)
    }

    /// Check and tokenise a prompt (shared with `semiseg predict --prompt`): throws for an empty
    /// prompt or one of unknown words; else `{"unknown": [...], "spelt": [...], "cut": [...],
    /// "max_tokens": n}` as JSON (`cut`: the last words, past the encoder's length).
    pub fn check_prompt(&self, prompt: &str) -> Result<String, JsError> {
        let p = prepare_prompt(prompt, &self.tokenizer, &self.vlm)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(serde_json::json!({
            "unknown": p.unknown,
            "spelt": p.spelt,
            "cut": p.cut,
            "max_tokens": self.tokenizer.max_len(),
        })
        .to_string())
    }

    /// Decode an image file (`bytes`, `name` for messages) as `predict` does, embed it and keep
    /// the embedding; resolves to the student's probability (`size × size` values).
    pub fn embed(&self, bytes: Vec<u8>, name: String) -> js_sys::Promise {
        let engine = self.engine.clone();
        let size = self.vlm.image_size;
        wasm_bindgen_futures::future_to_promise(async move {
            let image = Image2d::from_bytes(&bytes, &name, size)
                .map_err(|e| JsError::new(&e.to_string()))?;
            let p = match &*engine {
                Engine2d::WebGpu(l) => l.embed(&image).await?,
                Engine2d::Cpu(l) => l.embed(&image).await?,
            };
            Ok(js_sys::Float32Array::from(p.as_slice()).into())
        })
    }

    /// The text mask of `prompt` over the embedded image and, with `fuse`, the mask steered by
    /// the prompt: resolves to `[text, fused]` (`fused` undefined without `fuse`).
    pub fn prompt(&self, prompt: String, fuse: bool) -> js_sys::Promise {
        let engine = self.engine.clone();
        let prepared = prepare_prompt(&prompt, &self.tokenizer, &self.vlm);
        wasm_bindgen_futures::future_to_promise(async move {
            let p = prepared.map_err(|e| JsError::new(&e.to_string()))?;
            let (text, fused) = match &*engine {
                Engine2d::WebGpu(l) => l.prompt(&p.encoded, fuse).await?,
                Engine2d::Cpu(l) => l.prompt(&p.encoded, fuse).await?,
            };
            let out = js_sys::Array::new();
            out.push(&js_sys::Float32Array::from(text.as_slice()));
            out.push(&match fused {
                Some(f) => js_sys::Float32Array::from(f.as_slice()).into(),
                None => JsValue::UNDEFINED,
            });
            Ok(out.into())
        })
    }

    /// Each word of `prompt` against every patch of the embedded image (the pre-trained
    /// word-to-patch similarity, shared `TextGuidedModel::word_maps`): resolves to
    /// `[words, maps, grid]`, `words` a JSON list of `[slot, word]`, `maps` `slots × grid²` values.
    pub fn word_maps(&self, prompt: String) -> js_sys::Promise {
        let engine = self.engine.clone();
        let prepared = prepare_prompt(&prompt, &self.tokenizer, &self.vlm);
        wasm_bindgen_futures::future_to_promise(async move {
            let p = prepared.map_err(|e| JsError::new(&e.to_string()))?;
            let (words, maps, grid) = match &*engine {
                Engine2d::WebGpu(l) => l.word_maps(&p).await?,
                Engine2d::Cpu(l) => l.word_maps(&p).await?,
            };
            let out = js_sys::Array::new();
            out.push(&JsValue::from_str(
                &serde_json::to_string(&words).expect("plain data"),
            ));
            out.push(&js_sys::Float32Array::from(maps.as_slice()));
            out.push(&JsValue::from(grid as u32));
            Ok(out.into())
        })
    }
}

thread_local! {
    /// The WebGPU device is set up once per worker.
    static GPU_READY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
