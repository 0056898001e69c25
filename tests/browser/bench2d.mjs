// Browser benchmark of the 2D mode's memory (docs/benchmarks.md, "Memory of the page's 2D
// worker"): for each image and model bundle, a fresh page opens the image, loads the bundle,
// segments with the prompt on the wasm CPU backend, and prints the worker's wasm memory after the
// run (it only grows, so it is the run's peak) beside the estimate the page made before running
// (`TextGuidedMemory`, shared/src/infer/text_guided_memory.rs).
//   node tests/browser/bench2d.mjs DIST --bundle A.semiseg[,B.semiseg] --image X.png[,Y.dcm]
//                                       [--prompt TEXT] [--backend cpu|webgpu]
// Prints markdown table rows.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const dist = path.resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'dist');
const bundles = (opt('bundle', '') || '').split(',').filter(Boolean);
const images = (opt('image', '') || '').split(',').filter(Boolean);
const prompt = opt('prompt', 'lower left lung');
const backend = opt('backend', 'cpu');
if (!bundles.length || !images.length) {
  console.error('usage: node tests/browser/bench2d.mjs DIST --bundle A.semiseg[,B...] --image X.png[,Y...] [--prompt TEXT] [--backend cpu|webgpu]');
  process.exit(2);
}
const { base, close } = await serve(dist);
const browser = await launch(chromium);
const mb = (b) => (b / 2 ** 20).toFixed(1);

console.log('| model bundle | image | worker memory | estimate | estimate / memory | image + prompt |');
console.log('|---|---|---|---|---|---|');
for (const bundle of bundles) {
  for (const image of images) {
    const page = await browser.newPage();
    await page.goto(base);
    await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
    await page.locator('#scan-file').setInputFiles(image);
    await page.waitForFunction(() => /^(Opened|Cannot)/.test(document.getElementById('status').textContent)
      || !document.getElementById('error').hidden, null, { timeout: 600000 });
    const opened = await page.locator('#status').innerText();
    let row;
    if (!opened.startsWith('Opened')) {
      row = `not opened: ${(await page.locator('#error').innerText()).trim()}`;
    } else {
      await page.locator('#bundle-file').setInputFiles(bundle);
      await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Model bundle')
        || !document.getElementById('error').hidden, null, { timeout: 600000 });
      await page.fill('#prompt', prompt);
      await page.selectOption('#backend', backend);
      await page.locator('#prompt-go').click();
      await page.waitForFunction(() => /^(Done|Segmentation failed)/.test(document.getElementById('status').textContent), null, { timeout: 1800000 });
      const status = await page.locator('#status').innerText();
      if (!status.startsWith('Done')) {
        row = `failed: ${(await page.locator('#error').innerText()).trim()}`;
      } else {
        const mem = page.locator('#worker-memory');
        const bytes = Number(await mem.getAttribute('data-bytes'));
        const est = Number(await mem.getAttribute('data-estimate'));
        const ms = (await page.locator('#embed-ms').innerText()).trim();
        const pms = (await page.locator('#prompt-ms').count()) ? (await page.locator('#prompt-ms').innerText()).trim() : '-';
        row = `${mb(bytes)} MB | ${mb(est)} MB | ${(est / bytes).toFixed(2)} | ${ms} + ${pms}`;
      }
    }
    console.log(`| ${path.basename(bundle)} (${(fs.statSync(bundle).size / 2 ** 20).toFixed(1)} MB) | ${path.basename(image)} | ${row} |`);
    await page.close();
  }
}
await browser.close();
close();
