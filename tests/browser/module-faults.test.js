// The module (dist/sdxl_vae.js) held long and hit hard in headless Chromium: a soak of
// alternating encodes and decodes that must not grow wasm or GPU memory, the GPU device
// destroyed under a call, two models and a worker's model used at once (results equal to
// sequential runs, bit for bit), and loads aborted at 10, 50 and 99 % that must leave no GPU
// buffer or texture behind. GPU objects are counted in the page (gpu-count.js); `gc()` (V8's,
// exposed by a flag) lets the soak tell garbage from what is held.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launch, makeWeights, startServer } from "./harness.js";
import { installGpuCounters } from "./gpu-count.js";

const MIB = 1024 * 1024;
let weightsDir, srv, context, page, logs;

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch(["--js-flags=--expose-gc"]);
  page = await context.newPage();
  logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.addInitScript(installGpuCounters);
  await page.goto(`${srv.base}/blank.html`);
  await page.evaluate(async () => {
    if (!navigator.gpu || !(await navigator.gpu.requestAdapter())) throw new Error("WebGPU unavailable in Chromium");
    window.m = await import("/sdxl_vae.js");
    window.wasm = await m.default();
    window.panics = [];
    m.onPanic((msg) => panics.push(msg));
    // A test image: a gradient with some texture, `w × h`.
    window.image = (w, h, k = 1) => {
      const d = new Uint8ClampedArray(4 * w * h);
      for (let i = 0; i < w * h; i++) {
        const x = i % w, y = Math.floor(i / w);
        d.set([(x * 9 * k + y * 3) % 256, (y * 13 + x * x * k) % 256, (x * y * 5 + 40 * k) % 256, 255], 4 * i);
      }
      return new ImageData(d, w, h);
    };
    // One collection leaves the GPU objects' wrappers; a second, a task later, takes them.
    window.collect = async () => {
      gc();
      await new Promise((r) => setTimeout(r, 50));
      gc();
    };
    window.rejection = async (p) => {
      try { await p; return "resolved"; } catch (e) { return `${e instanceof Error}:${e.message}`; }
    };
  });
});

after(async () => {
  if (logs.length) console.log(logs.join("\n"));
  await context?.close();
  srv?.server.closeAllConnections();
  srv?.server.close();
});

describe("module faults", () => {
  test("soak: alternating encodes and decodes grow neither wasm nor GPU memory after the first round", async () => {
    const ROUNDS = 6;
    const SIZES = [[16, 16], [24, 8], [8, 8]];
    const rounds = await page.evaluate(async ({ ROUNDS, SIZES }) => {
      const vae = await m.Vae.load("/weights/small.safetensors");
      const out = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        let gpuMax = 0;
        for (const [w, h] of SIZES) {
          const latent = await vae.encode(image(w, h, r + 1));
          gpuMax = Math.max(gpuMax, vae.weightBytes + vae.activationBytes);
          const back = await vae.decode(latent);
          if (back.width !== w || back.height !== h) throw new Error(`decoded ${back.width}×${back.height}, not ${w}×${h}`);
          gpuMax = Math.max(gpuMax, vae.weightBytes + vae.activationBytes);
        }
        const made = gpuLive();
        await collect();
        const kept = gpuLive();
        out.push({ ms: performance.now() - t0, wasm: wasm.memory.buffer.byteLength, gpu: vae.weightBytes + vae.activationBytes,
          gpuMax, held: kept.alive.bytes, heldCount: kept.alive.count, perCall: made.perCall, perCallKept: kept.perCall.bytes,
          undestroyed: kept.undestroyed.bytes });
      }
      vae.free();
      return out;
    }, { ROUNDS, SIZES });
    const mib = (b) => (b / MIB).toFixed(2);
    for (const [i, r] of rounds.entries()) {
      console.log(`round ${i + 1}: ${SIZES.length * 2} calls in ${r.ms.toFixed(0)} ms; wasm ${mib(r.wasm)} MiB, `
        + `engine GPU ${mib(r.gpu)} MiB (max ${mib(r.gpuMax)}); GPU objects held after gc() ${mib(r.held)} MiB in ${r.heldCount}; `
        + `per-call objects left undestroyed ${r.perCall.count} (${mib(r.perCall.bytes)} MiB) before gc(), `
        + `${mib(r.perCallKept)} MiB after; made and never destroyed ${mib(r.undestroyed)} MiB`);
    }
    const [first, last] = [rounds[0], rounds.at(-1)];
    const gpuMax = Math.max(...rounds.map((r) => r.gpuMax));
    const heldMax = Math.max(...rounds.map((r) => r.held));
    const wasmMax = Math.max(...rounds.map((r) => r.wasm));
    console.log(`soak calls=${ROUNDS * SIZES.length * 2} wasm_mib_first=${mib(first.wasm)} wasm_mib_max=${mib(wasmMax)} `
      + `wasm_mib_last=${mib(last.wasm)} gpu_mib_first=${mib(first.gpuMax)} gpu_mib_max=${mib(gpuMax)} gpu_mib_last=${mib(last.gpu)} `
      + `held_mib_first=${mib(first.held)} held_mib_max=${mib(heldMax)} never_destroyed_mib_last=${mib(last.undestroyed)}`);
    // Held GPU memory: within 5 % of the first round's most, as the engine counts it and as
    // the page counts the objects still reachable after a collection.
    assert.ok(gpuMax <= first.gpuMax * 1.05, `engine GPU bytes grew from ${first.gpuMax} to ${gpuMax}`);
    assert.ok(heldMax <= first.held * 1.05, `GPU objects held grew from ${first.held} to ${heldMax} bytes`);
    // Each call destroys its own uniforms, uploads and readback buffer once its result is
    // read: none is left for the collector, before gc() or after.
    // And what is made and not destroyed (reachable or not) stays at round 1's: idle buffers
    // a new plan replaces are destroyed too. Slack 64 KiB.
    const undestroyedMax = Math.max(...rounds.map((r) => r.undestroyed));
    assert.ok(undestroyedMax <= first.undestroyed + 65536, `undestroyed GPU bytes grew from ${first.undestroyed} to ${undestroyedMax}`);
    for (const r of rounds) {
      assert.equal(r.perCall.count, 0, `${r.perCall.count} per-call GPU objects left undestroyed`);
      assert.equal(r.perCallKept, 0, "per-call GPU objects still reachable after gc()");
    }
    // wasm memory only grows, by 64 KiB pages. Every call of every round is the same size as
    // one of round 1, so the allocator has all the room it needs after it: one page of slack
    // for fragmentation; a leak of the smallest call's latent (8×8 image: 16 floats) per call
    // would not show, one of its image (256 bytes) or more over 56 calls would take a page.
    assert.ok(wasmMax <= first.wasm + 65536, `wasm memory grew from ${first.wasm} to ${wasmMax} bytes`);
  });

  test("the device destroyed under a call: it rejects as lost, later calls at once, a new load works", async () => {
    const r = await page.evaluate(async () => {
      const vae = await m.Vae.load("/weights/small.safetensors");
      const before = await vae.encode(image(32, 24));
      const device = devices.at(-1);
      const inFlight = rejection(vae.decode(before));
      await new Promise((r) => setTimeout(r, 30));
      device.destroy();
      let t = performance.now();
      const first = await inFlight;
      const firstMs = performance.now() - t;
      t = performance.now();
      const later = [await rejection(vae.encode(image(32, 24))), await rejection(vae.decode(before))];
      const laterMs = performance.now() - t;
      vae.free();
      const fresh = await m.Vae.load("/weights/small.safetensors");
      const again = await fresh.encode(image(32, 24));
      fresh.free();
      return { first, firstMs, later, laterMs, same: again.data.every((v, i) => v === before.data[i]), panics, devices: devices.length };
    });
    console.log(`in flight: "${r.first}" after ${r.firstMs.toFixed(0)} ms; two later calls rejected in ${r.laterMs.toFixed(1)} ms`);
    assert.match(r.first, /^true:GPU device lost: /);
    for (const l of r.later) assert.match(l, /^true:GPU device lost: /);
    assert.ok(r.laterMs < 50, `later calls took ${r.laterMs} ms to reject`);
    assert.ok(r.same, "the model loaded on a new device encodes differently");
    assert.deepEqual(r.panics, []);
  });

  test("two models and a worker's model at once: every result equals the sequential run's, bit for bit", async () => {
    const r = await page.evaluate(async () => {
      const url = new URL("/weights/small.safetensors", location.href).href;
      const [a, b] = [await m.Vae.load(url), await m.Vae.load(url)];
      const { VaeWorker } = await import("/web/vae-client.js");
      const w = new VaeWorker();
      await w.load(url);
      const images = [image(32, 24, 1), image(24, 16, 2), image(16, 16, 3)];
      // Sequential: one model, one call at a time.
      const want = { enc: [], dec: [] };
      for (const i of images) want.enc.push(await a.encode(i));
      for (const l of want.enc) want.dec.push(await a.decode(l));
      // At once: each model given every call, in a different order, all started together.
      const models = { a, b, w };
      const calls = [];
      for (const [name, vae] of Object.entries(models)) {
        const order = name === "a" ? [0, 1, 2] : name === "b" ? [2, 0, 1] : [1, 2, 0];
        for (const k of order) {
          calls.push(vae.encode(images[k]).then((l) => ({ name, k, op: "encode", data: l.data, want: want.enc[k].data })));
          calls.push(vae.decode(want.enc[k]).then((d) => ({ name, k, op: "decode", data: d.data, want: want.dec[k].data })));
        }
      }
      const results = await Promise.all(calls);
      w.terminate();
      a.free();
      b.free();
      return results.map(({ name, k, op, data, want }) => ({
        name, k, op, n: data.length, differ: data.length === want.length ? data.filter((v, i) => v !== want[i]).length : -1 }));
    });
    for (const x of r) assert.equal(x.differ, 0, `${x.name} ${x.op} of input ${x.k}: ${x.differ} values differ from the sequential run`);
    assert.equal(r.length, 18);
    console.log(`${r.length} calls on two main-thread models and a worker, interleaved: all equal to the sequential run`);
  });

  test("loads aborted at 10, 50 and 99 % leave no GPU object behind; the next load works; free() empties", async () => {
    const r = await page.evaluate(async () => {
      const bytes = new Uint8Array(await (await fetch("/weights/small.safetensors")).arrayBuffer());
      // The file as a stream of 16 KiB chunks, so that each fraction falls between chunks.
      const stream = () => {
        let at = 0;
        return new ReadableStream({ pull(c) {
          if (at >= bytes.length) return c.close();
          c.enqueue(bytes.slice(at, at + 16384));
          at += 16384;
        } });
      };
      const out = { fractions: [] };
      await collect();
      const baseAlive = gpuLive().alive.bytes;
      const made = () => gpuLive().undestroyed;
      const base = made().bytes;
      const basePerCall = gpuLive().undestroyedPerCall;
      const baseKinds = gpuLive().undestroyedKinds;
      for (const fraction of [0.1, 0.5, 0.99]) {
        const abort = new AbortController();
        let peak = 0, at = 0;
        const error = await rejection(m.Vae.load(stream(), { signal: abort.signal, onProgress: (loaded) => {
          peak = Math.max(peak, made().bytes - base);
          if (loaded >= fraction * bytes.length && !abort.signal.aborted) { at = loaded; abort.abort(); }
        } }));
        const left = made();
        out.fractions.push({ fraction, at, error, peak, left: left.bytes - base, leftCount: left.count });
      }
      const vae = await m.Vae.load(stream());
      out.loaded = { weightBytes: vae.weightBytes, live: made().bytes - base };
      await vae.decode(await vae.encode(image(32, 24)));
      out.used = made().bytes - base;
      vae.free();
      await collect();
      const left = gpuLive();
      out.aliveAfterFree = left.alive.bytes - baseAlive;
      out.kinds = Object.entries(left.undestroyedKinds).filter(([k, n]) => n !== (baseKinds[k] ?? 0))
        .map(([k, n]) => `${n - (baseKinds[k] ?? 0)} × ${k}`);
      out.freed = left.undestroyed.bytes - base;
      out.freedPerCall = { count: left.undestroyedPerCall.count - basePerCall.count,
        bytes: left.undestroyedPerCall.bytes - basePerCall.bytes };
      out.total = bytes.length;
      out.unknownFormats = left.unknownFormats;
      return out;
    });
    const kib = (b) => (b / 1024).toFixed(1);
    for (const f of r.fractions) {
      console.log(`abort at ${f.fraction * 100} % (${f.at} of ${r.total} bytes): GPU objects made ${kib(f.peak)} KiB, left ${kib(f.left)} KiB; "${f.error}"`);
    }
    console.log(`load: weights ${kib(r.loaded.weightBytes)} KiB, GPU objects made ${kib(r.loaded.live)} KiB; after a call `
      + `${kib(r.used)} KiB; after free() ${kib(r.freed)} KiB left, of them ${r.freedPerCall.count} per-call objects `
      + `(${kib(r.freedPerCall.bytes)} KiB)`);
    assert.deepEqual(r.unknownFormats, [], "textures of formats the counter does not size");
    // The counter sees the weights: what is alive after a load holds at least them.
    assert.ok(r.loaded.live >= r.loaded.weightBytes, `alive ${r.loaded.live} < weights ${r.loaded.weightBytes}`);
    for (const f of r.fractions) {
      assert.match(f.error, /^true:.*abort/i, `${f.fraction}`);
      assert.ok(f.at >= f.fraction * r.total && f.at < r.total, `${f.fraction}: aborted at ${f.at}`);
      // Uploads had begun (else nothing is shown) and nothing of them is left: zero, exactly.
      if (f.fraction >= 0.5) assert.ok(f.peak > 0.25 * r.loaded.weightBytes, `${f.fraction}: only ${f.peak} bytes made`);
      assert.equal(f.left, 0, `${f.fraction}: ${f.left} bytes in ${f.leftCount} objects left undestroyed`);
    }
    // After free() and a collection nothing the model or its calls made is left reachable.
    assert.equal(r.aliveAfterFree, 0, `${r.aliveAfterFree} bytes of GPU objects still reachable after free()`);
    // Destroyed, not left to the collector: the model's objects by free(), each call's own
    // (uniforms, uploads, readback, planning stand-ins) when its result is read.
    console.log(`left undestroyed after free(): ${r.freed} bytes; not per-call among them: ${r.kinds.join(", ") || "none"}`);
    assert.equal(r.freed, 0, `${r.freed} bytes left undestroyed after free(): ${r.kinds.join(", ")}`);
    assert.deepEqual(r.freedPerCall, { count: 0, bytes: 0 });
  });
});
