// The page's 2D mode: an image (PNG, JPEG, TIFF), a prompt, and a text-guided model (AMVLM, spec A6).
// The work is the 2D wasm module's (web/text, fetched when the first image is opened): `Picture`
// (web/text/src/picture.rs) decodes the image, draws it with the
// text mask as a heat map and the mask, scores it against a ground truth and writes the PNGs; the
// worker runs the shared `TextGuidedModel` as `semiseg predict --prompt` does, keeping the image's
// embedding so a new prompt costs only the text side. Results carry the key of the image they were
// computed for: one that arrives after another image was opened is dropped.

/** Whether a file is a 2D image (by its name or its first bytes), not a 3D scan. */
export function is2dFile(name, bytes) {
  if (/\.(png|jpe?g|tiff?|dcm)$/i.test(name)) return true;
  const b = bytes;
  const starts = (...sig) => sig.every((v, i) => b[i] === v);
  return starts(0x89, 0x50, 0x4e, 0x47) || starts(0xff, 0xd8, 0xff) || starts(0x49, 0x49, 0x2a, 0)
    || starts(0x4d, 0x4d, 0, 0x2a) || (b.length > 132 && String.fromCharCode(...b.subarray(128, 132)) === 'DICM');
}

/** The 2D mode, wired to the page's shared helpers (`ctx`: wasm, state, $, showError, clearError, status, errText, ...). */
export function setup2d(ctx) {
  const { state, $, showError, clearError, status, errText } = ctx;
  let imageKey = 0;
  let wasm = null; // the 2D module, once loaded
  let loading = null;
  async function module2d() {
    loading ??= import('./semiseg-web-text.js').then(async (m) => {
      await m.default({ module_or_path: new URL('./semiseg-web-text_bg.wasm', import.meta.url) });
      wasm = m;
      return m;
    });
    return loading;
  }

  function view() {
    return new wasm.View($('show-mask2d').checked, $('show-text').checked, $('show-truth2d').checked,
      Number($('opacity2d').value), Number($('text-opacity').value), $('stretch-text').checked);
  }

  function draw() {
    const pic = state.pic;
    if (!pic) return;
    const w = pic.width(), h = pic.height();
    const canvas = $('canvas2d');
    canvas.width = w;
    canvas.height = h;
    // small images (a model's 64 or 224 pixels) are shown enlarged, pixels kept sharp
    const scale = Math.max(1, 448 / Math.max(w, h));
    canvas.style.width = `${Math.round(w * scale)}px`;
    canvas.style.height = `${Math.round(h * scale)}px`;
    canvas.style.imageRendering = scale > 1 ? 'pixelated' : 'auto';
    const v = view();
    const rgba = pic.render(state.window2d[0], state.window2d[1], v);
    v.free();
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer), w, h), 0, 0);
  }

  /** Open a 2D image; false (with a message) when it cannot be read. */
  async function open(name, bytes) {
    clearError();
    let pic;
    try {
      if (!wasm) status('Loading the 2D engine…');
      pic = (await module2d()).Picture.open(name, bytes);
    } catch (e) {
      const msg = errText(e);
      showError(`Cannot open ${name}: ${msg.startsWith(name) ? msg.slice(name.length).replace(/^[:\s]+/, '') : msg}`);
      return false;
    }
    const stopped = ctx.discardRunning();
    if (state.pic) state.pic.free();
    state.pic = pic;
    state.picBytes = bytes;
    state.picKey = `image-${++imageKey}`;
    const w = pic.default_window();
    state.window2d = [w[0], w[1]];
    $('win2d-lo').value = w[0].toPrecision(5);
    $('win2d-hi').value = w[1].toPrecision(5);
    $('scan-info').textContent = `${name}: ${pic.describe()}`;
    document.body.dataset.scans = String(Number(document.body.dataset.scans || 0) + 1);
    $('result-info').textContent = 'not segmented yet';
    $('prompt-words').textContent = '';
    showWordMaps(null);
    $('metrics').hidden = true;
    ctx.setMode('2d');
    status(`Opened ${name}. Type what to find and press Enter or Segment.${stopped}`);
    draw();
    ctx.updateButtons();
    return true;
  }

  function openTruth(name, bytes) {
    clearError();
    try {
      state.pic.open_truth(name, bytes);
    } catch (e) {
      showError(`Cannot use ${name} as ground truth: ${errText(e)}`);
      status(`Ground truth ${name} refused.`);
      return;
    }
    status(`Ground truth ${name} opened (drawn in green${state.pic.has_mask() ? '' : '; press Segment for the model\'s mask, drawn in red'}).`);
    ctx.updateButtons();
    showMetrics();
    draw();
  }

  function showMetrics() {
    const pic = state.pic, table = $('metrics');
    if (!pic || !pic.has_mask() || !pic.has_truth()) { table.hidden = true; return; }
    const m = JSON.parse(pic.metrics());
    const pct = (v) => `${(100 * v).toFixed(2)}%`;
    table.innerHTML = `<tr><th>metric</th><th>mask</th></tr><tr><td>Dice</td><td>${pct(m.dice)}</td></tr><tr><td>IoU</td><td>${pct(m.iou)}</td></tr>`;
    table.dataset.dice = String(m.dice);
    table.hidden = false;
  }

  function segment() {
    clearError();
    const pic = state.pic, model = ctx.currentModel();
    if (!pic) { showError('Open an image first (PNG, JPEG or TIFF), or try the radiograph sample.'); return; }
    if (!model) { showError('No 2D model is loaded: load a 2D model bundle (.semiseg) that `semiseg export` wrote from a text-guided run.'); return; }
    if (!model.bytes) { showError(`${model.label} is ${model.failed ? `not loaded: ${model.failed}` : 'still loading; segment when its card is shown'}.`); return; }
    if (model.card.architecture !== 'amvlm-seg') {
      showError(`${model.label} is a 3D V-Net for scans; choose a 2D text-guided model for an image.`);
      return;
    }
    const prompt = $('prompt').value.trim();
    const hasTmg = model.card.image2d.has_tmg;
    if (hasTmg && !prompt) {
      showError('The prompt is empty: describe what to find, e.g. "lesion in the lower left lung".');
      $('prompt').focus();
      return;
    }
    // memory estimated before running (TextGuidedMemory): the worker refuses a CPU run above its
    // budget and a WebGPU run whose largest tensor passes the GPU's buffer limit
    let cpuBytes, largest, webgpuBytes;
    try {
      [cpuBytes, largest, webgpuBytes] = pic.estimate_memory(JSON.stringify(model.card), model.bytes.byteLength);
    } catch (e) { showError(`Cannot use ${model.label}: ${errText(e)}`); return; }
    state.memoryEstimate = cpuBytes;
    if (!state.worker) state.worker = ctx.newWorker();
    state.running = true;
    state.started = performance.now();
    state.request2d = { imageKey: state.picKey, prompt, fuse: $('fuse').checked && hasTmg, model: model.label };
    status('Starting the segmentation worker…');
    state.worker.postMessage({
      type: 'segment2d', modelKey: $('model').value, bundle: model.bytes, backend: $('backend').value,
      imageKey: state.picKey, image: state.picBytes, name: pic.name(), prompt: hasTmg ? prompt : '',
      fuse: state.request2d.fuse,
      memory: { cpuBytes, largest, webgpuBytes, cpuLimit: ctx.cpuLimit, gpuLimit: ctx.gpuLimit },
    });
    if (!hasTmg && prompt) status(`${model.label} trained no text mask generator: the prompt is ignored, the mask is the model's own.`);
    ctx.updateButtons();
  }

  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

  function showWords(prompt, words) {
    const unknown = new Set(words.unknown), spelt = new Set(words.spelt);
    const cut = words.cut || [];
    // the words past the encoder's length are the prompt's last ones: grey them from there on
    const parts = prompt.split(/([^\p{L}\p{N}]+)/u);
    const nWords = parts.filter((p) => /[\p{L}\p{N}]/u.test(p)).length;
    let seen = 0;
    const html = parts.map((part) => {
      const isWord = /[\p{L}\p{N}]/u.test(part);
      if (isWord) seen++;
      if (isWord && seen > nWords - cut.length) return `<mark class="cut" title="past the ${words.max_tokens} tokens the model reads: not read">${esc(part)}</mark>`;
      if (unknown.has(part)) return `<mark class="unknown" title="not in the model's vocabulary: read as an unknown word">${esc(part)}</mark>`;
      if (spelt.has(part)) return `<mark class="spelt" title="not a word of the model's vocabulary: spelt in pieces, the model may never have read it">${esc(part)}</mark>`;
      return esc(part);
    }).join('');
    const notes = [];
    if (cut.length) notes.push(`the model reads ${words.max_tokens} tokens: “${cut.map(esc).join(' ')}” ${cut.length === 1 ? 'is' : 'are'} not read; shorten the prompt`);
    if (words.unknown.length) notes.push(`unknown to the model: ${words.unknown.map(esc).join(', ')}`);
    if (words.spelt.length) notes.push(`not in its vocabulary as words: ${words.spelt.map(esc).join(', ')}`);
    $('prompt-words').innerHTML = `Prompt: ${html}${notes.length ? ` <span class="note">(${notes.join('; ')})</span>` : ''}`;
  }

  // Clickable words: each shows its pre-trained similarity to every patch of the image (the VLM's
  // word-to-patch cosine, min to max as blue to red) in place of the text mask; again to hide.
  function showWordMaps(wm) {
    const box = $('word-maps');
    state.wordMap = null;
    if (!wm || !wm.words.length) { box.hidden = true; box.innerHTML = ''; return; }
    const n = wm.grid * wm.grid;
    box.innerHTML = 'Click a word to see where the model relates it to the image: '
      + wm.words.map(([slot, w]) => `<button type="button" data-slot="${slot}" aria-pressed="false"${w === '[UNK]' ? ' class="unknown" title="not in the model\'s vocabulary"' : ''}>${esc(w)}</button>`).join('');
    box.hidden = false;
    for (const b of box.querySelectorAll('button')) {
      b.addEventListener('click', () => {
        const slot = Number(b.dataset.slot), word = b.textContent;
        const on = state.wordMap !== slot;
        for (const o of box.querySelectorAll('button')) o.setAttribute('aria-pressed', String(on && o === b));
        try {
          if (on) {
            const [lo, hi] = state.pic.set_word_map(wm.grid, wm.maps.subarray(slot * n, (slot + 1) * n));
            state.wordMap = slot;
            status(`The similarity of “${word}” to each part of the image (pre-trained word-to-patch cosine, ${lo.toFixed(2)} blue to ${hi.toFixed(2)} red); click it again for the text mask.`);
          } else {
            state.pic.set_word_map(wm.grid, new Float32Array(0));
            state.wordMap = null;
            status('The text mask again.');
          }
        } catch (e) { showError(errText(e)); return; }
        draw();
      });
    }
  }

  /** A worker result; false when it belongs to an image no longer open (dropped). */
  function onResult(data) {
    if (data.imageKey !== state.picKey) return false;
    const req = state.request2d;
    const fused = req.fuse && data.fused;
    let fg;
    try {
      fg = state.pic.set_maps(data.size, fused ? data.fused : data.prob, data.text || new Float32Array(0));
    } catch (e) {
      showError(`The result does not fit the image: ${errText(e)}`);
      return true;
    }
    const ms = (v) => `${v.toFixed(0)} ms`;
    const mib = (b) => (b / 2 ** 20).toFixed(0);
    const total = state.pic.width() * state.pic.height();
    $('result-info').innerHTML = `<p>Segmented on <strong id="ran-on">${data.backend}</strong>${data.note ? ` <span id="backend-note">(${esc(data.note)})</span>` : ''}:
      image embedding and mask <strong id="embed-ms">${data.embedMs === null ? 'cached' : ms(data.embedMs)}</strong>${data.promptMs === null ? '' : `,
      prompt <strong id="prompt-ms">${ms(data.promptMs)}</strong>`}.</p>
      <p><span id="mask-pixels">${fg}</span> foreground pixels (${(100 * fg / total).toFixed(1)}%)${fused ? ', steered by the prompt' : ''}.</p>
      <p>Worker memory (its 2D module's peak so far): <span id="worker-memory" data-bytes="${data.memoryBytes}" data-estimate="${state.memoryEstimate}">${mib(data.memoryBytes)} MB</span>
      (estimated before running, on the CPU backend: ${mib(state.memoryEstimate)} MB).</p>`;
    if (req.prompt && data.text) showWords(req.prompt, data.words);
    showWordMaps(data.text ? data.wordMaps : null);
    const took = data.embedMs === null ? `prompt ${ms(data.promptMs || 0)}, image cached` : `${ms((data.embedMs || 0) + (data.promptMs || 0))}`;
    status(`Done: ${data.backend}, ${took}.`);
    showMetrics();
    draw();
    return true;
  }

  function download(which) {
    clearError();
    const pic = state.pic;
    let bytes;
    try { bytes = which === 'text' ? pic.text_png() : pic.mask_png(); } catch (e) { showError(errText(e)); return; }
    // the names say which prompt made them (the model's own mask does not depend on one)
    const req = state.request2d || {};
    const prompt = req.prompt || '';
    ctx.save(bytes, 'image/png', which === 'text' ? pic.text_file_name(prompt) : pic.mask_file_name(req.fuse ? prompt : ''));
  }

  $('prompt-form').addEventListener('submit', (ev) => { ev.preventDefault(); if (!state.running) segment(); });
  $('download-text').addEventListener('click', () => download('text'));
  for (const id of ['opacity2d', 'text-opacity', 'show-mask2d', 'show-text', 'show-truth2d', 'stretch-text']) $(id).addEventListener('input', draw);
  for (const id of ['win2d-lo', 'win2d-hi']) {
    $(id).addEventListener('change', () => {
      const lo = Number($('win2d-lo').value), hi = Number($('win2d-hi').value);
      if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) { state.window2d = [lo, hi]; draw(); } else showError('The window needs two numbers, the first below the second.');
    });
  }

  return { open, openTruth, segment, onResult, download, draw };
}
