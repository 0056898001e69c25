// The segmentation worker: loads the wasm crate, puts the model on WebGPU (when the browser has an
// adapter and the volume's buffers fit its limits) or on the wasm CPU backend, and runs the shared
// inference: for a 3D scan the sliding window, posting progress after each window; for a 2D image
// and a prompt the text-guided model, keeping the image's embedding so a new prompt costs only the
// text side. The page cancels by terminating it.
import init, { load_segmenter } from './semiseg-web.js';

// each wasm module is fetched and started when first needed: the 3D engine (web/) for a scan, the
// 2D text-guided one (web/text) for an image
let ready3d = null, ready2d = null;
const ready = () => (ready3d ??= init({ module_or_path: new URL('./semiseg-web_bg.wasm', import.meta.url) }));
async function text2d() {
  ready2d ??= import('./semiseg-web-text.js').then(async (m) => {
    const wasm = await m.default({ module_or_path: new URL('./semiseg-web-text_bg.wasm', import.meta.url) });
    return { load: m.load_text_segmenter, wasm };
  });
  return ready2d;
}
const loaded = new Map(); // `${modelKey}/${backend}` -> Segmenter or TextSegmenter
const keys2d = new Set(); // the keys of `loaded` that hold a TextSegmenter (at most one)
// megabytes for messages: one decimal for a fraction under 10 (a 0.5 MB limit is not "1 MB")
const mb = (b) => { const v = b / 2 ** 20; return v < 10 && !Number.isInteger(v) ? v.toFixed(1) : v.toFixed(0); };
const embedded = new Map(); // `${modelKey}/${backend}` -> { imageKey, prob } of the embedding it holds

async function webgpuAdapter() {
  if (!('gpu' in navigator)) return null;
  try { return await navigator.gpu.requestAdapter(); } catch { return null; }
}

// Whether an adapter is a software fallback (no GPU: SwiftShader and the like), where the wasm CPU
// backend is faster (the LA sample: 13.6 minutes on a fallback adapter, 21.7 s on the CPU).
const isFallback = (adapter) => Boolean(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);

// The backend to run on, and why, when it is not the one asked for or is a slow choice:
// { backend: 'cpu' | 'webgpu', note }. `needs` says what the largest buffer is for.
async function chooseBackend(wanted, memory, needs = 'one window needs') {
  if (wanted === 'cpu') return { backend: 'cpu', note: '' };
  const adapter = await webgpuAdapter();
  if (!adapter) {
    if (wanted === 'webgpu') throw new Error('this browser has no WebGPU adapter; choose the CPU backend');
    return { backend: 'cpu', note: 'no WebGPU adapter in this browser' };
  }
  const limit = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize, memory.gpuLimit);
  if (memory.largest > limit) {
    if (wanted === 'webgpu') throw new Error(`${needs} a ${mb(memory.largest)} MB buffer, more than this GPU allows (${mb(limit)} MB); choose the CPU backend`);
    return { backend: 'cpu', note: `${needs} more than this GPU's ${mb(limit)} MB buffers` };
  }
  if (isFallback(adapter)) {
    if (wanted === 'webgpu') return { backend: 'webgpu', note: 'WebGPU here is a software fallback adapter (no GPU): expect it to be much slower than the CPU backend' };
    return { backend: 'cpu', note: "WebGPU here is a software fallback adapter (no GPU), slower than the CPU backend" };
  }
  return { backend: 'webgpu', note: '' };
}

// A 2D image and a prompt: the image is embedded once per (model, backend, image); each prompt
// then runs the text encoder and the Text Mask Generator. Times are posted with the result.
async function segment2d(data) {
  const engine = await text2d();
  const { backend, note } = await chooseBackend(data.backend, data.memory, 'the model\'s largest tensor needs');
  const key = `${data.modelKey}/${backend}`;
  // the estimate (TextGuidedMemory) is of one model in the 2D module's memory: the others go
  if (!loaded.has(key)) {
    for (const k of keys2d) { loaded.get(k).free(); loaded.delete(k); embedded.delete(k); }
    keys2d.clear();
  }
  const mem = data.memory, need = backend === 'cpu' ? mem.cpuBytes : mem.webgpuBytes;
  if (need > mem.cpuLimit) {
    const what = backend === 'cpu' ? "the browser's CPU backend" : 'the browser (the model is read on the CPU before it goes to WebGPU)';
    const instead = backend !== 'cpu' ? '' : data.backend === 'cpu' ? ', or choose WebGPU if this browser has a GPU' : '';
    throw new Error(`this model and image need about ${mb(need)} MB to segment, more than ${what} can hold (${mb(mem.cpuLimit)} MB); use a smaller model or image${instead}`);
  }
  if (note) self.postMessage({ type: 'backend', backend, note, imageKey: data.imageKey, requestId: data.requestId });
  if (!loaded.has(key)) {
    loaded.set(key, await engine.load(new Uint8Array(data.bundle), backend === 'webgpu'));
    keys2d.add(key);
    embedded.delete(key);
  }
  const seg = loaded.get(key);
  const name = seg.backend();
  // a bad prompt is refused before any work
  const words = data.prompt ? JSON.parse(seg.check_prompt(data.prompt)) : { unknown: [], spelt: [] };
  self.postMessage({ type: 'backend', backend: name, imageKey: data.imageKey });
  let embedMs = null;
  if (embedded.get(key)?.imageKey !== data.imageKey) {
    embedded.delete(key);
    const t0 = performance.now();
    const prob = await seg.embed(new Uint8Array(data.image), data.name);
    embedMs = performance.now() - t0;
    embedded.set(key, { imageKey: data.imageKey, prob });
  }
  const prob = embedded.get(key).prob.slice();
  let text = null, fused = null, promptMs = null;
  if (data.prompt) {
    const t0 = performance.now();
    [text, fused] = await seg.prompt(data.prompt, data.fuse);
    promptMs = performance.now() - t0;
  }
  // each word's pre-trained similarity over the image, for the page's clickable words
  let wordMaps = null;
  if (data.prompt && seg.has_text_mask()) {
    const [list, maps, grid] = await seg.word_maps(data.prompt);
    wordMaps = { words: JSON.parse(list), maps, grid };
  }
  const memoryBytes = engine.wasm.memory.buffer.byteLength;
  self.postMessage({
    type: 'done2d', imageKey: data.imageKey, requestId: data.requestId, backend: name, note: note || '', size: seg.size(),
    prob, text, fused: fused || null, embedMs, promptMs, words, wordMaps, memoryBytes,
  });
}

self.onmessage = async ({ data }) => {
  if (data.type === 'segment2d') {
    try {
      await segment2d(data);
    } catch (e) {
      self.postMessage({ type: 'error', imageKey: data.imageKey, message: (e && e.message) ? e.message : String(e) });
    }
    return;
  }
  if (data.type !== 'segment') return;
  try {
    await ready();
    const { backend, note } = await chooseBackend(data.backend, data.memory);
    if (backend === 'cpu' && data.memory.cpuBytes > data.memory.cpuLimit) {
      const need = data.memory.cpuBytes / 2 ** 20;
      throw new Error(`this volume (${data.dims.join('×')}) needs about ${need.toFixed(0)} MB to segment, more than the browser's CPU backend can hold (${(data.memory.cpuLimit / 2 ** 20).toFixed(0)} MB); crop or downsample the scan, or use a browser with WebGPU`);
    }
    const key = `${data.modelKey}/${backend}`;
    if (!loaded.has(key)) loaded.set(key, await load_segmenter(new Uint8Array(data.bundle), backend === 'webgpu'));
    const seg = loaded.get(key);
    const name = seg.backend();
    self.postMessage({ type: 'backend', backend: name, note });
    let windows = 0;
    const labels = await seg.segment(data.image, Uint32Array.from(data.dims), Uint32Array.from(data.stride),
      (done, total) => { windows = total; self.postMessage({ type: 'progress', done, total, backend: name }); });
    // wasm memory only grows: its size now is this worker's peak so far (on CPU: volume + windows)
    const memoryBytes = (await ready()).memory.buffer.byteLength;
    self.postMessage({ type: 'done', labels, backend: name, windows, memoryBytes }, [labels.buffer]);
  } catch (e) {
    self.postMessage({ type: 'error', message: (e && e.message) ? e.message : String(e) });
  }
};
