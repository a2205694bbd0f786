// VaeWorker, the module in a Web Worker, in headless Chromium: it encodes like the module,
// forwards every user option, answers its model-free calls (compare, adapterInfo, userOptions),
// and reads a stream it cannot transfer (Safari) through a port.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, fixtureImage, maxAbsDiff, openModule, readNpy } from "./harness.js";

// The engine's tolerance (docs/numerics.md): latent 1e-3.
const LATENT_TOL = 1e-3;

let page, close;

before(async () => {
  ({ page, close } = await openModule());
});

after(async () => {
  await close?.();
});

describe("VaeWorker", () => {
  test("the worker wrapper encodes like the module", async () => {
    const r = await page.evaluate(async (image) => {
      const { VaeWorker } = await import("/web/vae-client.js");
      const w = new VaeWorker();
      let events = 0, file = null;
      const info = await w.load(new URL("/weights/small.safetensors", location.href).href,
        { onProgress: (l, t, f) => { events++; file = f ?? file; } });
      const latent = await w.encode(img(image));
      const back = await w.decode(latent);
      w.terminate();
      return { events, file, info, data: [...latent.data], size: [back.width, back.height] };
    }, fixtureImage());
    assert.ok(r.events > 0);
    // onProgress's third argument comes through the worker too.
    assert.equal(r.file?.format, "safetensors");
    assert.equal(r.file?.ignoredTensors, 0);
    assert.deepEqual([r.info.format, r.info.kind, r.info.latentChannels], ["safetensors", "kl", 4]);
    assert.deepEqual(r.size, [64, 48]);
    assert.ok(maxAbsDiff(r.data, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data).worst <= LATENT_TOL);
  });

  test("the worker forwards every user option, and userOptions() lists them", async () => {
    const r = await page.evaluate(async (image) => {
      const { VaeWorker } = await import("/web/vae-client.js");
      const w = new VaeWorker();
      const url = new URL("/weights/small.safetensors", location.href).href;
      const info = await w.load(url, { precision: "f16", limits: "webgpu-default", maxBufferBytes: "80K", scalingFactor: 0.5 });
      const latent = await w.encode(img(image));
      const bad = await w.load(url, { limits: "huge" }).then(() => "", (e) => e.message);
      w.terminate();
      return { info, data: [...latent.data], options: m.userOptions(), bad };
    }, fixtureImage());
    assert.equal(r.info.precision, "f16");
    assert.equal(r.info.scalingFactor, 0.5);
    const le = maxAbsDiff(r.data, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
    assert.ok(le.worst <= 1e-2 && le.worst > 1e-5, `f16 latent error ${le.worst}`);
    assert.match(r.bad, /limits must be "adapter" or "webgpu-default"/);
    assert.deepEqual(r.options.map((o) => [o.name, o.kind]),
      [["family", "choice"], ["scalingFactor", "number"], ["shiftFactor", "real"], ["config", "json"],
        ["precision", "choice"], ["limits", "choice"], ["features", "choice"], ["maxBufferBytes", "bytes"],
        ["memoryBudget", "bytes"]]);
    assert.deepEqual(r.options[4].values, ["f32", "f16"]);
  });
  test("the worker's model-free calls: compare, adapterInfo, userOptions", async () => {
    const r = await page.evaluate(async (image) => {
      const { VaeWorker } = await import("/web/vae-client.js");
      const w = new VaeWorker();
      const a = img(image);
      const b = img({ ...image, data: image.data.map((v, i) => (i % 4 === 3 ? v : Math.min(255, v + (i % 7)))) });
      const tiny = (o) => img({ width: 7, height: 9, data: o.data.slice(0, 4 * 63) });
      const both = await w.compare(a, b);
      const small = await w.compare(tiny(a), tiny(b));
      const adapter = await w.adapterInfo();
      const options = await w.userOptions();
      w.terminate();
      return { both, small, want: [m.psnr(a, b), m.ssim(a, b), m.psnr(tiny(a), tiny(b))], adapter,
        same: JSON.stringify(options) === JSON.stringify(m.userOptions()) };
    }, fixtureImage());
    assert.deepEqual([r.both.psnr, r.both.ssim, r.small.psnr], r.want);
    assert.ok(r.want[0] > 20 && r.want[0] < 60 && r.want[1] < 1, `${r.want}`);
    assert.equal(r.small.ssim, null);
    assert.ok(Array.isArray(r.adapter.features), JSON.stringify(r.adapter));
    assert.ok(r.adapter.limits.maxBufferSize >= 256 * 1024 * 1024, JSON.stringify(r.adapter.limits));
    assert.ok(r.same, "the worker's userOptions() differ from the module's");
  });

  test("where streams cannot be transferred (Safari), a Response or stream is read through a port", async () => {
    const r = await page.evaluate(async (image) => {
      // As Safari: posting a ReadableStream throws DataCloneError; what the worker is sent is noted.
      const refuse = (post) => function (msg, transfer) {
        if ((Array.isArray(transfer) ? transfer : transfer?.transfer ?? []).some((t) => t instanceof ReadableStream)) {
          throw new DOMException("ReadableStream object could not be cloned.", "DataCloneError");
        }
        return post.call(this, msg, transfer);
      };
      const sent = [];
      const [workerPost, portPost] = [Worker.prototype.postMessage, MessagePort.prototype.postMessage];
      Worker.prototype.postMessage = refuse(function (msg, transfer) {
        sent.push((transfer ?? []).map((t) => t.constructor.name).join(","));
        return workerPost.call(this, msg, transfer);
      });
      MessagePort.prototype.postMessage = refuse(portPost);
      try {
        // A fresh copy of the client, which finds out again whether streams transfer.
        const { VaeWorker } = await import("/web/vae-client.js?no-stream-transfer");
        const url = new URL("/weights/small.safetensors", location.href).href;
        const latents = [];
        for (const source of [await fetch(url), (await fetch(url)).body]) {
          const w = await VaeWorker.load(source);
          latents.push([...(await w.encode(img(image))).data]);
          w.terminate();
        }
        return { sent, latents };
      } finally {
        Worker.prototype.postMessage = workerPost;
        MessagePort.prototype.postMessage = portPost;
      }
    }, fixtureImage());
    assert.deepEqual(r.sent.filter(Boolean), ["MessagePort", "MessagePort"]);
    const want = readNpy(join(FIXTURES, "small_64x48_mean.npy")).data;
    for (const l of r.latents) assert.ok(maxAbsDiff(l, want).worst <= LATENT_TOL);
  });
});
