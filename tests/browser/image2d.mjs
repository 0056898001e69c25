// Browser tests of the page's 2D mode (an image and a prompt; issue 23), run by run.mjs after the
// 3D tests. NATIVE/2d holds what `semiseg predict --prompt` wrote for the 2D sample with the shipped
// text-guided bundle (scripts/browser_test.sh): mask.png and text.png for the sample's prompt,
// text2.png for a second prompt, fused.png for the first with --fuse.
import fs from 'node:fs';
import path from 'node:path';
import { parsePngGray, dice } from './common.mjs';

export async function run2d({ page, check, assert, text, artifacts, nativeDir, served, results, scratch }) {
  const native = (f) => parsePngGray(fs.readFileSync(path.join(nativeDir, '2d', f)));
  const prompts = JSON.parse(fs.readFileSync(path.join(nativeDir, '2d', 'prompts.json')));
  // a prompt's part of a download's name: `_` and its words, lower-case, joined by `-`, up to 48
  // characters (whole words)
  const slug = (prompt) => {
    let out = '';
    for (const w of prompt.split(/[^\p{L}\p{N}]+/u).filter(Boolean).map((x) => x.toLowerCase())) {
      if (out.length + w.length + 1 > 48) break;
      out += (out ? '-' : '_') + w;
    }
    return out;
  };
  async function download(id) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(id).click()]);
    return { name: dl.suggestedFilename(), png: parsePngGray(fs.readFileSync(await dl.path())) };
  }
  async function segment2d(backend, how = 'click') {
    await page.selectOption('#backend', backend);
    if (how === 'enter') await page.locator('#prompt').press('Enter');
    else await page.locator('#prompt-go').click();
    await page.waitForFunction(() => /^(Done|Segmentation failed)/.test(document.getElementById('status').textContent), null, { timeout: 600000, polling: 100 });
    const status = await text('#status');
    assert(status.startsWith('Done'), `${status} / ${await text('#error')}`);
  }
  async function errorShows(want) {
    await page.waitForFunction((w) => { const e = document.getElementById('error'); return !e.hidden && e.textContent.includes(w); }, want, { timeout: 20000, polling: 100 });
    return text('#error');
  }
  function sameMaps(web, nat, what, maxLevels) {
    assert(web.w === nat.w && web.h === nat.h, `${what}: ${web.w}×${web.h}, predict wrote ${nat.w}×${nat.h}`);
    let worst = 0;
    for (let i = 0; i < web.data.length; i++) worst = Math.max(worst, Math.abs(web.data[i] - nat.data[i]));
    assert(worst <= maxLevels, `${what}: differs from predict's by up to ${worst} grey levels`);
    return worst;
  }
  function sameMask(web, nat, what) {
    const fg = web.data.reduce((a, v) => a + (v > 0), 0);
    assert(fg > 0, `${what}: the mask is empty, so the comparison would prove nothing`);
    const d = dice(web.data, nat.data);
    assert(d > 0.999, `${what}: Dice with predict's mask ${d}`);
    return { fg, d };
  }

  await check('2D: the 3D page did not fetch the 2D model; the radiograph sample opens in the 2D viewer with its prompt', async () => {
    assert(!served.some((u) => u.includes('synth-radiograph') || u.includes('monuseg')), 'a 2D model was fetched before the 2D mode was used');
    await page.locator('#sample2d').click();
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000, polling: 100 });
    assert(await page.locator('#viewer2d').isVisible(), '2D viewer hidden');
    assert(await page.locator('#viewer').isHidden(), '3D viewer still shown');
    assert((await page.inputValue('#prompt')) === prompts.first, `prompt ${await page.inputValue('#prompt')}`);
    assert((await text('#scan-info')).includes('64×64 pixels, grey 8-bit, PNG'), await text('#scan-info'));
    await page.waitForFunction(() => document.getElementById('model-info').textContent.includes('text mask generator'), null, { timeout: 60000, polling: 100 });
    // only the model shown is fetched; the others when chosen (the MoNuSeg test below)
    assert(served.some((u) => u.includes('synth-radiograph')), 'the shown 2D model was not fetched');
    assert(!served.some((u) => u.includes('monuseg')), 'a 2D model nobody chose was fetched');
  });

  await check('2D on the CPU: the mask and the text mask equal semiseg predict --prompt', async () => {
    await segment2d('cpu');
    assert(/^\d+ ms$/.test(await text('#embed-ms')) && /^\d+ ms$/.test(await text('#prompt-ms')), `times: ${await text('#result-info')}`);
    const mask = await download('#download'), tmask = await download('#download-text');
    // the text mask's file is named after its prompt; the model's own mask is not
    assert(mask.name === 'cxr_test_00001_mask.png' && tmask.name === `cxr_test_00001_text_mask${slug(prompts.first)}.png`, `${mask.name}, ${tmask.name}`);
    const { fg, d } = sameMask(mask.png, native('mask.png'), 'mask');
    const worst = sameMaps(tmask.png, native('text.png'), 'text mask', 1);
    await page.waitForSelector('#metrics:not([hidden])');
    const gt = Number(await page.locator('#metrics').getAttribute('data-dice'));
    assert(gt >= 0 && gt <= 1, `Dice ${gt}`);
    const mem = page.locator('#worker-memory');
    const [used, estimate] = [Number(await mem.getAttribute('data-bytes')), Number(await mem.getAttribute('data-estimate'))];
    assert(used > 0 && used <= estimate && estimate < 2 * used, `worker memory ${used} bytes, estimated ${estimate}`);
    results.push(`      2D sample on cpu: image ${await text('#embed-ms')}, prompt ${await text('#prompt-ms')}; ${fg} mask pixels, Dice vs predict ${d.toFixed(5)}, text mask within ${worst} grey levels; Dice vs ground truth ${(100 * gt).toFixed(2)}%; worker memory ${(used / 2 ** 20).toFixed(0)} MB of ${(estimate / 2 ** 20).toFixed(0)} MB estimated`);
    await page.screenshot({ path: path.join(artifacts, '2d-sample-cpu.png'), fullPage: true });
  });

  const canvas2d = () => page.evaluate(() => { const c = document.getElementById('canvas2d'); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); });

  await check('2D: clicking a word of the prompt shows its pre-trained similarity over the image; clicking it again, the text mask', async () => {
    const buttons = page.locator('#word-maps button');
    const words = await buttons.allTextContents();
    const said = prompts.first.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    assert(words.length === said.length && words.every((w, i) => w === said[i]), `words ${JSON.stringify(words)} for ${prompts.first}`);
    const before = await canvas2d();
    const last = buttons.nth(words.length - 1);
    await last.click();
    const msg = await text('#status');
    assert(msg.includes(`similarity of “${words[words.length - 1]}”`), msg);
    assert((await last.getAttribute('aria-pressed')) === 'true', 'the word is not marked as shown');
    const shown = await canvas2d();
    const changed = shown.filter((v, i) => v !== before[i]).length;
    assert(changed > 0, 'the word map did not change the picture');
    await last.click();
    const back = await canvas2d();
    assert(back.every((v, i) => v === before[i]), 'clicking the word again did not bring the text mask back');
    results.push(`      2D word map of "${words[words.length - 1]}": ${changed} of ${before.length} canvas values changed; ${msg.match(/cosine, ([^)]*)\)/)?.[1] ?? ''}`);
  });

  await check('2D: a new prompt (Enter) reuses the image embedding and equals predict; the fused mask equals predict --fuse', async () => {
    await page.fill('#prompt', prompts.second);
    await segment2d('cpu', 'enter');
    assert((await text('#embed-ms')) === 'cached', `image not cached: ${await text('#result-info')}`);
    // "auto" picks the CPU over SwiftShader's software WebGPU and says why, as in 3D
    await segment2d('auto');
    assert((await text('#ran-on')).startsWith('CPU'), await text('#result-info'));
    assert((await text('#backend-note')).includes('software fallback adapter'), await text('#result-info'));
    const worst = sameMaps((await download('#download-text')).png, native('text2.png'), 'second text mask', 1);
    results.push(`      2D second prompt on cpu: ${await text('#prompt-ms')} (image cached), text mask within ${worst} grey levels of predict`);
    await page.fill('#prompt', prompts.first);
    await page.locator('#fuse').check();
    await segment2d('cpu');
    const steered = await download('#download');
    sameMask(steered.png, native('fused.png'), 'fused mask');
    assert(steered.name === `cxr_test_00001_mask${slug(prompts.first)}.png`, steered.name);
    assert((await text('#result-info')).includes('steered by the prompt'), await text('#result-info'));
    await page.locator('#fuse').uncheck();
  });

  await check('2D on WebGPU: the mask and the text mask equal semiseg predict --prompt', async () => {
    await segment2d('webgpu');
    assert((await text('#ran-on')) === 'WebGPU', await text('#ran-on'));
    const { d } = sameMask((await download('#download')).png, native('mask.png'), 'WebGPU mask');
    const worst = sameMaps((await download('#download-text')).png, native('text.png'), 'WebGPU text mask', 3);
    results.push(`      2D sample on webgpu: image ${await text('#embed-ms')}, prompt ${await text('#prompt-ms')}; Dice vs predict ${d.toFixed(5)}, text mask within ${worst} grey levels`);
  });

  await check('2D: an empty prompt and a prompt of unknown words show a message', async () => {
    await page.fill('#prompt', '   ');
    await page.locator('#prompt-go').click();
    await errorShows('The prompt is empty');
    await page.fill('#prompt', '日本 ΣΩ');
    await page.selectOption('#backend', 'cpu');
    await page.locator('#prompt-go').click();
    const msg = await errorShows("none of the prompt's words");
    assert(msg.includes('日本, ΣΩ'), msg);
    assert(await page.locator('#prompt-go').isEnabled(), 'Segment disabled after a refused prompt');
    // a prompt longer than the encoder reads: its last words are shown as not read
    await page.fill('#prompt', `${prompts.first} and also a faint opacity at the base of the right lung next to the heart border`);
    await segment2d('cpu');
    const said = await text('#prompt-words');
    assert(said.includes('is not read') || said.includes('are not read'), `no cut shown: ${said}`);
    assert(await page.locator('#prompt-words mark.cut').count() > 0, 'the words past the length are not marked');
    results.push(`      2D long prompt: ${said}`);
    await page.fill('#prompt', prompts.first);
  });

  const bad = (name, bytes) => { const f = path.join(scratch, name); fs.writeFileSync(f, bytes); return f; };
  // a PNG header claiming 60000×60000 pixels (its IHDR CRC fixed), with no pixels
  const huge = Buffer.from(fs.readFileSync(path.join(nativeDir, '2d', 'mask.png')));
  huge.writeUInt32BE(60000, 16); huge.writeUInt32BE(60000, 20);
  huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
  const dicom = Buffer.alloc(200); dicom.write('DICM', 128, 'latin1');
  for (const [name, bytes, want] of [
    ['notes.png', Buffer.from('not an image'), 'not a PNG, JPEG, TIFF or DICOM'],
    ['huge.png', huge, 'more than this page handles'],
    ['slice.dcm', dicom, 'damaged DICOM'],
    ['rtdose.dcm', fs.readFileSync(path.join(nativeDir, '2d', 'rtdose.dcm')), 'holds 15 frames'],
    ['mr_j2k.dcm', fs.readFileSync(path.join(nativeDir, '2d', 'MR_small_jp2klossless.dcm')), 'JPEG 2000'],
  ]) {
    await check(`2D: bad image ${name} shows a message`, async () => {
      await page.locator('#scan-file').setInputFiles(bad(name, bytes));
      const msg = await errorShows(name);
      assert(msg.includes(want), msg);
    });
  }

  await check('2D: a real DICOM chest radiograph opens in its own window, window/level redraws it, and it segments as semiseg predict --prompt does', async () => {
    await page.locator('#scan-file').setInputFiles(path.join(nativeDir, '2d', 'chest_cr.dcm'));
    await page.waitForFunction(() => document.getElementById('scan-info').textContent.startsWith('chest_cr.dcm'), null, { timeout: 20000, polling: 100 });
    const info = await text('#scan-info');
    assert(info.includes('CR chest 368×391 pixels, grey 15-bit MONOCHROME1, DICOM'), info);
    // the file's window: centre 15000, width 30000 (DICOM's linear rule: 0 to 29999)
    const lo = Number(await page.inputValue('#win2d-lo')), hi = Number(await page.inputValue('#win2d-hi'));
    assert(lo === 0 && hi === 29999, `window ${lo} to ${hi}`);
    const before = await canvas2d();
    await page.fill('#win2d-lo', '8000');
    await page.fill('#win2d-hi', '20000');
    await page.locator('#win2d-hi').dispatchEvent('change');
    const after = await canvas2d();
    const changed = before.filter((v, i) => v !== after[i]).length;
    assert(changed > before.length / 4, `window/level changed ${changed} of ${before.length} values`);
    await page.fill('#prompt', prompts.first);
    await segment2d('cpu');
    const mask = await download('#download'), tmask = await download('#download-text');
    assert(mask.name === 'chest_cr_mask.png' && tmask.name === `chest_cr_text_mask${slug(prompts.first)}.png`, `${mask.name}, ${tmask.name}`);
    const nat = native('chest_mask.png');
    const same = mask.png.data.filter((v, i) => v === nat.data[i]).length;
    assert(mask.png.w === 368 && mask.png.h === 391 && same >= 0.999 * nat.data.length, `mask: ${same} of ${nat.data.length} pixels as predict's`);
    const worst = sameMaps(tmask.png, native('chest_text.png'), 'DICOM text mask', 1);
    results.push(`      2D DICOM chest radiograph (368×391) on cpu: image ${await text('#embed-ms')}, prompt ${await text('#prompt-ms')}; mask ${same} of ${nat.data.length} pixels as predict's, text mask within ${worst} grey levels`);
    await page.screenshot({ path: path.join(artifacts, '2d-dicom-cpu.png'), fullPage: true });
  });

  await check('2D: a ground truth of another size and a 3D bundle are refused with a message', async () => {
    await page.locator('#truth-file').setInputFiles(bad('small_mask.png', Buffer.from(fs.readFileSync(path.join(nativeDir, '2d', 'small.png')))));
    assert((await errorShows('small_mask.png')).includes("must have its image's size"), await text('#error'));
    await page.locator('#bundle-file').setInputFiles(path.join(nativeDir, '2d', 'la-light.semiseg'));
    assert((await errorShows('la-light.semiseg')).includes('is a 3D V-Net (for scans), but an image is open'), await text('#error'));
  });

  await check('2D: opening another image while one is segmenting stops it; no result of the old one is shown', async () => {
    await page.selectOption('#backend', 'cpu');
    await page.locator('#prompt-go').click();
    await page.locator('#scan-file').setInputFiles(path.join(nativeDir, '2d', 'other.png'));
    await page.waitForFunction(() => document.getElementById('scan-info').textContent.startsWith('other.png'), null, { timeout: 20000, polling: 100 });
    await page.waitForTimeout(3000);
    const info = await text('#result-info');
    assert(info === 'not segmented yet', `a result was shown for the new image: ${info}`);
    assert(await page.locator('#download').isDisabled(), 'a mask can be downloaded for an image never segmented');
    await segment2d('cpu');
  });

  await check('2D: on a radiograph with lesions in two zones, each of two prompts puts the text mask on the lesion it names, as semiseg predict --prompt does', async () => {
    const tz = JSON.parse(fs.readFileSync(path.join(nativeDir, '2d', 'two_zones.json')));
    await page.locator('#scan-file').setInputFiles(path.join(nativeDir, '2d', 'two_zones.png'));
    await page.waitForFunction(() => document.getElementById('scan-info').textContent.startsWith('two_zones.png'), null, { timeout: 20000, polling: 100 });
    const zones = tz.lesions.map((l) => native(l.mask));
    const mean = (map, zone) => {
      let s = 0, n = 0;
      zone.data.forEach((v, i) => { if (v > 127) { s += map.data[i]; n++; } });
      assert(n > 0, 'an empty lesion mask');
      return s / n;
    };
    const said = [], shown = [];
    for (const [i, ab] of [[0, 'a'], [1, 'b']]) {
      await page.fill('#prompt', tz.lesions[i].prompt);
      await segment2d('cpu');
      const t = (await download('#download-text')).png;
      sameMaps(t, native(`two_zones_text_${ab}.png`), `text mask of "${tz.lesions[i].prompt}"`, 1);
      sameMask((await download('#download')).png, native(`two_zones_mask_${ab}.png`), `mask of "${tz.lesions[i].prompt}"`);
      const own = mean(t, zones[i]), other = mean(t, zones[1 - i]);
      assert(own > other, `"${tz.lesions[i].prompt}": the text mask's mean over the lesion it names is ${own.toFixed(1)}, over the other ${other.toFixed(1)}`);
      said.push(`"${tz.lesions[i].prompt}" ${own.toFixed(1)} vs ${other.toFixed(1)}`);
      shown.push(await canvas2d());
      if (i === 0) await page.screenshot({ path: path.join(artifacts, '2d-two-zones-a.png'), fullPage: true });
    }
    await page.screenshot({ path: path.join(artifacts, '2d-two-zones-b.png'), fullPage: true });
    // the heat map is drawn stretched (min to max) by default: the two prompts' pictures differ
    // visibly; unstretched, the same map is drawn differently
    const moved = shown[0].filter((v, i) => i % 4 !== 3 && Math.abs(v - shown[1][i]) > 16).length;
    assert(moved > shown[0].length / 20, `the two prompts' pictures differ in only ${moved} colour values`);
    await page.locator('#stretch-text').uncheck();
    const plain = await canvas2d();
    assert(plain.some((v, i) => v !== shown[1][i]), 'unchecking the stretch did not redraw the text mask');
    await page.locator('#stretch-text').check();
    results.push(`      2D two-zone prompts (text mask mean over the named lesion vs the other, grey levels): ${said.join('; ')}; ${moved} of ${shown[0].length} canvas values differ by more than 16 between the two`);
  });

  await check('2D: the shipped MoNuSeg model segments a real H&E test image from its description as semiseg predict --prompt does; its manual mask gives the Dice of the shared metrics', async () => {
    const nuc = JSON.parse(fs.readFileSync(path.join(nativeDir, '2d', 'nuclei.json')));
    const labels = await page.locator('#model option').allTextContents();
    const mo = labels.find((l) => l.includes('MoNuSeg'));
    assert(mo, `no MoNuSeg model among the 2D models: ${JSON.stringify(labels)}`);
    assert(!served.some((u) => u.includes('monuseg')), 'the MoNuSeg model was fetched before it was chosen');
    await page.selectOption('#model', { label: mo });
    // the card (not the "loading …" line, which also names it) once the bundle is fetched
    await page.waitForFunction(() => { const t = document.getElementById('model-info').textContent; return t.includes('MoNuSeg') && t.includes('UNet width'); }, null, { timeout: 20000, polling: 100 });
    assert(served.some((u) => u.includes('monuseg-nuclei.semiseg')), 'the chosen MoNuSeg model was not fetched');
    await page.locator('#scan-file').setInputFiles(path.join(nativeDir, '2d', nuc.image));
    await page.waitForFunction((n) => document.getElementById('scan-info').textContent.startsWith(n), nuc.image, { timeout: 20000, polling: 100 });
    assert((await text('#scan-info')).includes('512×512 pixels'), await text('#scan-info'));
    await page.fill('#prompt', nuc.prompt);
    await segment2d('cpu');
    const mask = await download('#download'), tmask = await download('#download-text');
    const { fg, d } = sameMask(mask.png, native('nuclei_mask.png'), 'MoNuSeg mask');
    const worst = sameMaps(tmask.png, native('nuclei_text.png'), 'MoNuSeg text mask', 1);
    await page.locator('#truth-file').setInputFiles(path.join(nativeDir, '2d', nuc.truth));
    await page.waitForSelector('#metrics:not([hidden])');
    const shown = Number(await page.locator('#metrics').getAttribute('data-dice'));
    const truth = native(nuc.truth), ours = dice(mask.png.data, truth.data);
    assert(Math.abs(shown - ours) < 1e-6, `the page's Dice ${shown}, the downloaded mask's against the manual one ${ours}`);
    results.push(`      2D MoNuSeg ${nuc.image} on cpu ("${nuc.prompt}"): image ${await text('#embed-ms')}, prompt ${await text('#prompt-ms')}; ${fg} mask pixels, Dice vs predict ${d.toFixed(5)}, text mask within ${worst} grey levels; Dice vs the manual mask ${(100 * ours).toFixed(2)}%`);
    await page.screenshot({ path: path.join(artifacts, '2d-monuseg-cpu.png'), fullPage: true });
    await page.selectOption('#model', { index: 0 });
  });
}

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}
