// The page on its own worker: the module runs in VaeWorkers (the full VAE's and the fast
// preview's), never on the page's main thread, so a load and a call leave the UI free. Prints
// the longest main-thread task during the page's start (until the load begins), a load and an encode + decode (Long Tasks
// entries, and the longest gap of a 4 ms heartbeat timer, which sees tasks under 50 ms too).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launch, makeWeights, openWithWebGpu, startServer } from "./harness.js";

let weightsDir, srv, context;

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
});

after(async () => {
  await context?.close();
  srv?.server.close();
});

/** Run before the page's scripts: long tasks, heartbeat gaps over 16 ms and every state the
 *  page takes, each with its time. */
function observeMainThread() {
  window.probe = { longTasks: [], gaps: [], states: [] };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  let last = performance.now();
  const tick = () => {
    const t = performance.now();
    if (t - last > 16) probe.gaps.push([last, t - last]);
    last = t;
    setTimeout(tick, 4);
  };
  setTimeout(tick, 4);
  // Every state, those set within one task too: each record's old value is the one before the
  // next record's.
  new MutationObserver((records) => {
    const t = performance.now();
    const values = [...records.slice(1).map((r) => r.oldValue), document.body.dataset.state];
    for (const v of values) probe.states.push([t, v]);
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-state"], attributeOldValue: true });
}

/** The longest long task and heartbeat gap overlapping [t0, t1], in ms. */
function longest(probe, t0, t1) {
  const over = ([start, d]) => start < t1 && start + d > t0;
  const max = (v) => Math.max(0, ...v.filter(over).map(([, d]) => d));
  return { task: max(probe.longTasks), gap: max(probe.gaps), window: t1 - t0 };
}

/** When the page first entered `from` and then `to` after it. */
function span(states, from, to) {
  const i = states.findIndex(([, s]) => s === from);
  const j = states.findIndex(([, s], k) => k > i && s === to);
  assert.ok(i >= 0 && j > i, `no ${from} → ${to} in ${states.map(([, s]) => s).join(", ")}`);
  return [states[i][0], states[j][0]];
}

const line = (what, r) => `${what}: longest long task ${r.task.toFixed(0)} ms, longest heartbeat gap `
  + `${r.gap.toFixed(0)} ms, over ${r.window.toFixed(0)} ms`;

describe("page on its worker", () => {
  test("loading, encoding and decoding run in workers; the main thread stays free", async () => {
    const { page, logs } = await openWithWebGpu(context, `${srv.base}/blank.html`);
    await page.addInitScript(observeMainThread);
    await page.goto(`${srv.base}/index.html?weights=/weights/small.safetensors&preview=/weights/tae4.safetensors`);
    await page.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "loaded", await page.textContent("#log"));
    await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.preview), null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.preview), "ready", await page.textContent("#log"));
    // A 256² gradient, dropped.
    await page.evaluate(async () => {
      const c = new OffscreenCanvas(256, 256);
      const ctx = c.getContext("2d");
      const g = ctx.createLinearGradient(0, 0, 256, 256);
      g.addColorStop(0, "#c04020");
      g.addColorStop(1, "#2060d0");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, 256, 256);
      const dt = new DataTransfer();
      dt.items.add(new File([await c.convertToBlob()], "gradient.png", { type: "image/png" }));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state)
      && /encoded and decoded 256×256|error/.test(document.getElementById("log").textContent), null, { timeout: 300_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await page.textContent("#log"));
    assert.match(await page.textContent("#psnr"), /^\d+\.\d\d dB$/);
    assert.match(await page.textContent("#ssim"), /^\d\.\d{4}$/);
    const probe = await page.evaluate(() => window.probe);
    const startup = longest(probe, 0, span(probe.states, "loading", "loaded")[0]);
    const load = longest(probe, ...span(probe.states, "loading", "loaded"));
    const call = longest(probe, ...span(probe.states, "working", "done"));
    console.log([line("start", startup), line("load", load), line("encode + decode 256²", call)].join("\n"));
    // The module (its wasm) is fetched by the workers alone: one for the full VAE, one for the
    // fast preview.
    const wasm = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((n) => n.endsWith(".wasm")));
    assert.deepEqual(wasm, [], "the page's main thread fetched the module's wasm");
    assert.equal(page.workers().length, 2, page.workers().map((w) => w.url()).join(", "));
    for (const w of page.workers()) assert.match(w.url(), /\/web\/vae-worker\.js$/);
    assert.ok(!logs.some((l) => l.startsWith("pageerror")), logs.join("\n"));
    await page.close();
  });
});
