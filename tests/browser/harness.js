// Shared by the browser tests: a static server on 127.0.0.1 (dist/ at /, the fixtures at
// /fixtures/, generated weights at /weights/, a slow copy of any weights at /slow/), headless
// Debian Chromium with WebGPU, and the synthetic test weights written by `sdxl-vae synth`.
// A missing Chromium or WebGPU adapter fails the tests; nothing is skipped.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, createReadStream, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, normalize, extname } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const DIST = join(ROOT, "dist");
export const FIXTURES = join(ROOT, "tests", "fixtures");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const TYPES = {
  ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".png": "image/png", ".json": "application/json", ".ts": "text/plain",
};

/** Writes the test model's weights once per run: blocks 32,32,64,64 (the fixtures' `small`). */
export function makeWeights() {
  const dir = mkdtempSync(join(tmpdir(), "sdxl-vae-web-"));
  const synth = (name, extra = [], blocks = "32,32,64,64") =>
    execFileSync("cargo", ["run", "--quiet", "--bin", "sdxl-vae", "--", "synth", "--blocks", blocks,
      ...extra, "-o", join(dir, name)], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  synth("small.safetensors");
  synth("small_diffusers_f16.safetensors", ["--dtype", "f16", "--layout", "diffusers"]);
  synth("kl16.safetensors", ["--latent-channels", "16", "--layout", "diffusers"]);
  synth("tae4.safetensors", ["--tiny", "--layout", "diffusers"]);
  synth("flux2.safetensors", ["--latent-channels", "32", "--layout", "diffusers"]);
  synth("qwen.safetensors", ["--qwen", "--layout", "wan"], "16,32,64,64");
  const good = readFileSync(join(dir, "small.safetensors"));
  // Cut off inside the tensor data: the header is fine, the file ends early.
  writeFileSync(join(dir, "truncated.safetensors"), good.subarray(0, good.length >> 1));
  // A full-model-like file: an 18 MB tensor outside the VAE ahead of it (for Range jumps).
  writeFileSync(join(dir, "full_big.safetensors"), withLeadingTensor(good, "model.diffusion_model.big", 4_500_000));
  // Not safetensors at all: the first 8 bytes declare an absurd header length.
  writeFileSync(join(dir, "corrupt.safetensors"), Buffer.from("this is not a safetensors file".repeat(40)));
  return dir;
}

/** `file` (safetensors) with an F32 tensor of `n` zeros put first, the others moved after it. */
function withLeadingTensor(file, name, n) {
  const len = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + len).toString("utf8"));
  const extra = 4 * n;
  for (const [k, v] of Object.entries(header)) {
    if (k !== "__metadata__") v.data_offsets = v.data_offsets.map((o) => o + extra);
  }
  const json = Buffer.from(JSON.stringify({ [name]: { dtype: "F32", shape: [n], data_offsets: [0, extra] }, ...header }));
  const lenField = Buffer.alloc(8);
  lenField.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([lenField, json, Buffer.alloc(extra), file.subarray(8 + len)]);
}

/** Serves `root` (default dist/) under the path `under` (default `/`; any other path 404s, as on
 *  a host that serves a project page), the weights in `weightsDir` at /weights/, the fixtures at
 *  /fixtures/ and an empty /blank.html; `requests` records every path asked for. `/slow/NAME`
 *  serves weights NAME in 4 KiB pieces 20 ms apart (for aborting a load half-way);
 *  `/ranged/NAME` serves weights NAME and answers `Range: bytes=N-` with 206 (the others ignore
 *  Range); `sent` records the bytes each response sent (`{path, range, bytes}`). Files over 8 MB
 *  go at about 64 MB/s unless `pace` is false (a benchmark's unpaced server). */
export async function startServer(weightsDir, { root = DIST, under = "/", pace = true } = {}) {
  const requests = [];
  const sent = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(path);
    if (path === "/blank.html") {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>blank</title>");
      return;
    }
    let file = null;
    if (path.startsWith("/fixtures/")) file = join(FIXTURES, path.slice(10));
    else if (path.startsWith("/weights/")) file = join(weightsDir, path.slice(9));
    else if (path.startsWith("/slow/")) file = join(weightsDir, path.slice(6));
    else if (path.startsWith("/ranged/")) file = join(weightsDir, path.slice(8));
    else if (path.startsWith(under)) {
      const rest = path.slice(under.length);
      file = join(root, rest === "" || rest.endsWith("/") ? rest + "index.html" : rest);
    }
    file = file && normalize(file);
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    const size = statSync(file).size;
    const type = TYPES[extname(file)] ?? "application/octet-stream";
    const range = path.startsWith("/ranged/") && /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const from = range ? Number(range[1]) : 0;
    if (range && from < size) {
      res.writeHead(206, { "content-type": type, "content-length": size - from,
        "content-range": `bytes ${from}-${size - 1}/${size}` });
    } else {
      res.writeHead(200, { "content-type": type, "content-length": size });
    }
    if (path.startsWith("/slow/")) return slowSend(file, res);
    const record = { path, range: req.headers.range ?? null, bytes: 0 };
    sent.push(record);
    const stream = createReadStream(file, { start: range && from < size ? from : 0, highWaterMark: 1 << 18 });
    res.on("close", () => stream.destroy());
    // Large files go at about 64 MB/s, as over a fast network: on loopback the whole file would
    // otherwise sit in socket buffers before the page could decide to jump or abort.
    const paced = pace && size > 8_000_000;
    stream.on("data", (c) => {
      record.bytes += c.length;
      const full = !res.write(c);
      if (paced || full) {
        stream.pause();
        const go = () => setTimeout(() => stream.resume(), paced ? 4 : 0);
        if (full) res.once("drain", go); else go();
      }
    });
    stream.on("end", () => res.end());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { server, base, requests, sent };
}

function slowSend(file, res) {
  const data = readFileSync(file);
  let off = 0;
  const timer = setInterval(() => {
    if (off >= data.length || res.destroyed) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(data.subarray(off, off + 4096));
    off += 4096;
  }, 20);
  res.on("close", () => clearInterval(timer));
}

/** Headless Chromium with WebGPU on its software (SwiftShader) adapter; `args`: more flags. */
export async function launch(args = []) {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  const userDataDir = mkdtempSync(join(tmpdir(), "sdxl-vae-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", ...args],
  });
  return context;
}

/** Opens `url` and fails unless the page has a WebGPU adapter. */
export async function openWithWebGpu(context, url) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return "no navigator.gpu";
    const a = await navigator.gpu.requestAdapter();
    return a ? "" : "requestAdapter() returned null";
  });
  if (adapter) throw new Error(`WebGPU unavailable in Chromium: ${adapter}`);
  return { page, logs };
}

/** A little-endian float32 .npy file: { shape, data }. */
export function readNpy(path) {
  const buf = readFileSync(path);
  const hlen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + hlen).toString("latin1");
  if (!header.includes("'<f4'")) throw new Error(`${path}: not float32`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const bytes = buf.subarray(10 + hlen);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { shape, data };
}

/** Worst |a − b| and where. */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  return { worst, at };
}

/** The fixture image as RGBA bytes, from its preprocessed tensor x/127.5 − 1 (exact). */
export function fixtureImage() {
  const { shape: [, , h, w], data } = readNpy(join(FIXTURES, "input_64x48.npy"));
  const rgba = new Array(4 * w * h).fill(255);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < w * h; i++) rgba[4 * i + c] = Math.round((data[c * w * h + i] + 1) * 127.5);
  }
  return { width: w, height: h, data: rgba };
}

/** The module's test bed: the test model's weights served, Chromium launched, and a blank page
 *  with the module imported and initialised as `window.m` (and `window.img(o)`, an ImageData of a
 *  plain `{width, height, data}`). `close()` prints the page's console and stops both. */
export async function openModule() {
  const weightsDir = makeWeights();
  const srv = await startServer(weightsDir);
  const context = await launch();
  const { page, logs } = await openWithWebGpu(context, `${srv.base}/blank.html`);
  await page.evaluate(async () => {
    window.m = await import("/sdxl_vae.js");
    await window.m.default();
    window.img = (o) => new ImageData(new Uint8ClampedArray(o.data), o.width, o.height);
  });
  const close = async () => {
    if (logs.length) console.log(logs.join("\n"));
    await context.close();
    srv.server.close();
  };
  return { weightsDir, srv, page, close };
}
