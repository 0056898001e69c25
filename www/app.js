// semiseg page: events and drawing. The work (reading NIfTI and NRRD, orientation, slices, metrics, the mask
// file) is done by the wasm crate (web/src); segmentation runs in worker.js so the page never freezes.
// 2D images and prompts are the 2D mode (image2d.js). Nothing here sends scan data anywhere: the only
// requests are for the page's own files.
import { is2dFile, setup2d } from './image2d.js';

const $ = (id) => document.getElementById(id);
const PLANES = ['axial', 'coronal', 'sagittal'];
// The wasm CPU backend has at most 4 GiB of memory; keep a margin for the page itself.
// `?cpu-memory-mib=N` lowers that budget (a small device) and `?gpu-buffer-mib=N` caps the
// WebGPU buffer size below the adapter's; the browser tests use both to reach the refusals.
const params = new URLSearchParams(location.search);
const badParams = [];
const mib = (name) => {
  if (!params.has(name)) return Infinity;
  const v = Number(params.get(name));
  if (Number.isFinite(v) && v > 0) return v * 2 ** 20;
  badParams.push(`?${name}=${params.get(name)} is not a positive number of MiB; it is ignored.`);
  return Infinity;
};
const CPU_MEMORY_LIMIT = Math.min(3.0 * 2 ** 30, mib('cpu-memory-mib'));
const GPU_BUFFER_LIMIT = mib('gpu-buffer-mib');

const wasm = await new Promise((resolve) => {
  if (window.wasmBindings) return resolve(window.wasmBindings);
  addEventListener('TrunkApplicationStarted', () => resolve(window.wasmBindings), { once: true });
});

const state = {
  mode: '3d',          // '3d' (a scan) or '2d' (an image and a prompt)
  scan: null,          // wasm Scan
  pic: null,           // wasm Picture (2D)
  picBytes: null,      // the image file (the worker decodes it as `semiseg predict` does)
  picKey: null,        // which image is open: a result for another one is dropped
  window2d: [0, 255],
  window: [0, 1],
  slices: {},          // plane -> index
  models: [],          // {label, bytes, card, kind: '3d' | '2d'}; a bundled one also has file, and bytes and card only once fetched
  worker: null,
  running: false,
  started: 0,
};

// ---------- messages ----------
function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = false;
}
function clearError() { $('error').hidden = true; $('error').textContent = ''; }
function status(msg) { $('status').textContent = msg; }
const errText = (e) => (e && e.message) ? e.message : String(e);

// ---------- models ----------
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c]));
function cardHtml2d(card) {
  const c = card.image2d, m = c.metrics;
  const pct = (v) => `${(100 * v).toFixed(2)}%`;
  const score = m
    ? `test Dice ${pct(m.dice)}, IoU ${pct(m.iou)}${m.text_dice == null ? '' : `; the text mask alone: Dice ${pct(m.text_dice)}`} (${m.images} images)`
    : 'no test metrics recorded';
  return `<p><strong>${esc(card.name)}</strong></p>
    <p>${esc(card.method)}, ${card.steps} steps${card.weights ? ` (${esc(card.weights)})` : ''}, on ${esc(card.trained_on)};
    2D, ${c.vlm.image_size}×${c.vlm.image_size} input, UNet width ${c.unet_width}, ${c.has_tmg ? `with a text mask generator (prompts, scored by their ${c.prompt_embedding === 'words' ? 'word embeddings' : 'global embedding'})` : 'no text mask (prompts have no effect)'}, ${card.precision} weights</p>
    <p>${score}</p>${card.notes ? `<p>${esc(card.notes)}</p>` : ''}`;
}

function cardHtml(card) {
  if (card.architecture === 'amvlm-seg') return cardHtml2d(card);
  const m = card.metrics;
  const score = m
    ? `test Dice ${(100 * m.dice).toFixed(2)}%, Jaccard ${(100 * m.jaccard).toFixed(2)}%, 95HD ${m.hd95.toFixed(2)}, ASD ${m.asd.toFixed(2)} voxels (${m.cases} cases)`
    : 'no test metrics recorded';
  return `<p><strong>${esc(card.name)}</strong></p>
    <p>${esc(card.method)}, ${card.steps} steps${card.weights ? ` (${esc(card.weights)})` : ''}, on ${esc(card.trained_on)}; ${card.n_filters} filters, patch ${card.patch.join('×')}, ${card.precision} weights</p>
    <p>${score}</p>${card.notes ? `<p>${esc(card.notes)}</p>` : ''}`;
}

// The model list shows the models of the open mode (the card's architecture says which).
const kindOf = (card) => (card.architecture === 'amvlm-seg' ? '2d' : '3d');
const chosen = { '3d': null, '2d': null }; // the model chosen in each mode

/** Add a bundle to the models (throws for a bad one); returns its index. */
function addModel(label, bytes) {
  const card = JSON.parse(wasm.read_model_card(new Uint8Array(bytes)));
  state.models.push({ label, bytes, card, kind: kindOf(card) });
  return state.models.length - 1;
}

function fillModels() {
  const select = $('model');
  select.replaceChildren();
  state.models.forEach((m, i) => {
    if (m.kind !== state.mode) return;
    const opt = document.createElement('option');
    opt.value = String(i);
    opt.textContent = m.label;
    select.append(opt);
  });
  if (chosen[state.mode] !== null && state.models[chosen[state.mode]]?.kind === state.mode) select.value = String(chosen[state.mode]);
  showModel();
}

function chooseModel(index) {
  chosen[state.models[index].kind] = index;
  fillModels();
}

function currentModel() { return $('model').value === '' ? undefined : state.models[Number($('model').value)]; }

function showModel() {
  const m = currentModel();
  if (m) chosen[state.mode] = Number($('model').value);
  if (m && !m.bytes && !m.failed) fetchBundled(m);
  $('model-info').innerHTML = m ? (m.bytes ? cardHtml(m.card) : m.failed ? `could not load ${esc(m.label)}: ${esc(m.failed)}` : `loading ${esc(m.label)}…`)
    : state.mode === '2d' ? (state.loading2d ? 'loading the 2D models…' : 'no 2D model: load a 2D bundle (.semiseg)') : 'no model';
  updateButtons();
}

let modelIndex = null;
async function bundledModels() {
  if (!modelIndex) modelIndex = fetch('assets/models/index.json').then((r) => r.json());
  return modelIndex;
}

/** List the bundled models of one kind ('3d' at start; '2d' when the 2D mode is first used). Each
 * bundle is fetched when it is first shown: the first of its kind now, the others when chosen. */
async function listBundledModels(kind) {
  try {
    for (const entry of (await bundledModels()).filter((e) => (e.kind || '3d') === kind)) {
      state.models.push({ label: entry.label, file: entry.file, bytes: null, card: null, kind });
    }
  } catch (e) {
    showError(`Could not read the list of bundled models: ${errText(e)}. You can still load a model bundle (.semiseg) yourself.`);
  }
  fillModels();
  const m = currentModel();
  if (m && m.file) await fetchBundled(m);
}

/** Fetch a bundled model's bytes and card once; a failure is shown and kept on the model. */
function fetchBundled(m) {
  if (!m.fetching) {
    m.fetching = (async () => {
      const res = await fetch(`assets/models/${m.file}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = await res.arrayBuffer();
      const card = JSON.parse(wasm.read_model_card(new Uint8Array(bytes)));
      if (kindOf(card) !== m.kind) throw new Error(`it is a ${kindOf(card).toUpperCase()} model, but the list of bundled models says ${m.kind.toUpperCase()}`);
      m.card = card;
      m.bytes = bytes;
    })().catch((e) => {
      m.failed = errText(e);
      showError(`Could not load the bundled model ${m.label} (${m.file}): ${m.failed}. You can still load a model bundle (.semiseg) yourself.`);
    }).then(() => { if (currentModel() === m) showModel(); });
  }
  return m.fetching;
}

let loaded2d = null;
function setMode(mode) {
  state.mode = mode;
  document.body.dataset.mode = mode;
  $('viewer').hidden = mode !== '3d' || !state.scan;
  $('viewer2d').hidden = mode !== '2d';
  $('scan-info').textContent = mode === '2d'
    ? (state.pic ? `${state.pic.name()}: ${state.pic.describe()}` : 'none')
    : (state.scan ? `${state.scan.name()}: ${state.scan.describe()}` : 'none');
  if (mode === '2d' && !loaded2d) {
    state.loading2d = true;
    loaded2d = listBundledModels('2d').then(() => { state.loading2d = false; showModel(); });
  }
  fillModels();
}

/** A new scan or image is being opened: a running segmentation (of the old one) is stopped. Returns
 * words for the status ('' when nothing was running). */
function discardRunning() {
  if (!state.running) return '';
  state.worker.terminate();
  state.worker = null;
  finishRun();
  $('progress').value = 0;
  return ' The running segmentation of the previous one was stopped.';
}

function save(bytes, type, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- scans ----------
async function readFile(file) { return new Uint8Array(await file.arrayBuffer()); }

function openScan(name, bytes) {
  clearError();
  let scan;
  try {
    scan = wasm.Scan.open(name, bytes);
  } catch (e) {
    // the reader's messages start with the file name, which this line already gives
    const msg = errText(e);
    showError(`Cannot open ${name}: ${msg.startsWith(`${name}: `) ? msg.slice(name.length + 2) : msg}`);
    return false;
  }
  const stopped = discardRunning();
  if (state.scan) state.scan.free();
  state.scan = scan;
  const w = scan.default_window();
  state.window = [w[0], w[1]];
  $('win-lo').value = w[0].toPrecision(4);
  $('win-hi').value = w[1].toPrecision(4);
  for (const p of PLANES) {
    const [n] = scan.plane_info(p);
    state.slices[p] = Math.floor(n / 2);
    const fig = document.querySelector(`figure[data-plane=${p}]`);
    const range = fig.querySelector('input');
    range.max = String(n - 1);
    range.value = String(state.slices[p]);
    const labels = scan.edge_labels(p);
    for (const [cls, i] of [['l', 0], ['r', 1], ['t', 2], ['b', 3]]) fig.querySelector(`.${cls}`).textContent = labels[i];
  }
  $('scan-info').textContent = `${name}: ${scan.describe()}`;
  document.body.dataset.scans = String(Number(document.body.dataset.scans || 0) + 1);
  $('result-info').textContent = 'not segmented yet';
  $('metrics').hidden = true;
  setMode('3d');
  $('viewer').hidden = false;
  status(`Opened ${name}.${stopped}`);
  drawAll();
  updateButtons();
  return true;
}

// `orScan` (a dropped file whose name says ground truth): a file that is no mask (values above 1)
// is a scan after all, and is opened as one, saying so.
function openTruth(name, bytes, { orScan = false } = {}) {
  clearError();
  if (state.mode === '2d' && state.pic) { image2d.openTruth(name, bytes); return; }
  if (!state.scan) { showError('Open a scan or an image first, then its ground truth.'); return; }
  try {
    state.scan.open_truth(name, bytes);
  } catch (e) {
    if (orScan && /label values above 1|not a binary mask/.test(errText(e))) {
      Promise.resolve(openFile(name, bytes)).then(() => showError(`${name} is not a binary mask (its values are not all 0 and 1), so it was opened as a scan, not as ground truth.`));
      return;
    }
    showError(`Cannot use ${name} as ground truth: ${errText(e)}`);
    status(`Ground truth ${name} refused.`);
    return;
  }
  status(`Ground truth ${name} opened (drawn in green${state.scan.has_mask() ? '' : '; press Segment for the model\'s mask, drawn in red'}).`);
  updateButtons();
  showMetrics();
  drawAll();
}

// ---------- drawing ----------
function draw(plane) {
  const scan = state.scan;
  if (!scan) return;
  const [, w, h, sx, sy] = scan.plane_info(plane);
  const fig = document.querySelector(`figure[data-plane=${plane}]`);
  const canvas = fig.querySelector('canvas');
  canvas.width = w;
  canvas.height = h;
  // physical aspect: scale so the larger side is 320 CSS pixels
  const pw = w * sx, ph = h * sy, scale = 320 / Math.max(pw, ph);
  canvas.style.width = `${Math.round(pw * scale)}px`;
  canvas.style.height = `${Math.round(ph * scale)}px`;
  const rgba = scan.render(plane, state.slices[plane], state.window[0], state.window[1],
    Number($('opacity').value), $('show-mask').checked, $('show-truth').checked);
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer), w, h), 0, 0);
  fig.querySelector('output').textContent = `${state.slices[plane] + 1} / ${scan.plane_info(plane)[0]}`;
}
function drawAll() { for (const p of PLANES) draw(p); }

// ---------- segmentation (worker) ----------
function newWorker() {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = onWorkerMessage;
  w.onerror = (e) => {
    // an uncaught error (a wasm trap, say) leaves the worker's wasm unusable: start afresh next time
    w.terminate();
    if (state.worker === w) state.worker = null;
    finishRun();
    showError(`The segmentation worker failed: ${e.message || 'unknown error'}`);
    status('Segmentation failed.');
  };
  return w;
}

function onWorkerMessage({ data }) {
  // a 2D result or error for an image that is no longer open is dropped
  if (data.imageKey !== undefined && data.imageKey !== state.picKey) return;
  if (data.type === 'done2d') {
    finishRun();
    image2d.onResult(data);
    updateButtons();
    return;
  }
  if (data.type === 'progress') {
    $('progress').max = data.total;
    $('progress').value = data.done;
    // the time left, from the windows done so far (all windows cost the same)
    const elapsed = (performance.now() - state.started) / 1000;
    const left = data.done > 0 && data.done < data.total ? elapsed / data.done * (data.total - data.done) : 0;
    const eta = left > 0 ? `, about ${left < 90 ? `${Math.ceil(left)} s` : `${Math.round(left / 60)} min`} left` : '';
    status(`Segmenting on ${data.backend}${state.backendNote ? ` (${state.backendNote})` : ''}: window ${data.done} of ${data.total}${eta}…`);
  } else if (data.type === 'backend') {
    state.backendNote = data.note || '';
    status(`Segmenting on ${data.backend}${state.backendNote ? ` (${state.backendNote})` : ''}…`);
  } else if (data.type === 'done') {
    const seconds = (performance.now() - state.started) / 1000;
    finishRun();
    let removed;
    try {
      removed = state.scan.set_mask(data.labels, $('largest-component').checked);
    } catch (e) {
      showError(`The result does not fit the scan: ${errText(e)}`);
      return;
    }
    const [voxels, ml] = state.scan.mask_summary();
    const mib = (b) => (b / 2 ** 20).toFixed(0);
    const estimate = state.memoryEstimate;
    $('result-info').innerHTML = `<p>Segmented on <strong id="ran-on">${data.backend}</strong>${state.backendNote ? ` <span id="backend-note">(${state.backendNote})</span>` : ''} in <strong id="seconds">${seconds.toFixed(1)} s</strong>
      (${data.windows} windows).</p><p><span id="mask-voxels">${voxels}</span> foreground voxels, ${ml.toFixed(1)} ml${removed ? ` (${removed} voxels outside the largest component removed)` : ''}.</p>
      <p>Worker memory: <span id="worker-memory" data-bytes="${data.memoryBytes}" data-estimate="${estimate}">${mib(data.memoryBytes)} MB</span>
      (estimated before running, on the CPU backend: ${mib(estimate)} MB).</p>`;
    if (state.fitNote) {
      const p = document.createElement('p');
      p.id = 'fit-note';
      p.className = 'note';
      p.textContent = `Note: ${state.fitNote}.`;
      $('result-info').appendChild(p);
    }
    status(`Done: ${data.backend}, ${seconds.toFixed(1)} s.`);
    showMetrics();
    drawAll();
  } else if (data.type === 'error') {
    finishRun();
    showError(`Segmentation failed: ${data.message}`);
    status('Segmentation failed.');
  }
  updateButtons();
}

function segment() {
  if (state.mode === '2d') { image2d.segment(); return; }
  clearError();
  const scan = state.scan, model = currentModel();
  if (!scan || !model?.bytes) return;
  const dims = Array.from(scan.dims());
  const card = model.card;
  // a single slice is refused; a volume smaller than the patch is segmented with a note
  try {
    state.fitNote = wasm.check_fit(Uint32Array.from(dims), Uint32Array.from(card.patch));
  } catch (e) {
    showError(errText(e));
    return;
  }
  const [cpuBytes, largest] = wasm.estimate_memory(Uint32Array.from(dims), Uint32Array.from(card.patch), card.n_filters, card.n_classes);
  state.memoryEstimate = cpuBytes;
  const backend = $('backend').value;
  const stride = $('stride').value === 'fast' ? card.patch.map((p) => Math.max(1, Math.floor(p / 2))) : [];
  if (!state.worker) state.worker = newWorker();
  state.running = true;
  state.backendNote = '';
  state.started = performance.now();
  $('progress').value = 0;
  status('Starting the segmentation worker…');
  const image = scan.image();
  state.worker.postMessage({
    type: 'segment', modelKey: $('model').value, bundle: model.bytes, backend,
    image, dims, stride, memory: { cpuBytes, largest, cpuLimit: CPU_MEMORY_LIMIT, gpuLimit: GPU_BUFFER_LIMIT },
  }, [image.buffer]);
  updateButtons();
}

function finishRun() { state.running = false; updateButtons(); }

function cancel() {
  if (!state.running) return;
  state.worker.terminate();   // stops the computation wherever it is
  state.worker = null;
  finishRun();
  $('progress').value = 0;
  status('Cancelled.');
}

// ---------- results ----------
function showMetrics() {
  const scan = state.scan;
  const table = $('metrics');
  if (!scan || !scan.has_mask() || !scan.has_truth()) { table.hidden = true; return; }
  let m;
  try { m = JSON.parse(scan.metrics()); } catch (e) { showError(errText(e)); return; }
  // overlaps have no unit; distances are given in mm and in voxels
  const row = (name, mm, vox) => `<tr><td>${name}</td><td>${mm}</td><td>${vox}</td></tr>`;
  const pct = (v) => `${(100 * v).toFixed(2)}%`;
  table.innerHTML = `<tr><td>Dice</td><td colspan="2">${pct(m.mm.dice)}</td></tr>`
    + `<tr><td>Jaccard</td><td colspan="2">${pct(m.mm.jaccard)}</td></tr>`
    + '<tr><th>distance</th><th>mm</th><th>voxels</th></tr>'
    + row('95HD', m.mm.hd95.toFixed(2), m.voxels.hd95.toFixed(2))
    + row('ASD', m.mm.asd.toFixed(2), m.voxels.asd.toFixed(2));
  table.dataset.dice = String(m.mm.dice);
  table.hidden = false;
}

function download() {
  if (state.mode === '2d') { image2d.download('mask'); return; }
  clearError();
  let bytes;
  try { bytes = state.scan.mask_nifti(); } catch (e) { showError(errText(e)); return; }
  save(bytes, 'application/gzip', state.scan.mask_file_name());
}

function updateButtons() {
  const item = state.mode === '2d' ? state.pic : state.scan;
  $('segment').disabled = !item || !currentModel()?.bytes || state.running;
  $('prompt-go').disabled = $('segment').disabled;
  $('cancel').disabled = !state.running;
  $('download').disabled = !item || !item.has_mask() || state.running;
  // the overlay switches: only for an overlay there is (the sample's ground truth, drawn before
  // anything is segmented, is not taken for the model's mask)
  $('show-mask').disabled = !state.scan || !state.scan.has_mask();
  $('show-truth').disabled = !state.scan || !state.scan.has_truth();
  $('show-mask2d').disabled = !state.pic || !state.pic.has_mask();
  $('show-truth2d').disabled = !state.pic || !state.pic.has_truth();
  $('download-text').disabled = !state.pic || !state.pic.has_text() || state.running;
}

// ---------- events ----------
/** A scan (3D) or an image (2D), told apart by name and first bytes. */
function openFile(name, bytes) {
  return is2dFile(name, bytes) ? image2d.open(name, bytes) : openScan(name, bytes);
}
$('scan-file').addEventListener('change', async (ev) => {
  const f = ev.target.files[0];
  if (f) openFile(f.name, await readFile(f));
  ev.target.value = '';
});
$('truth-file').addEventListener('change', async (ev) => {
  const f = ev.target.files[0];
  if (f) openTruth(f.name, await readFile(f));
  ev.target.value = '';
});
$('bundle-file').addEventListener('change', async (ev) => {
  const f = ev.target.files[0];
  ev.target.value = '';
  if (!f) return;
  clearError();
  loadBundle(f.name, await f.arrayBuffer());
});

/** A model bundle the user loaded: listed in its mode, with a message when that is not the open one. */
function loadBundle(name, bytes) {
  let i;
  try { i = addModel(name, bytes); } catch (e) { showError(`Cannot use ${name} as a model: ${errText(e)}`); return; }
  const kind = state.models[i].kind;
  chosen[kind] = i;
  if (kind === state.mode) {
    fillModels();
    status(`Model bundle ${name} loaded.`);
  } else {
    const what = kind === '2d' ? 'a 2D text-guided model (for images and prompts)' : 'a 3D V-Net (for scans)';
    const open = state.mode === '2d' ? 'an image is open' : 'a scan is open';
    showError(`${name} is ${what}, but ${open}: it is listed under Model when you open ${kind === '2d' ? 'an image' : 'a scan'}.`);
  }
}
$('sample').addEventListener('click', async () => {
  clearError();
  status('Loading the sample…');
  try {
    const sample = await (await fetch('assets/sample/index.json')).json();
    const get = async (file) => {
      const res = await fetch(`assets/sample/${file}`);
      if (!res.ok) throw new Error(`${file}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    };
    if (openScan(sample.image, await get(sample.image)) && sample.label) openTruth(sample.label, await get(sample.label));
    status(`Sample loaded: ${sample.description} Its ground truth is drawn in green; press Segment for the model's mask (red).`);
  } catch (e) {
    showError(`Could not load the sample: ${errText(e)}`);
  }
});
$('sample2d').addEventListener('click', async () => {
  clearError();
  status('Loading the sample…');
  try {
    const sample = await (await fetch('assets/sample2d/index.json')).json();
    const get = async (file) => {
      const res = await fetch(`assets/sample2d/${file}`);
      if (!res.ok) throw new Error(`${file}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    };
    if (!(await image2d.open(sample.image, await get(sample.image)))) return;
    $('prompt').value = sample.prompt;
    if (sample.label) image2d.openTruth(sample.label, await get(sample.label));
    status(`Sample loaded: ${sample.description} Its report reads: "${sample.text}". Edit the prompt and press Segment.`);
  } catch (e) {
    showError(`Could not load the sample: ${errText(e)}`);
  }
});
$('model').addEventListener('change', showModel);
// the file buttons are labels of hidden inputs: reachable with Tab, opened with Enter or Space
for (const label of document.querySelectorAll('label.button[for]')) {
  label.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); $(label.htmlFor).click(); }
  });
}
const image2d = setup2d({
  state, $, showError, clearError, status, errText, gpuLimit: GPU_BUFFER_LIMIT, cpuLimit: CPU_MEMORY_LIMIT,
  setMode, discardRunning, newWorker, currentModel, updateButtons, save,
});
$('segment').addEventListener('click', segment);
$('cancel').addEventListener('click', cancel);
// Escape cancels a running segmentation (3D or 2D), as the Cancel button does
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.running) { ev.preventDefault(); cancel(); }
});
$('download').addEventListener('click', download);
for (const id of ['opacity', 'show-mask', 'show-truth']) $(id).addEventListener('input', drawAll);
$('largest-component').addEventListener('change', () => {
  const scan = state.scan;
  if (!scan || !scan.has_mask()) return;
  const removed = scan.set_largest_component($('largest-component').checked);
  const voxels = scan.mask_summary()[0];
  if ($('mask-voxels')) $('mask-voxels').textContent = voxels;
  status($('largest-component').checked
    ? `Largest component only: ${removed} voxels removed, ${voxels} kept.`
    : `Raw mask: ${voxels} foreground voxels.`);
  showMetrics();
  drawAll();
});
for (const id of ['win-lo', 'win-hi']) {
  $(id).addEventListener('change', () => {
    const lo = Number($('win-lo').value), hi = Number($('win-hi').value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) { state.window = [lo, hi]; drawAll(); }
    else showError('The window needs two numbers, the first below the second.');
  });
}
$('win-reset').addEventListener('click', () => {
  if (!state.scan) return;
  const w = state.scan.default_window();
  state.window = [w[0], w[1]];
  $('win-lo').value = w[0].toPrecision(4);
  $('win-hi').value = w[1].toPrecision(4);
  drawAll();
});
for (const p of PLANES) {
  document.querySelector(`figure[data-plane=${p}] input`).addEventListener('input', (ev) => {
    state.slices[p] = Number(ev.target.value);
    draw(p);
  });
}
// Whether a file name says "ground truth": one of its words (split at anything not a letter or
// digit, and at lower-to-upper case changes) is label, mask, seg, truth, gt, ... A scan whose name
// merely contains such letters (segment_study.nii, length.nii) is not one.
const TRUTH_WORDS = new Set(['label', 'labels', 'mask', 'masks', 'seg', 'segmentation', 'truth',
  'groundtruth', 'gt', 'laendo', 'manual', 'annotation']);
function namesTruth(name) {
  const words = name.replace(/\.(nii|nrrd|nhdr|gz|png|jpe?g|tiff?|dcm)$/gi, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/);
  return words.some((w) => TRUTH_WORDS.has(w));
}
// drag and drop anywhere: a scan, or (when a scan is open and the name says so) a ground truth
addEventListener('dragover', (ev) => { ev.preventDefault(); document.body.classList.add('dragging'); });
addEventListener('dragleave', () => document.body.classList.remove('dragging'));
addEventListener('drop', async (ev) => {
  ev.preventDefault();
  document.body.classList.remove('dragging');
  const f = ev.dataTransfer.files[0];
  if (!f) return;
  const bytes = await readFile(f);
  if (f.name.endsWith('.semiseg')) {
    loadBundle(f.name, bytes.buffer);
  } else if ((state.mode === '2d' ? state.pic : state.scan) && namesTruth(f.name)
    && is2dFile(f.name, bytes) === (state.mode === '2d')) {
    openTruth(f.name, bytes, { orScan: true });
  } else {
    openFile(f.name, bytes);
  }
});

document.body.dataset.mode = '3d';
updateButtons();
await listBundledModels('3d');
if (badParams.length) showError([$('error').textContent, ...badParams].filter(Boolean).join(' '));
document.body.dataset.ready = 'true';
