// The module and VaeWorker under a memory budget, in headless Chromium: a budget small enough that
// the activations stream through host memory (JS ArrayBuffers) gives the unbudgeted results,
// with wasm memory growing little; progress is reported and an AbortSignal stops a call.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fixtureImage, launch, makeWeights, maxAbsDiff, openWithWebGpu, startServer } from "./harness.js";

const MIB = 2 ** 20;
let weightsDir, srv, context, page, logs;

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
  ({ page, logs } = await openWithWebGpu(context, `${srv.base}/blank.html`));
  await page.evaluate(async (fixture) => {
    window.m = await import("/sdxl_vae.js");
    window.wasm = await window.m.default();
    window.image = new ImageData(new Uint8ClampedArray(fixture.data), fixture.width, fixture.height);
    window.vae = await m.Vae.load("/weights/small.safetensors");
    // Unbudgeted results, and the least budget every call takes, as the refusals name it.
    window.free = await vae.encode(image);
    window.freeRaw = await vae.decodeRaw(free);
    vae.memoryBudget = vae.weightBytes + 1024;
    const least = await Promise.all([vae.encode(image), vae.decode(free), vae.decodeRaw(free)]
      .map((call) => call.then(() => Infinity, (e) => e.neededBytes)));
    window.budget = Math.max(...least);
    vae.memoryBudget = null;
  }, fixtureImage());
});

after(async () => {
  if (logs?.length) console.log(logs.join("\n"));
  await context?.close();
  srv?.server.close();
});

describe("module under a memory budget", () => {
  test("streams activations through host memory and equals the unbudgeted run", async () => {
    const r = await page.evaluate(async () => {
      vae.memoryBudget = budget;
      const estimate = await vae.estimate(image.width, image.height);
      const mem0 = wasm.memory.buffer.byteLength;
      const steps = { encode: [], decode: [] };
      const latent = await vae.encode(image, { onProgress: (d, t) => steps.encode.push([d, t]) });
      const raw = await vae.decodeRaw(latent, { onProgress: (d, t) => steps.decode.push([d, t]) });
      const grown = wasm.memory.buffer.byteLength - mem0;
      return { estimate, grown, steps, budgetRead: vae.memoryBudget, weightBytes: vae.weightBytes,
        le: Math.max(...latent.data.map((v, i) => Math.abs(v - free.data[i]))),
        de: Math.max(...raw.data.map((v, i) => Math.abs(v - freeRaw.data[i]))) };
    });
    const e = r.estimate;
    console.log(`budget ${(r.budgetRead / MIB).toFixed(2)} MiB (weights ${(r.weightBytes / MIB).toFixed(2)}): `
      + `encode GPU ${(e.encodeGpuBytes / MIB).toFixed(2)} MiB, host ${(e.encodeHostBytes / MIB).toFixed(2)}, `
      + `moved ${(e.encodeMovedBytes / MIB).toFixed(2)}; decode GPU ${(e.decodeGpuBytes / MIB).toFixed(2)} MiB, `
      + `host ${(e.decodeHostBytes / MIB).toFixed(2)}, moved ${(e.decodeMovedBytes / MIB).toFixed(2)}, ${e.bands} bands; `
      + `wasm memory grew ${(r.grown / MIB).toFixed(1)} MiB; latent ${r.le.toExponential(2)}, decoded ${r.de.toExponential(2)} `
      + `from the unbudgeted run; ${r.steps.encode.length} + ${r.steps.decode.length} progress reports`);
    assert.equal(e.memoryBudget, r.budgetRead);
    assert.ok(e.encodeMovedBytes > 0 && e.decodeMovedBytes > 0 && e.decodeHostBytes > 0, JSON.stringify(e));
    assert.ok(e.encodeGpuBytes <= r.budgetRead && e.decodeGpuBytes <= r.budgetRead, JSON.stringify(e));
    assert.ok(r.le <= 1e-4 && r.de <= 1e-4, `${r.le} ${r.de}`);
    assert.ok(r.grown <= 64 * MIB, `wasm memory grew ${r.grown} bytes`);
    for (const s of Object.values(r.steps)) {
      assert.ok(s.length > 2, JSON.stringify(s));
      for (let i = 1; i < s.length; i++) assert.ok(s[i][0] >= s[i - 1][0] && s[i][1] === s[0][1]);
      assert.equal(s.at(-1)[0], s.at(-1)[1]);
    }
  });

  test("a budget below one layer's needs is too-large, and none lifts the budget", async () => {
    const r = await page.evaluate(async () => {
      vae.memoryBudget = vae.weightBytes + 1024;
      const err = await vae.encode(image).catch((e) => ({ code: e.code, message: e.message }));
      vae.memoryBudget = null;
      const none = vae.memoryBudget;
      const latent = await vae.encode(image);
      return { err, none, same: latent.data.every((v, i) => v === free.data[i]) };
    });
    console.log(r.err.message);
    assert.equal(r.err.code, "too-large");
    assert.match(r.err.message, /needs at least \d+ bytes of GPU memory .* memory budget is \d+ bytes/);
    assert.equal(r.none, undefined);
    assert.ok(r.same, "without a budget the result differs from the first unbudgeted one");
  });

  test("an AbortSignal stops a call between steps; the model goes on", async () => {
    const r = await page.evaluate(async () => {
      vae.memoryBudget = budget;
      const out = {};
      for (const which of ["encode", "decode"]) {
        const abort = new AbortController();
        let reports = 0;
        const onProgress = () => { if (++reports === 2) abort.abort(); };
        const call = which === "encode" ? vae.encode(image, { signal: abort.signal, onProgress })
          : vae.decode(free, { signal: abort.signal, onProgress });
        out[which] = await call.then(() => "resolved", (e) => e.code);
        out[`${which}Reports`] = reports;
      }
      const early = new AbortController();
      early.abort();
      out.early = await vae.encode(image, { signal: early.signal }).then(() => "resolved", (e) => e.code);
      out.bad = await vae.encode(image, { signal: 7 }).then(() => "resolved", (e) => e.code);
      const latent = await vae.encode(image);
      out.after = Math.max(...latent.data.map((v, i) => Math.abs(v - free.data[i])));
      return out;
    });
    console.log(JSON.stringify(r));
    assert.equal(r.encode, "aborted");
    assert.equal(r.decode, "aborted");
    assert.equal(r.encodeReports, 2, "the encode went on after its abort");
    assert.equal(r.early, "aborted");
    assert.equal(r.bad, "bad-argument");
    assert.ok(r.after <= 1e-4);
  });

  test("VaeWorker: memoryBudget, progress and abort through the worker", async () => {
    const r = await page.evaluate(async () => {
      const { VaeWorker } = await import("/web/vae-client.js");
      const w = await VaeWorker.load("/weights/small.safetensors", { memoryBudget: budget });
      const steps = [];
      const latent = await w.encode(image, { onProgress: (d, t) => steps.push([d, t]) });
      const est = await w.estimate(image.width, image.height);
      const abort = new AbortController();
      const aborted = await w.decode(latent, { signal: abort.signal, onProgress: () => abort.abort() })
        .then(() => "resolved", (e) => e.code);
      await w.setMemoryBudget(null);
      const unbudgeted = w.memoryBudget;
      const raw = await w.decodeRaw(latent);
      w.terminate();
      return { steps, est, aborted, unbudgeted, budgetSeen: est.memoryBudget,
        le: Math.max(...latent.data.map((v, i) => Math.abs(v - free.data[i]))),
        de: Math.max(...raw.data.map((v, i) => Math.abs(v - freeRaw.data[i]))) };
    });
    console.log(`worker: ${r.steps.length} progress reports, decode ${r.aborted}, latent ${r.le.toExponential(2)}, decoded ${r.de.toExponential(2)}`);
    assert.ok(r.steps.length > 2 && r.steps.at(-1)[0] === r.steps.at(-1)[1]);
    assert.ok(r.est.encodeMovedBytes > 0 && r.budgetSeen > 0);
    assert.equal(r.aborted, "aborted");
    assert.equal(r.unbudgeted, undefined);
    assert.ok(r.le <= 1e-4 && r.de <= 1e-4);
  });
});
