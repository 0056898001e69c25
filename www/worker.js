// The segmentation worker: loads the wasm crate, puts the model on WebGPU (when the browser has an
// adapter and the volume's buffers fit its limits) or on the wasm CPU backend, and runs the shared
// sliding-window inference, posting progress after each window. The page cancels by terminating it.
import init, { load_segmenter } from './semiseg-web.js';

const ready = init({ module_or_path: new URL('./semiseg-web_bg.wasm', import.meta.url) });
const loaded = new Map(); // `${modelKey}/${backend}` -> Segmenter

async function webgpuAdapter() {
  if (!('gpu' in navigator)) return null;
  try { return await navigator.gpu.requestAdapter(); } catch { return null; }
}

async function chooseBackend(wanted, memory) {
  if (wanted === 'cpu') return 'cpu';
  const adapter = await webgpuAdapter();
  if (!adapter) {
    if (wanted === 'webgpu') throw new Error('this browser has no WebGPU adapter; choose the CPU backend');
    return 'cpu';
  }
  const limit = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize, memory.gpuLimit);
  if (memory.largest > limit) {
    if (wanted === 'webgpu') throw new Error(`one window needs a ${(memory.largest / 2 ** 20).toFixed(0)} MB buffer, more than this GPU allows (${(limit / 2 ** 20).toFixed(0)} MB); choose the CPU backend`);
    return 'cpu';
  }
  return 'webgpu';
}

self.onmessage = async ({ data }) => {
  if (data.type !== 'segment') return;
  try {
    await ready;
    const backend = await chooseBackend(data.backend, data.memory);
    if (backend === 'cpu' && data.memory.cpuBytes > data.memory.cpuLimit) {
      const need = data.memory.cpuBytes / 2 ** 20;
      throw new Error(`this volume (${data.dims.join('×')}) needs about ${need.toFixed(0)} MB to segment, more than the browser's CPU backend can hold (${(data.memory.cpuLimit / 2 ** 20).toFixed(0)} MB); crop or downsample the scan, or use a browser with WebGPU`);
    }
    const key = `${data.modelKey}/${backend}`;
    if (!loaded.has(key)) loaded.set(key, await load_segmenter(new Uint8Array(data.bundle), backend === 'webgpu'));
    const seg = loaded.get(key);
    const name = seg.backend();
    self.postMessage({ type: 'backend', backend: name });
    let windows = 0;
    const labels = await seg.segment(data.image, Uint32Array.from(data.dims), Uint32Array.from(data.stride),
      (done, total) => { windows = total; self.postMessage({ type: 'progress', done, total, backend: name }); });
    // wasm memory only grows: its size now is this worker's peak so far (on CPU: volume + windows)
    const memoryBytes = (await ready).memory.buffer.byteLength;
    self.postMessage({ type: 'done', labels, backend: name, windows, memoryBytes }, [labels.buffer]);
  } catch (e) {
    self.postMessage({ type: 'error', message: (e && e.message) ? e.message : String(e) });
  }
};
