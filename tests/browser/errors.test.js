// Every error code a user can meet (docs/errors.md), produced in headless Chromium through the
// module on the main thread and through VaeWorker, each followed by a call that must still
// work: the rejection is an Error whose `code` is the one promised and whose message names the
// problem. What a browser cannot be made to do on demand is forced by hooks installed before the
// module runs, in the page or in the worker alike (HOOKS): no WebGPU, no adapter, an allocation
// refused (a popped error scope answers GPUOutOfMemoryError), the device destroyed.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { FIXTURES, fixtureImage, launch, makeWeights, maxAbsDiff, readNpy, startServer } from "./harness.js";
import { join } from "node:path";

/** Installed in the page (addInitScript) and in the worker (a module importing vae-worker.js).
 *  `testHook(name)` sets one: noWebgpu, noAdapter, oom (the next popped scope), destroy (the
 *  latest device, at once). */
const HOOKS = `(() => {
  const hooks = { noWebgpu: false, noAdapter: false, oom: false };
  const devices = [];
  const nav = Object.getPrototypeOf(navigator);
  const gpu = Object.getOwnPropertyDescriptor(nav, "gpu").get;
  Object.defineProperty(nav, "gpu", { configurable: true, get() { return hooks.noWebgpu ? undefined : gpu.call(this); } });
  const requestAdapter = GPU.prototype.requestAdapter;
  GPU.prototype.requestAdapter = async function (...a) { return hooks.noAdapter ? null : requestAdapter.apply(this, a); };
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...a) {
    const d = await requestDevice.apply(this, a);
    devices.push(d);
    return d;
  };
  const pop = GPUDevice.prototype.popErrorScope;
  GPUDevice.prototype.popErrorScope = async function () {
    const e = await pop.call(this);
    if (!hooks.oom) return e;
    hooks.oom = false;
    return new GPUOutOfMemoryError("refused by the test");
  };
  self.testHook = (name, on = true) => {
    if (name === "destroy") devices.at(-1).destroy(); else hooks[name] = on;
  };
  self.addEventListener("message", (e) => { if (e.data?.testHook) self.testHook(...e.data.testHook); });
})();`;

const LATENT_TOL = 1e-3;
let weightsDir, srv, context, page;

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
  page = await context.newPage();
  await page.addInitScript(HOOKS);
  await page.goto(`${srv.base}/blank.html`);
  await page.evaluate(async (hooks) => {
    if (!navigator.gpu || !(await navigator.gpu.requestAdapter())) throw new Error("WebGPU unavailable in Chromium");
    window.m = await import("/sdxl_vae.js");
    await m.default();
    const { VaeWorker } = await import("/web/vae-client.js");
    // A worker with the hooks: a module that imports vae-worker.js, then installs them (before
    // any message is handled).
    const src = `import "${location.origin}/web/vae-worker.js";\n${hooks}`;
    const workerUrl = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
    /** The two ways in: `open()` gives `{load, hook}`, a loader and the hooks on its side
     *  (the page's, or a new worker's); `load` resolves to the model. */
    window.opened = [];
    window.apis = {
      module: () => ({ load: (s, o) => m.Vae.load(s, o), hook: async (...h) => testHook(...h) }),
      worker: () => {
        const w = new VaeWorker(workerUrl);
        opened.push(w);
        return { load: async (s, o) => { await w.load(s, o); return w; },
          hook: async (...h) => w.worker.postMessage({ testHook: h }) };
      },
    };
    /** `{code, message}` of a promise that must reject ("resolved" if it did not). */
    window.outcome = (p) => p.then(() => ({ code: "resolved", message: "" }),
      (e) => ({ code: e?.code, message: e?.message, isError: e instanceof Error }));
    /** A valid safetensors file that holds no VAE: one tensor named "foo". */
    window.notAVae = () => {
      const json = new TextEncoder().encode(JSON.stringify({ foo: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }));
      const out = new Uint8Array(8 + json.length + 8);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out.buffer;
    };
  }, HOOKS);
});

after(async () => {
  await context?.close();
  srv?.server.close();
});

for (const api of ["module", "worker"]) {
  describe(`error codes through the ${api}`, () => {
    test("each code is produced, and the model (or a new one) works after it", async () => {
      const r = await page.evaluate(async ({ api, image }) => {
        const open = apis[api];
        const load = (s, o) => open().load(s, o);
        const url = "/weights/small.safetensors";
        const img = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
        const main = open();
        const vae = await main.load(url);
        const good = await vae.encode(img);
        const same = async (model = vae) => {
          const z = await model.encode(img);
          return z.data.every((v, i) => v === good.data[i]);
        };
        const out = {};
        const check = async (code, promise, model) => {
          out[code] = { ...(await outcome(promise)), after: await same(model) };
        };
        // Loads.
        await check("fetch-failed", load("/weights/missing.safetensors"));
        const abort = new AbortController();
        const slow = load("/slow/small.safetensors", { signal: abort.signal });
        setTimeout(() => abort.abort(), 150);
        await check("aborted", slow);
        await check("bad-weights", load("/weights/corrupt.safetensors"));
        out["bad-weights (truncated)"] = await outcome(load("/weights/truncated.safetensors"));
        await check("unsupported-weights", load(notAVae()));
        await check("bad-argument", load(url, { precision: "f8" }));
        // Calls.
        await check("bad-image", vae.encode({ width: 4, height: 4, data: new Uint8Array(10) }));
        await check("bad-latent", vae.decode({ width: 2, height: 2, data: new Float32Array(16 * 4) }));
        const tiny = await load("/weights/tae4.safetensors");
        await check("unsupported-call", tiny.encodeSample(img, 1));
        const limited = await load(url, { limits: "webgpu-default" });
        await check("too-large", limited.encode(new ImageData(139264, 8)), limited);
        await main.hook("oom");
        await check("out-of-memory", vae.encode(img));
        // The GPU itself: no WebGPU, no adapter (set on the loader's side first), a lost device.
        for (const [code, hookName] of [["no-webgpu", "noWebgpu"], ["adapter-failed", "noAdapter"]]) {
          const other = open();
          await other.hook(hookName);
          out[code] = await outcome(other.load(url));
          await other.hook(hookName, false);
        }
        const lost = open();
        const doomed = await lost.load(url);
        await lost.hook("destroy");
        const fresh = await load(url);
        await check("device-lost", doomed.encode(img), fresh);
        if (api === "worker") {
          await vae.free();
          await check("not-loaded", vae.encode(img), fresh);
          await vae.load(url);
          out["not-loaded"].after = await same(vae);
          for (const w of opened.splice(0)) w.terminate();
        } else {
          for (const model of [vae, tiny, limited, doomed, fresh]) model.free();
        }
        return out;
      }, { api, image: fixtureImage() });
      const expected = ["fetch-failed", "aborted", "bad-weights", "unsupported-weights", "bad-argument",
        "bad-image", "bad-latent", "unsupported-call", "too-large", "out-of-memory", "no-webgpu",
        "adapter-failed", "device-lost", ...(api === "worker" ? ["not-loaded"] : [])];
      for (const code of expected) {
        const got = r[code];
        console.log(`${api} ${code}: ${got.message}`);
        assert.equal(got.code, code, `${code}: got ${JSON.stringify(got)}`);
        assert.ok(got.isError, `${code}: not an Error`);
        assert.ok(got.message.length > 10, `${code}: message "${got.message}"`);
        if ("after" in got) assert.ok(got.after, `${code}: the model gives another latent afterwards`);
      }
      assert.equal(r["bad-weights (truncated)"].code, "bad-weights", JSON.stringify(r["bad-weights (truncated)"]));
      assert.match(r["fetch-failed"].message, /HTTP 404/);
      assert.match(r["bad-argument"].message, /precision must be "f32" or "f16", got "f8"/);
      assert.match(r["device-lost"].message, /GPU device lost/);
    });
  });
}

describe("VaeWorker: the whole API of Vae", () => {
  test("every method, the properties refreshed after calls, results transferred, sources of every kind", async () => {
    const r = await page.evaluate(async (image) => {
      const { VaeWorker } = await import("/web/vae-client.js");
      const url = "/weights/small.safetensors";
      const img = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
      const local = await m.Vae.load(url);
      const getters = Object.entries(Object.getOwnPropertyDescriptors(m.Vae.prototype))
        .filter(([, d]) => d.get).map(([k]) => k).sort();
      let events = 0;
      const w = await VaeWorker.load(url, { onProgress: () => events++ });
      const before = w.peakActivationBytes;
      const latent = await w.encode(img);
      const after = w.peakActivationBytes;
      const sample = await w.encodeSample(img, 7);
      const decoded = await w.decode(latent);
      const raw = await w.decodeRaw(latent);
      const flops = await w.flops(64, 48);
      const estimate = await w.estimate(64, 48);
      const wantEstimate = await local.estimate(64, 48);
      const tooLarge = await w.estimate(50000, 50000).catch((e) => e.code);
      const props = Object.fromEntries(getters.map((k) => [k, w[k]]));
      const mine = Object.fromEntries(getters.map((k) => [k, local[k]]));
      await local.encode(img);
      const want = {
        sample: [...(await local.encodeSample(img, 7)).data],
        decoded: [...(await local.decode(latent)).data],
        raw: [...(await local.decodeRaw(latent)).data],
      };
      // Sources: a Response, a Blob, bytes (an ArrayBuffer is handed over), a stream.
      const bytes = await (await fetch(url)).arrayBuffer();
      const sources = {};
      for (const [name, make] of Object.entries({
        response: () => fetch(url),
        blob: async () => new Blob([bytes]),
        arrayBuffer: async () => bytes.slice(0),
        stream: async () => (await fetch(url)).body,
      })) {
        const source = await make();
        await w.load(source);
        const z = await w.encode(img);
        sources[name] = { same: z.data.every((v, i) => v === latent.data[i]),
          handedOver: source instanceof ArrayBuffer ? source.byteLength === 0 : null };
      }
      await w.free();
      const wantFlops = [...local.flops(64, 48)];
      const freed = { precision: w.precision, code: await w.encode(img).catch((e) => e.code) };
      w.terminate();
      const ended = await w.load(url).catch((e) => e.code);
      local.free();
      return { getters, props, mine, events, before, after, latentType: latent.data.constructor.name,
        isImageData: decoded instanceof ImageData, size: [decoded.width, decoded.height],
        got: { sample: [...sample.data], decoded: [...decoded.data], raw: [...raw.data] }, want,
        flops: [...flops], wantFlops, estimate, wantEstimate, tooLarge, latent: [...latent.data], sources, freed, ended };
    }, fixtureImage());
    // Every getter of Vae is a property of the worker's model, with the same value.
    assert.ok(r.getters.length >= 15, r.getters.join());
    const volatile = ["activationBytes", "peakActivationBytes", "loadTimes"];
    for (const k of r.getters.filter((k) => !volatile.includes(k))) assert.deepEqual(r.props[k], r.mine[k], k);
    // The load's breakdown comes through too (its own figures: another load).
    assert.deepEqual(Object.keys(r.props.loadTimes ?? {}).sort(), Object.keys(r.mine.loadTimes).sort());
    assert.ok(r.props.loadTimes.bytes > 0);
    assert.ok(r.after > r.before, `peakActivationBytes ${r.before} → ${r.after}: not refreshed after a call`);
    assert.ok(r.events > 0);
    assert.equal(r.latentType, "Float32Array");
    assert.ok(r.isImageData);
    assert.deepEqual(r.size, [64, 48]);
    for (const k of ["sample", "decoded", "raw"]) assert.deepEqual(r.got[k], r.want[k], `${k} differs from the module's`);
    assert.deepEqual(r.flops, r.wantFlops);
    assert.deepEqual(r.estimate, r.wantEstimate);
    assert.ok(r.estimate.encodeBytes > 0 && r.estimate.bands >= 1);
    assert.equal(r.tooLarge, "too-large");
    assert.ok(r.flops.length === 2 && r.flops.every((f) => f > 0));
    const le = maxAbsDiff(r.latent, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
    assert.ok(le.worst <= LATENT_TOL, `latent error ${le.worst}`);
    for (const [name, s] of Object.entries(r.sources)) assert.ok(s.same, `${name} source gives another latent`);
    assert.equal(r.sources.arrayBuffer.handedOver, true, "an ArrayBuffer source is handed over, not copied");
    assert.deepEqual(r.freed, { precision: undefined, code: "not-loaded" });
    assert.equal(r.ended, "not-loaded");
  });
});
