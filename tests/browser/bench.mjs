// Browser benchmark (docs/benchmarks.md): time to first paint, download sizes, and segmentation
// time of the bundled LA sample on the wasm CPU backend and on WebGPU, in headless Chromium.
//   node tests/browser/bench.mjs DIST [--webgpu model|fast|none] [--cpu model,fast]
//                                     [--bundle FILE.semiseg] [--scan FILE.nii.gz]
// (defaults: the bundled model, the LA sample, CPU with both window settings, WebGPU fast).
// Prints markdown table rows. On a machine without a GPU, Chromium's WebGPU is SwiftShader (a
// software rasteriser): its times say nothing about a real GPU.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const dist = path.resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'dist');
const gpuWindows = opt('webgpu', 'fast');
const cpuWindows = opt('cpu', 'model,fast').split(',').filter((w) => w && w !== 'none');
const bundle = opt('bundle', null);
const scan = opt('scan', null);
const { base, close } = await serve(dist);
const browser = await launch(chromium);
const page = await browser.newPage();

const size = (f) => fs.statSync(path.join(dist, f)).size;
const gz = (f) => zlib.gzipSync(fs.readFileSync(path.join(dist, f)), { level: 9 }).length;
const mb = (b) => (b / 2 ** 20).toFixed(2);
const firstLoad = ['index.html', 'app.js', 'style.css', 'semiseg-web.js', 'semiseg-web_bg.wasm'];
const models = JSON.parse(fs.readFileSync(path.join(dist, 'assets/models/index.json')));

const t0 = Date.now();
await page.goto(base);
await page.waitForSelector('body[data-ready=true]', { timeout: 120000 });
const ready = Date.now() - t0;
const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
const gpu = await page.evaluate(async () => {
  const a = navigator.gpu && await navigator.gpu.requestAdapter();
  if (!a) return 'none';
  const i = a.info || {};
  return `${i.vendor || '?'} ${i.architecture || ''} ${i.description || ''}`.trim() + (a.isFallbackAdapter ? ' (fallback adapter)' : '');
});

console.log('| measure | value |\n|---|---|');
console.log(`| first contentful paint | ${fcp.toFixed(0)} ms |`);
console.log(`| page ready (wasm compiled, bundled model fetched) | ${ready} ms |`);
console.log(`| first load (html, js, css, wasm) | ${mb(firstLoad.reduce((s, f) => s + size(f), 0))} MB, ${mb(firstLoad.reduce((s, f) => s + gz(f), 0))} MB gzipped |`);
console.log(`| wasm | ${mb(size('semiseg-web_bg.wasm'))} MB, ${mb(gz('semiseg-web_bg.wasm'))} MB gzipped |`);
for (const m of models) console.log(`| weights ${m.file} | ${mb(size(`assets/models/${m.file}`))} MB |`);
console.log(`| WebGPU adapter | ${gpu} |`);

if (bundle) {
  await page.locator('#bundle-file').setInputFiles(bundle);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Model bundle'), null, { timeout: 60000 });
  console.log(`| model | ${(await page.locator('#model-info strong').innerText()).trim()} (${path.basename(bundle)}) |`);
}
if (scan) {
  await page.locator('#scan-file').setInputFiles(scan);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Opened'), null, { timeout: 60000 });
} else {
  await page.locator('#sample').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sample loaded'), null, { timeout: 60000 });
}
const what = scan ? path.basename(scan) : 'LA sample';
const runs = cpuWindows.map((w) => ['cpu', w]);
if (gpuWindows !== 'none' && gpu !== 'none') runs.push(['webgpu', gpuWindows]);
for (const [backend, windows] of runs) {
  await page.selectOption('#backend', backend);
  await page.selectOption('#stride', windows);
  await page.locator('#segment').click();
  await page.waitForFunction(() => /^(Done|Segmentation failed)/.test(document.getElementById('status').textContent), null, { timeout: 1800000 });
  const result = await page.locator('#result-info').innerText();
  console.log(`| ${what}, ${backend}, ${windows} windows | ${result.replace(/\s+/g, ' ').trim()} |`);
}
await browser.close();
close();
