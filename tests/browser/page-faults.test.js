// The page when the browser fails it: a storage quota too small for the weights (told ahead by
// the Storage API, or only by Cache.put's QuotaExceededError), and the GPU device lost while
// an image is being encoded (the page offers to reload the model, and the reload works).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, launch, makeWeights, startServer } from "./harness.js";

let weightsDir, srv, context;

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
});

after(async () => {
  await context?.close();
  srv?.server.closeAllConnections();
  srv?.server.close();
});

/** A new tab with `script` run before the page's own, opened at `path`. */
async function open(path, script) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  if (script) await page.addInitScript(script);
  await page.goto(`${srv.base}${path}`);
  return { page, logs };
}

const waitState = (page, s, timeout = 120_000) =>
  page.waitForFunction((want) => want.includes(document.body.dataset.state), s, { timeout });

/** The reconstruction canvas's RGBA bytes. */
const recon = (page) => page.evaluate(() => {
  const c = document.getElementById("reconstruction");
  return [...c.getContext("2d").getImageData(0, 0, c.width, c.height).data];
});

/** Loads the weights at `url` (not cached before: a query string of its own), encodes an
 *  image, and checks the page says the weights were not cached, nor are they. */
async function loadsUncached(page, logs, url, why) {
  await waitState(page, ["loaded", "error"]);
  assert.equal(await page.evaluate(() => document.body.dataset.state), "loaded", logs.join("\n"));
  await page.waitForFunction(() => /weights not cached|stored in the cache/.test(document.getElementById("log").textContent));
  const log = await page.textContent("#log");
  assert.match(log, why, log);
  assert.doesNotMatch(log, /stored in the cache/);
  assert.match(await page.textContent("#cache-note"), /^\(not cached: .+\)$/);
  assert.equal(await page.evaluate(async (u) => !!(await caches.match(new URL(u, location.href).href)), url), false);
  await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
  await waitState(page, ["done", "error"]);
  assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await page.textContent("#log"));
  assert.ok(await page.isHidden("#error"));
  assert.ok(!logs.some((l) => l.startsWith("pageerror")), logs.join("\n"));
  console.log(log.split("\n").find((l) => /not cached/.test(l)));
}

describe("page faults", () => {
  test("a storage quota too small for the weights: not cached, said so, the page works", async () => {
    // The Storage API reports 100 KB left: the write is not even tried.
    const url = "/weights/small.safetensors?quota=estimate";
    let { page, logs } = await open(`/index.html?weights=${encodeURIComponent(url)}`, () => {
      navigator.storage.estimate = async () => ({ quota: 100_000, usage: 0 });
    });
    await loadsUncached(page, logs, url, /weights not cached: the weights \(5\.4 MiB\) exceed the storage quota left \(0\.1 MiB\)/);
    await page.close();
    // The estimate allows it, but the write fails as a full quota does.
    const url2 = "/weights/small.safetensors?quota=put";
    ({ page, logs } = await open(`/index.html?weights=${encodeURIComponent(url2)}`, () => {
      Cache.prototype.put = function () {
        return Promise.reject(new DOMException("Quota exceeded.", "QuotaExceededError"));
      };
    }));
    await loadsUncached(page, logs, url2,
      /weights not cached: the browser's storage quota is full \(Quota exceeded\.\); the weights will be downloaded again next time/);
    await page.close();
  });

  test("the device lost during an encode: the error offers a reload, which loads again and finishes the image", async () => {
    // Every worker the page starts keeps the GPUDevices it asks for (as `self.devices`), so that
    // the test can destroy the model's: the page's worker script is imported by a wrapper that
    // hooks requestDevice before any load.
    const { page, logs } = await open("/index.html?weights=/weights/small.safetensors", () => {
      const Base = window.Worker;
      window.Worker = class extends Base {
        constructor(url, options) {
          const src = `import ${JSON.stringify(new URL(url, location.href).href)};
            self.devices = [];
            const request = GPUAdapter.prototype.requestDevice;
            GPUAdapter.prototype.requestDevice = async function (...args) {
              const device = await request.apply(this, args);
              devices.push(device);
              return device;
            };`;
          super(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), options);
        }
      };
    });
    await waitState(page, ["loaded"]);
    const [first] = page.workers();
    assert.equal(page.workers().length, 1);
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await waitState(page, ["done"]);
    const want = await recon(page);
    // The same image again, dropped (the file input sends no change for the same file); the
    // device is destroyed once the encode is under way.
    await page.evaluate(async () => {
      const dt = new DataTransfer();
      dt.items.add(new File([await (await fetch("/fixtures/img_64x48.png")).blob()], "again.png", { type: "image/png" }));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await waitState(page, ["working"]);
    await page.waitForTimeout(200);
    const t0 = Date.now();
    assert.equal(await first.evaluate(() => { devices.at(-1).destroy(); return devices.length; }), 1);
    await waitState(page, ["error", "done"]);
    const lostMs = Date.now() - t0;
    const error = await page.textContent("#error-text");
    console.log(`device destroyed: "${error}" after ${lostMs} ms`);
    assert.match(error, /^GPU device lost: /);
    assert.equal(await page.getAttribute("#error", "data-code"), "device-lost");
    assert.ok(await page.isVisible("#error-reload"), "no reload offered");
    await page.click("#error-reload");
    await waitState(page, ["done", "error"]);
    assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await page.textContent("#log"));
    assert.ok(await page.isHidden("#error"));
    // The reload ended the worker that lost its device and loaded into a new one.
    const workers = page.workers();
    assert.equal(workers.length, 1);
    assert.notEqual(workers[0], first);
    assert.equal(await workers[0].evaluate(() => devices.length), 1);
    assert.deepEqual(await recon(page), want, "the reloaded model's reconstruction differs");
    assert.ok(!logs.some((l) => /pageerror|panicked/.test(l)), logs.join("\n"));
    await page.close();
  });
});
