// Browser tests of the semiseg page (issue 5), in Debian's headless Chromium driven by
// playwright-core. Run by scripts/browser_test.sh, which builds dist/ and the native masks first:
//   node tests/browser/run.mjs DIST FIXTURES_DIR NATIVE_DIR ARTIFACTS_DIR
// (FIXTURES_DIR: what tests/fixtures/make_web_fixtures.py wrote; NATIVE_DIR: `semiseg predict`'s
// mask for each of them, same name, .nii.gz).
// Serves DIST on 127.0.0.1, then: opens the page, loads the sample, opens odd NIfTI files
// (big-endian int16 LPS .nii, uint8 .nii.gz, float32 with permuted axes), segments them on the
// CPU fallback and on WebGPU (SwiftShader), compares the downloaded masks with `semiseg predict`'s
// (Dice > 0.999) and their headers with the inputs', checks that corrupt files and bad bundles
// show an error, and that no request left 127.0.0.1. Screenshots go to ARTIFACTS_DIR.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { serve, parseNifti, dice, launch } from './common.mjs';
import { run2d } from './image2d.mjs';

const [distArg, webFixtures, nativeDir, artifacts] = process.argv.slice(2);
const dist = path.resolve(distArg);
const fixtures = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures');
const fixture = (name) => (name.startsWith('../') ? path.join(fixtures, 'web', name) : path.join(webFixtures, name));
fs.mkdirSync(artifacts, { recursive: true });

const { base, served, missing, close } = await serve(dist);

// ---------- the browser ----------
const browser = await launch(chromium);
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1300, height: 1000 } });
const page = await context.newPage();
const outside = [];
page.on('request', (r) => { const u = new URL(r.url()); if (!['127.0.0.1', ''].includes(u.hostname) && !['blob:', 'data:'].includes(u.protocol)) outside.push(r.url()); });
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let failures = 0;
const results = [];
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(`ok    ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    results.push(`FAIL  ${name}: ${e.message}`);
    await page.screenshot({ path: path.join(artifacts, `fail-${name.replace(/\W+/g, '_')}.png`) }).catch(() => {});
  }
  console.log(results[results.length - 1]);
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const text = (sel) => page.locator(sel).innerText();

let opened = 0; // how many scans the page has opened (it counts them in body[data-scans])
async function openScan(file) {
  opened++;
  await page.locator('#scan-file').setInputFiles(file);
  await page.waitForFunction((n) => Number(document.body.dataset.scans) >= n, opened, { timeout: 60000, polling: 100 });
  const info = await text('#scan-info');
  assert(info.startsWith(path.basename(file)), `opened ${info}, not ${path.basename(file)}`);
}
async function segment(backend, timeout) {
  await page.selectOption('#backend', backend);
  await page.locator('#segment').click();
  await page.waitForFunction(() => /^(Done|Segmentation failed)/.test(document.getElementById('status').textContent), null, { timeout, polling: 200 });
  const status = await text('#status');
  assert(status.startsWith('Done'), `${status} / ${await text('#error')}`);
  return { ranOn: await text('#ran-on'), seconds: await text('#seconds') };
}
async function downloadMask() {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  return fs.readFileSync(await dl.path());
}

await check('page opens with the bundled model and no error', async () => {
  await page.goto(base);
  await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
  assert(await page.locator('#error').isHidden(), `error shown: ${await text('#error')}`);
  assert((await text('#model-info')).includes('filters'), 'model card not shown');
  await page.screenshot({ path: path.join(artifacts, 'start.png') });
});

await check('every request of the page is found (a favicon included: no 404 on each load)', async () => {
  await page.waitForTimeout(500);
  assert(missing.length === 0, `404 for ${missing.join(', ')}`);
});

await check('keyboard users reach the file buttons: Tab focus, Enter opens the file input', async () => {
  for (const id of ['scan-file', 'truth-file', 'bundle-file']) {
    const label = page.locator(`label[for=${id}]`);
    await label.focus();
    assert(await label.evaluate((el) => document.activeElement === el), `the button for #${id} cannot take the focus`);
    // the input's click (what opens the chooser) is recorded and its chooser suppressed: whether a
    // headless browser then shows a chooser is the browser's business
    await page.evaluate((want) => {
      const input = document.getElementById(want);
      input.dataset.clicked = '0';
      input.addEventListener('click', (ev) => { input.dataset.clicked = '1'; ev.preventDefault(); }, { once: true });
    }, id);
    await page.keyboard.press('Enter');
    await page.waitForFunction((want) => document.getElementById(want).dataset.clicked === '1', id, { timeout: 5000, polling: 50 });
  }
  // the intensity window and the sliding windows are no longer both called "Window(s)"
  const labels = await page.locator('label').allInnerTexts();
  assert(labels.some((l) => l.startsWith('Intensity window')) && labels.some((l) => l.startsWith('Sliding windows')), labels.join(' | '));
});

await check('sample loads into the viewer with its ground truth', async () => {
  await page.locator('#sample').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
  opened++;
  const info = await text('#scan-info');
  assert(/175 × 132 × 88 voxels/.test(info), info);
  assert(await page.locator('#viewer').isVisible(), 'viewer hidden');
  await page.screenshot({ path: path.join(artifacts, 'sample.png') });
});

const odd = ['la_crop_lps_i16_be.nii', 'la_crop_ras_u8.nii.gz', 'la_crop_pir_f32.nii.gz'];
const expected = JSON.parse(fs.readFileSync(fixture('expected.json')));
const backends = [['cpu', 'CPU (wasm)'], ['webgpu', 'WebGPU']];
let firstViews = null;
for (const name of odd) {
  for (const [backend, label] of backends) {
    // WebGPU (SwiftShader, a software GPU) is slow: run it on one file only
    if (backend === 'webgpu' && name !== odd[0]) continue;
    await check(`${name} on ${backend}: mask equals semiseg predict, header equals the input's`, async () => {
      const file = fixture(name);
      await openScan(file);
      const info = await text('#scan-info');
      assert(info.includes(`${expected[name].orientation} orientation`), info);
      // anatomical orientation whatever the file's: every file's views equal the first file's
      const views = await page.evaluate(() => Array.from(document.querySelectorAll('.planes canvas')).map((c) =>
        Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)));
      if (!firstViews) firstViews = views;
      for (let v = 0; v < 3; v++) {
        assert(views[v].length === firstViews[v].length, `view ${v} has another size than ${odd[0]}'s`);
        let diff = 0;
        for (let i = 0; i < views[v].length; i++) diff += Math.abs(views[v][i] - firstViews[v][i]);
        const mean = diff / views[v].length;
        assert(mean < 2, `view ${v} differs from ${odd[0]}'s by ${mean.toFixed(2)} grey levels on average`);
      }
      const run = await segment(backend, 900000);
      assert(run.ranOn === label, `ran on ${run.ranOn}, wanted ${label}`);
      const web = parseNifti(await downloadMask());
      const input = parseNifti(fs.readFileSync(file));
      const native = parseNifti(fs.readFileSync(path.join(nativeDir, `${name.replace(/\.nii(\.gz)?$/, '')}.nii.gz`)));
      assert(JSON.stringify(web.dims) === JSON.stringify(input.dims), `dims ${web.dims} vs input ${input.dims}`);
      for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) {
        assert(Math.abs(web.srow[r][c] - input.srow[r][c]) < 1e-4, `srow ${r}: ${web.srow[r]} vs input ${input.srow[r]}`);
      }
      assert(web.sform === input.sform && web.qform === input.qform, `form codes ${web.sform}/${web.qform} vs ${input.sform}/${input.qform}`);
      assert(web.datatype === 2, `mask datatype ${web.datatype}, want uint8 (2)`);
      const n = web.dims.reduce((a, b) => a * b, 1);
      const d = dice(web.data.subarray(0, n), native.data.subarray(0, n));
      const fg = web.data.subarray(0, n).reduce((a, v) => a + (v > 0), 0);
      assert(fg > 0, 'the mask is empty, so the comparison would prove nothing');
      assert(d > 0.999, `Dice with the native mask ${d}`);
      results.push(`      ${name} ${backend}: ${run.seconds}, ${fg} foreground voxels, Dice vs native ${d.toFixed(5)}`);
      await page.screenshot({ path: path.join(artifacts, `${name}-${backend}.png`) });
    });
  }
}

await check('a raw-intensity NRRD scan opens, is z-scored for the model (said on the page) and segments as semiseg predict --zscore', async () => {
  const name = 'la_crop_raw.nrrd';
  await openScan(fixture(name));
  const info = await text('#scan-info');
  const e = expected[name];
  assert(info.includes(`${e.orientation} orientation`) && info.includes('uint8'), info);
  assert(info.includes(`z-scored for the model (mean ${e.mean.toFixed(1)}`), info);
  const run = await segment('cpu', 900000);
  const web = parseNifti(await downloadMask());
  const native = parseNifti(fs.readFileSync(path.join(nativeDir, 'la_crop_raw.nii.gz')));
  assert(JSON.stringify(web.dims) === JSON.stringify(e.dims), `dims ${web.dims} vs ${e.dims}`);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) {
    assert(Math.abs(web.srow[r][c] - e.affine[r][c]) < 1e-4, `srow ${r}: ${web.srow[r]} vs the NRRD's ${e.affine[r]}`);
  }
  const n = web.dims.reduce((a, b) => a * b, 1);
  const d = dice(web.data.subarray(0, n), native.data.subarray(0, n));
  const fg = web.data.subarray(0, n).reduce((a, v) => a + (v > 0), 0);
  assert(fg > 0, 'the mask is empty, so the comparison would prove nothing');
  assert(d > 0.999, `Dice with the native mask ${d}`);
  results.push(`      ${name} cpu: ${run.seconds}, ${fg} foreground voxels, Dice vs native ${d.toFixed(5)}`);
});

await check('a scan smaller than the patch is segmented with a note; a single slice is refused', async () => {
  await openScan(fixture('small_crop.nii.gz'));
  await segment('cpu', 300000);
  const note = await text('#fit-note');
  assert(note.includes('(64×64×40) is smaller than the model') && note.includes('zero-padded'), note);
  await openScan(fixture('single_slice.nii.gz'));
  await page.locator('#segment').click();
  await page.waitForFunction(() => { const e = document.getElementById('error'); return !e.hidden && e.textContent.includes('single slice'); }, null, { timeout: 10000, polling: 100 });
  assert(!(await text('#status')).startsWith('Segmenting'), 'a refused scan started a segmentation');
  await page.screenshot({ path: path.join(artifacts, 'error-single-slice.png') });
});

for (const [name, want] of [['truncated.nii.gz', 'truncated'], ['not_nifti.nii', 'not a NIfTI'], ['../nifti/fourd_u8.nii.gz', '4D'], ['too_large.nii.gz', 'crop or downsample']]) {
  await check(`bad file ${name} shows an error`, async () => {
    await page.locator('#scan-file').setInputFiles(fixture(name));
    await page.waitForFunction((n) => { const e = document.getElementById('error'); return !e.hidden && e.textContent.includes(n); }, path.basename(name), { timeout: 10000, polling: 100 });
    const msg = await text('#error');
    assert(msg.toLowerCase().includes(want.toLowerCase()), msg);
    await page.screenshot({ path: path.join(artifacts, `error-${path.basename(name)}.png`) });
  });
}

await check('a file that is not a model bundle shows an error', async () => {
  await page.locator('#bundle-file').setInputFiles(fixture('not_nifti.nii'));
  await page.waitForFunction(() => document.getElementById('error').textContent.includes('not a semiseg model bundle'), null, { timeout: 10000, polling: 100 });
});

await check('sample segmentation with "auto" on a software WebGPU adapter runs on the CPU, says why and how long is left, and shows Dice against its ground truth', async () => {
  await page.locator('#sample').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
  opened++;
  // before anything is segmented only the ground truth is drawn, said so, with a legend; the
  // switch of the model's mask is off until there is one
  assert(/ground truth is drawn in green; press Segment/.test(await text('#status')), await text('#status'));
  assert(await page.locator('#show-mask').isDisabled(), "the model's mask switch is on before any mask");
  assert(await page.locator('#show-truth').isEnabled(), 'the ground-truth switch is off with a ground truth open');
  assert((await page.locator('#viewer .swatch.mask').count()) === 1 && (await page.locator('#viewer .swatch.truth').count()) === 1, 'no legend');
  await page.selectOption('#stride', 'fast');
  // every status shown while it runs
  await page.evaluate(() => {
    window.statuses = [];
    new MutationObserver(() => window.statuses.push(document.getElementById('status').textContent))
      .observe(document.getElementById('status'), { childList: true, characterData: true, subtree: true });
  });
  // headless Chromium's WebGPU is SwiftShader, a fallback adapter (about 40x slower than the CPU
  // on the sample): "auto" must not pick it
  const run = await segment('auto', 900000);
  assert(run.ranOn.startsWith('CPU'), `auto ran on ${run.ranOn}`);
  assert((await text('#backend-note')).includes('software fallback adapter'), await text('#result-info'));
  const statuses = await page.evaluate(() => window.statuses);
  assert(statuses.some((t) => /software fallback adapter/.test(t)), statuses.join(' | '));
  assert(statuses.some((t) => /window \d+ of \d+, about \d+ (s|min) left/.test(t)), statuses.join(' | '));
  assert(await page.locator('#show-mask').isEnabled(), "the model's mask switch is still off after segmenting");
  await page.waitForSelector('#metrics:not([hidden])');
  const d = Number(await page.locator('#metrics').getAttribute('data-dice'));
  assert(d >= 0 && d <= 1, `Dice ${d}`);
  // Dice and Jaccard once (they have no unit), the distances in mm and in voxels
  const table = await text('#metrics');
  assert(table.split('Dice').length === 2 && (await page.locator('#metrics td[colspan]').count()) === 2, `metrics table: ${table}`);
  // the estimate that refuses volumes before running must bound what the run used (the worker's
  // wasm memory only grows, so its size is the peak of every CPU run so far, the sample's largest)
  const mem = page.locator('#worker-memory');
  const [used, estimate] = [Number(await mem.getAttribute('data-bytes')), Number(await mem.getAttribute('data-estimate'))];
  assert(used > 0 && used <= estimate, `worker memory ${used} bytes, estimated ${estimate}`);
  results.push(`      sample (fast windows) on cpu: ${run.seconds}, Dice vs ground truth ${(100 * d).toFixed(2)}%, worker memory ${(used / 2 ** 20).toFixed(0)} MB of ${(estimate / 2 ** 20).toFixed(0)} MB estimated`);
  await page.screenshot({ path: path.join(artifacts, 'sample-segmented.png'), fullPage: true });
});

await check('"largest component only" cleans the mask as semiseg predict --largest-component, and unticking restores it', async () => {
  // the sample segmented above (fast windows); the natives are `semiseg predict --stride 56,56,40`
  // without and with --largest-component (scripts/browser_test.sh)
  const id = fs.readdirSync(path.join(dist, 'assets/sample')).find((f) => f.endsWith('_image.nii.gz')).replace(/^la_|_image\.nii\.gz$/g, '');
  const fg = (m) => m.data.reduce((a, v) => a + (v > 0), 0);
  const nativeRaw = parseNifti(fs.readFileSync(path.join(nativeDir, 'sample', `${id}.nii.gz`)));
  const nativeLcc = parseNifti(fs.readFileSync(path.join(nativeDir, 'sample', `${id}_lcc.nii.gz`)));
  const raw = parseNifti(await downloadMask());
  assert(dice(raw.data, nativeRaw.data) > 0.999, `raw mask: Dice with the native one ${dice(raw.data, nativeRaw.data)}`);
  const diceBefore = Number(await page.locator('#metrics').getAttribute('data-dice'));
  await page.locator('#largest-component').check();
  const lcc = parseNifti(await downloadMask());
  const dl = dice(lcc.data, nativeLcc.data);
  assert(dl > 0.999, `largest component: Dice with the native mask ${dl}`);
  assert(Number(await text('#mask-voxels')) === fg(lcc), `shown ${await text('#mask-voxels')} voxels, downloaded ${fg(lcc)}`);
  const removed = fg(raw) - fg(lcc);
  // when the native post-processing removes islands, the page must too (and rescore)
  if (fg(nativeRaw) > fg(nativeLcc)) {
    assert(removed > 0, 'the native mask loses islands but the page removed none');
    const diceAfter = Number(await page.locator('#metrics').getAttribute('data-dice'));
    assert(diceAfter !== diceBefore, `the metrics were not recomputed (Dice ${diceBefore})`);
  }
  await page.screenshot({ path: path.join(artifacts, 'sample-largest-component.png'), fullPage: true });
  await page.locator('#largest-component').uncheck();
  const back = parseNifti(await downloadMask());
  assert(dice(back.data, raw.data) === 1 && fg(back) === fg(raw), 'unticking did not restore the raw mask');
  results.push(`      sample largest component only: ${removed} island voxels of ${fg(raw)} removed, Dice vs native ${dl.toFixed(5)}`);
});

await check('cancel stops a running segmentation and the page stays usable', async () => {
  await page.selectOption('#stride', 'model');
  await page.selectOption('#backend', 'cpu');
  await page.locator('#segment').click();
  await page.waitForFunction(() => /window [1-9]/.test(document.getElementById('status').textContent), null, { timeout: 120000, polling: 100 });
  await page.locator('#cancel').click();
  assert((await text('#status')) === 'Cancelled.', await text('#status'));
  assert(await page.locator('#segment').isEnabled(), 'Segment disabled after cancel');
  await page.waitForTimeout(1500);
  assert((await text('#status')) === 'Cancelled.', `a cancelled run still reported: ${await text('#status')}`);
  // Escape cancels too
  await page.locator('#segment').click();
  await page.waitForFunction(() => /window [1-9]/.test(document.getElementById('status').textContent), null, { timeout: 120000, polling: 100 });
  await page.keyboard.press('Escape');
  assert((await text('#status')) === 'Cancelled.', `Escape: ${await text('#status')}`);
  assert(await page.locator('#segment').isEnabled(), 'Segment disabled after Escape');
});

await check('opening another scan while one segments stops it: no result of the old scan is shown, scored or downloaded', async () => {
  await page.selectOption('#stride', 'model');
  await page.selectOption('#backend', 'cpu');
  await page.locator('#segment').click();
  await page.waitForFunction(() => /window [1-9]/.test(document.getElementById('status').textContent), null, { timeout: 120000, polling: 100 });
  await openScan(fixture(odd[1]));
  const status = await text('#status');
  assert(status === `Opened ${odd[1]}. The running segmentation of the previous one was stopped.`, status);
  await page.waitForTimeout(3000);
  assert((await text('#result-info')) === 'not segmented yet', `a result was shown for the new scan: ${await text('#result-info')}`);
  assert(await page.locator('#download').isDisabled(), 'a mask can be downloaded for a scan never segmented');
  assert(await page.locator('#metrics').isHidden(), 'metrics shown for a scan never segmented');
});

// Drop a file on the page as a user does (the page's drop handler on window).
async function dropFile(name, bytes) {
  await page.evaluate(([name, b64]) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bin], name));
    window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [name, Buffer.from(bytes).toString('base64')]);
}
await check('a dropped scan whose name holds "seg" opens as a scan, not as a ground truth', async () => {
  // before: any name containing seg, gt, mask, ... (segment_study, length) was taken as a
  // ground truth of the open scan and refused
  const bytes = fs.readFileSync(fixture(odd[1]));
  await dropFile('segment_study.nii.gz', bytes);
  opened++;
  await page.waitForFunction((n) => Number(document.body.dataset.scans) >= n, opened, { timeout: 60000, polling: 100 });
  assert((await text('#scan-info')).startsWith('segment_study.nii.gz'), await text('#scan-info'));
  // a name that does say ground truth, on a file that is no mask (intensities): opened as a scan,
  // with a word
  await dropFile('case_seg.nii.gz', bytes);
  opened++;
  await page.waitForFunction((n) => Number(document.body.dataset.scans) >= n, opened, { timeout: 60000, polling: 100 });
  assert((await text('#scan-info')).startsWith('case_seg.nii.gz'), await text('#scan-info'));
  await page.waitForFunction(() => document.getElementById('error').textContent.includes('opened as a scan'), null, { timeout: 10000, polling: 100 });
});

const scratch = path.join(artifacts, 'inputs');
fs.mkdirSync(scratch, { recursive: true });
await run2d({ page, check, assert, text, artifacts, nativeDir, served, results, scratch });

// The memory estimate refuses a volume before running: the page is reopened with budgets below
// what the LA sample needs (8 MiB of CPU memory, 1 MiB WebGPU buffers), so the refusal paths run
// without a 200-million-voxel fixture.
// `button`: the 3D mode's Segment (#segment) or the 2D mode's (#prompt-go).
async function refusedWith(backend, want, button = '#segment') {
  await page.selectOption('#backend', backend);
  await page.locator(button).click();
  await page.waitForFunction(() => /^(Done|Segmentation failed)/.test(document.getElementById('status').textContent), null, { timeout: 60000, polling: 100 });
  const status = await text('#status');
  const msg = await text('#error');
  assert(status === 'Segmentation failed.', `${status} (expected a refusal)`);
  assert(msg.includes(want), msg);
  assert(await page.locator(button).isEnabled(), 'Segment disabled after a refusal');
  return msg;
}
await check('a volume past the memory budget is refused before it runs, with a message', async () => {
  await page.goto(`${base}?cpu-memory-mib=8&gpu-buffer-mib=1`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
  await page.locator('#sample').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
  const cpu = await refusedWith('cpu', "more than the browser's CPU backend can hold (8 MB)");
  assert(/this volume \(175×132×88\) needs about \d+ MB/.test(cpu), cpu);
  await refusedWith('webgpu', 'more than this GPU allows (1 MB)');
  // auto falls back from a GPU that cannot hold a window to the CPU, whose budget then refuses
  await refusedWith('auto', "more than the browser's CPU backend can hold");
  await page.screenshot({ path: path.join(artifacts, 'error-memory-budget.png') });
});

await check('2D: a model and image past the memory budget are refused before they run, with a message', async () => {
  await page.goto(`${base}?cpu-memory-mib=8&gpu-buffer-mib=0.5`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
  await page.locator('#sample2d').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
  await page.waitForFunction(() => document.getElementById('model-info').textContent.includes('text mask generator'), null, { timeout: 60000, polling: 100 });
  const refused2d = (backend, want) => refusedWith(backend, want, '#prompt-go');
  const cpu = await refused2d('cpu', "more than the browser's CPU backend can hold (8 MB)");
  assert(/this model and image need about [\d.]+ MB/.test(cpu) && cpu.includes('or choose WebGPU'), cpu);
  const gpu = await refused2d('webgpu', 'more than this GPU allows (0.5 MB)');
  assert(/the model's largest tensor needs a 0\.[6-9] MB buffer/.test(gpu), gpu);
  // auto falls back from the GPU's small buffers to the CPU, whose budget then refuses
  const auto = await refused2d('auto', "more than the browser's CPU backend can hold (8 MB)");
  assert(!auto.includes('choose WebGPU'), auto);
  await page.screenshot({ path: path.join(artifacts, 'error-memory-budget-2d.png') });
});

await check('a memory budget that is not a number is named and ignored', async () => {
  await page.goto(`${base}?gpu-buffer-mib=lots`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
  const msg = await text('#error');
  assert(msg.includes('?gpu-buffer-mib=lots is not a positive number of MiB'), msg);
});

await check('a bundled model that cannot be fetched is named with the reason; the page stays usable', async () => {
  // the server answers the shipped 3D bundle with a 404 on this load only
  await page.route('**/assets/models/la-light.semiseg', (r) => r.fulfill({ status: 404, body: 'not found' }));
  try {
    await page.goto(base);
    await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
    const msg = await text('#error');
    assert(msg.includes('Could not load the bundled model') && msg.includes('la-light.semiseg') && msg.includes('HTTP 404')
      && msg.includes('load a model bundle (.semiseg) yourself'), msg);
    assert((await text('#model-info')).startsWith('could not load'), await text('#model-info'));
    await page.locator('#sample').click();
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
    assert(await page.locator('#segment').isDisabled(), 'Segment is enabled without a model');
  } finally {
    await page.unroute('**/assets/models/la-light.semiseg');
  }
});

await check('no request left 127.0.0.1', async () => {
  assert(outside.length === 0, outside.join(', '));
  assert(served.length > 0, 'nothing was served');
});
await check('no uncaught errors or panics in the page', async () => {
  const bad = consoleErrors.filter((m) => /panicked|Uncaught|RuntimeError/.test(m));
  assert(bad.length === 0, bad.join('\n'));
});

await browser.close();
close();
fs.writeFileSync(path.join(artifacts, 'results.txt'), results.join('\n') + '\n');
console.log(`\nbrowser tests: ${results.filter((r) => r.startsWith('ok')).length} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
