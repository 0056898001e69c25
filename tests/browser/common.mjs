// Shared by the browser tests (run.mjs) and the browser benchmark (bench.mjs): a static server on
// 127.0.0.1 that records every request, Chromium's launch flags, and a small NIfTI-1 parser written
// independently of the wasm code.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/** Serve the folder `dist` on 127.0.0.1 (a free port); `served` lists every request, `missing` those answered 404. */
export async function serve(dist) {
  const root = path.resolve(dist);
  const served = [], missing = [];
  const server = http.createServer((req, res) => {
    served.push(req.url);
    const file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/$/, '/index.html'));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      missing.push(req.url);
      res.writeHead(404); res.end('not found'); return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${server.address().port}/`, served, missing, close: () => server.close() };
}

/** Debian's Chromium, headless, with WebGPU (SwiftShader when there is no GPU) and no outside connections. */
export function launch(chromium, extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extra],
  });
}

/** dims, sform rows, pixdim, form codes, datatype and the voxel bytes of a NIfTI-1 file (.nii or .nii.gz). */
export function parseNifti(buf) {
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  const le = buf.readInt32LE(0) === 348;
  const i16 = (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const f32 = (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
  const dims = [i16(42), i16(44), i16(46)];
  const srow = [280, 296, 312].map((o) => [0, 4, 8, 12].map((k) => f32(o + k)));
  const pixdim = [1, 2, 3].map((k) => f32(76 + 4 * k));
  const datatype = i16(70), off = Math.round(f32(108));
  return { dims, srow, pixdim, sform: i16(254), qform: i16(252), datatype, data: buf.subarray(off), le };
}

/** Dice of two label arrays (> 0 is foreground); 1 when both are empty. */
export function dice(a, b) {
  let inter = 0, sa = 0, sb = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i] > 0, y = b[i] > 0; inter += x && y; sa += x; sb += y; }
  return sa + sb === 0 ? 1 : (2 * inter) / (sa + sb);
}

/** Width, height and the bytes of an 8-bit grey, non-interlaced PNG (what `semiseg predict` and the page write). */
export function parsePngGray(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8, w = 0, h = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('latin1', off + 4, off + 8), data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 0 || data[12] !== 0) throw new Error(`PNG of depth ${data[8]}, colour type ${data[9]}, interlace ${data[12]}: not 8-bit grey`);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const out = new Uint8Array(w * h);
  // undo the per-row filters (PNG spec 9.2), one byte per pixel
  for (let y = 0; y < h; y++) {
    const f = raw[y * (w + 1)], row = raw.subarray(y * (w + 1) + 1, (y + 1) * (w + 1));
    for (let x = 0; x < w; x++) {
      const a = x > 0 ? out[y * w + x - 1] : 0, b = y > 0 ? out[(y - 1) * w + x] : 0, c = x > 0 && y > 0 ? out[(y - 1) * w + x - 1] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      if (pred === undefined) throw new Error(`PNG filter ${f}`);
      out[y * w + x] = (row[x] + pred) & 255;
    }
  }
  return { w, h, data: out };
}
