// Weights load speed in headless Chromium (WebGPU on SwiftShader here): loads each weights file
// from a URL (an unpaced local server), from a disk File (an <input type=file>) and from Cache
// Storage after a reload, at each precision, then times the first and second encode. Prints one
// line per load: MB/s and `vae.loadTimes`' breakdown where the build has it.
//
//   node benches/browser_load.mjs [--dist DIR]... [--reps N] [--encode SIZE] FILE.safetensors...
//
// Several --dist (e.g. a build of main and this one) are run in turn, each `reps` times, so that
// their figures come from the same minutes of a noisy machine. Default: dist/ alone, 1 rep,
// encode 64².

import { basename, dirname, resolve } from "node:path";
import { statSync } from "node:fs";
import { DIST, launch, openWithWebGpu, startServer } from "../tests/browser/harness.js";

const args = process.argv.slice(2);
const dists = [], files = [];
let reps = 1, encode = 64, sources = ["url", "file", "cache"], precisions = ["f32", "f16"];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--dist") dists.push(resolve(args[++i]));
  else if (a === "--reps") reps = Number(args[++i]);
  else if (a === "--encode") encode = Number(args[++i]);
  else if (a === "--sources") sources = args[++i].split(",");
  else if (a === "--precisions") precisions = args[++i].split(",");
  else files.push(resolve(a));
}
if (!files.length) throw new Error("usage: browser_load.mjs [--dist DIR]... [--reps N] [--encode SIZE] FILE...");
if (!dists.length) dists.push(DIST);
const dir = dirname(files[0]);
if (files.some((f) => dirname(f) !== dir)) throw new Error("the weights files must share a folder");

/** One load in a fresh page; returns what the page measured. */
async function loadOnce(context, base, name, source, precision) {
  const { page } = await openWithWebGpu(context, `${base}/blank.html`);
  try {
    if (source === "cache") {
      // Stored on one page, read on the next (as after a reload).
      await page.evaluate(async (url) => {
        const c = await caches.open("bench");
        await c.put(url, await fetch(url));
      }, `/weights/${name}`);
      await page.reload();
    }
    if (source === "file") {
      await page.evaluate(() => {
        const input = Object.assign(document.createElement("input"), { type: "file", id: "f" });
        document.body.append(input);
      });
      await page.setInputFiles("#f", resolve(dir, name));
    }
    return await page.evaluate(async ({ name, source, precision, encode }) => {
      const m = await import("/sdxl_vae.js");
      await m.default();
      const url = `/weights/${name}`;
      const t0 = performance.now();
      let src = url;
      if (source === "file") src = document.getElementById("f").files[0];
      if (source === "cache") src = await (await caches.open("bench")).match(url);
      const vae = await m.Vae.load(src, precision === "f16" ? { precision } : undefined);
      const ms = performance.now() - t0;
      const times = vae.loadTimes ?? null;
      const n = encode, data = new Uint8ClampedArray(4 * n * n).fill(128);
      const enc = [];
      for (let i = 0; i < 2; i++) {
        const t = performance.now();
        await vae.encode({ width: n, height: n, data });
        enc.push(performance.now() - t);
      }
      const adapter = vae.adapterName;
      vae.free();
      if (source === "cache") await caches.delete("bench");
      return { ms, times, enc, adapter };
    }, { name, source, precision, encode });
  } finally {
    await page.close();
  }
}

const s = (ms) => (ms / 1e3).toFixed(2);
for (let rep = 0; rep < reps; rep++) {
  for (const dist of dists) {
    const srv = await startServer(dir, { root: dist, pace: false });
    const context = await launch();
    try {
      for (const file of files) {
        const name = basename(file), bytes = statSync(file).size;
        for (const source of sources) {
          for (const precision of precisions) {
            const r = await loadOnce(context, srv.base, name, source, precision);
            const t = r.times;
            const parts = t
              ? ` wait=${s(t.waitMs)} convert=${s(t.convertMs)} upload=${s(t.uploadMs)} `
                + `pipelines=${s(t.pipelinesMs)} total=${s(t.totalMs)} bytes=${t.bytes} engine_mb_s=${t.mbPerS.toFixed(1)}`
              : "";
            console.log(`load build=${basename(dirname(dist))}/${basename(dist)} file=${name} source=${source} `
              + `precision=${precision} s=${s(r.ms)} mb_s=${(bytes / 1e3 / r.ms).toFixed(1)}${parts} `
              + `encode${encode}_first_s=${s(r.enc[0])} encode${encode}_second_s=${s(r.enc[1])}`);
          }
        }
      }
    } finally {
      await context.close();
      srv.server.close();
    }
  }
}
