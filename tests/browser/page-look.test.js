// How the page looks and feels, in headless Chromium at desktop size and at 800 px: no layout
// shift from loading to the finished reconstruction (the browser's own layout-shift entries),
// the GPU line and the memory estimate shown before an image or a latent runs (checked against
// what the model held; banded and too-large sizes), the compare slider worked by keyboard, the
// reconstruction downloaded at full size, and screenshots of both widths written to
// tests/browser/out/ for a person to look at.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, ROOT, launch, makeWeights, readNpy, startServer } from "./harness.js";
import { npy } from "./images.js";

const OUT = join(ROOT, "tests", "browser", "out");
const WEIGHTS = "/weights/small.safetensors";
let weightsDir, srv, context;

/** Records every layout shift (window.shifts) from the first paint on. */
function observeShifts() {
  window.shifts = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      shifts.push({ value: e.value, recentInput: e.hadRecentInput,
        sources: (e.sources ?? []).map((s) => s.node?.id || s.node?.className || s.node?.nodeName || "?") });
    }
  }).observe({ type: "layout-shift", buffered: true });
}

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
  mkdirSync(OUT, { recursive: true });
});

after(async () => {
  await context?.close();
  srv?.server.close();
});

/** A page at `width × height`, loaded with the test weights (and the options in `query`), then
 *  given `file` (a fixture's name or `{name, mimeType, buffer}`), waited for until its state is
 *  one of `until`. */
async function runAt(width, height, file, { query = "", until = ["done"] } = {}) {
  const page = await context.newPage({ viewport: { width, height } });
  await page.setViewportSize({ width, height });
  await page.addInitScript(observeShifts);
  await page.goto(`${srv.base}/index.html?weights=${WEIGHTS}${query}`);
  const waitState = (want) => page.waitForFunction((w) => w.includes(document.body.dataset.state), want,
    { timeout: 120_000 });
  await waitState(["loaded"]);
  await page.setInputFiles("#image-file", typeof file === "string" ? join(FIXTURES, file) : file);
  await waitState(until);
  return page;
}

/** #gpu-estimate's text, the bytes it estimated and the bytes the model then held at most. */
async function estimate(page) {
  const est = await page.evaluate(() => ({ ...document.getElementById("gpu-estimate").dataset,
    text: document.getElementById("gpu-estimate").textContent }));
  return { text: est.text, estimate: Number(est.estimate), actual: Number(est.actual) };
}

describe("page look", () => {
  for (const [width, height] of [[1280, 800], [800, 900]]) {
    test(`${width} px: no layout shift from load to result; the GPU line and the memory estimate; a screenshot`, async () => {
      const page = await runAt(width, height, "img_37x29.png");
      const shifts = await page.evaluate(() => shifts);
      const cls = shifts.filter((s) => !s.recentInput).reduce((a, s) => a + s.value, 0);
      console.log(`${width} px: layout shift score ${cls.toFixed(4)} over ${shifts.length} shifts`
        + (shifts.length ? `: ${shifts.map((s) => `${s.value.toFixed(4)} (${s.sources.join(", ")})`).join("; ")}` : ""));
      assert.equal(cls, 0, `layout shifted: ${JSON.stringify(shifts)}`);
      // Nothing spills sideways at this width.
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "horizontal overflow");

      const gpu = await page.textContent("#adapter");
      console.log(`${width} px: ${gpu}`);
      assert.match(gpu, /^GPU: \w.* · activations f32, convolution inputs f32 · convolutions (plain|workgroup) · adapter features: shader-f16 (yes|no), subgroups (yes|no)/);
      const { text, estimate: est, actual } = await estimate(page);
      console.log(`${width} px: ${text}; estimate ${est} bytes, the model held at most ${actual}`);
      assert.match(text, /^GPU memory ≈ [\d.]+ MiB \(weights [\d.]+ MiB \+ activations [\d.]+ MiB\)$/);
      // The dry run records the very calls that then run: its figure is what the model held.
      assert.ok(actual > 0 && est === actual, `estimate ${est} vs held ${actual}`);
      const log = await page.textContent("#log");
      assert.ok(log.indexOf("37×29: GPU memory ≈") < log.indexOf("encoded and decoded 37×29"),
        "the estimate was not shown before the image ran");

      const file = join(OUT, `page-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot: ${file}`);
      await page.close();
    });
  }

  test("the memory estimate of a dropped latent (its decode alone), of a banded image and of one too large", async () => {
    const { shape, data } = readNpy(join(FIXTURES, "small_64x48_mean.npy"));
    const latent = { name: "latent.npy", mimeType: "application/octet-stream", buffer: npy(data, shape) };
    let page = await runAt(1280, 800, latent);
    let est = await estimate(page);
    console.log(`latent 8×6: ${est.text}; estimate ${est.estimate} bytes, the model held at most ${est.actual}`);
    assert.match(est.text, /^GPU memory ≈ [\d.]+ MiB \(weights [\d.]+ MiB \+ activations [\d.]+ MiB\) to decode$/);
    assert.ok(est.actual > 0 && est.estimate === est.actual, `estimate ${est.estimate} vs held ${est.actual}`);
    let log = await page.textContent("#log");
    assert.ok(log.indexOf("latent 8×6: GPU memory ≈") < log.indexOf("decoded latent latent.npy"),
      "the estimate was not shown before the latent was decoded");
    await page.close();

    // Buffers of at most 256 KiB: the 64×48 image runs in row bands, and the estimate says how many.
    page = await runAt(1280, 800, "img_64x48.png", { query: "&maxBufferBytes=256K" });
    est = await estimate(page);
    console.log(`banded: ${est.text}; estimate ${est.estimate} bytes, the model held at most ${est.actual}`);
    const bands = Number(/, in (\d+) row bands\)$/.exec(est.text)?.[1]);
    assert.ok(bands > 1, est.text);
    assert.ok(est.actual > 0 && est.estimate === est.actual, `estimate ${est.estimate} vs held ${est.actual}`);
    await page.close();

    // Buffers of 4 KiB hold no band of it: "too large" before it runs, and the run fails so.
    page = await runAt(1280, 800, "img_64x48.png", { query: "&maxBufferBytes=4096", until: ["error"] });
    est = await estimate(page);
    console.log(`too large: ${est.text}`);
    assert.match(est.text, /^GPU memory: too large \(.+ but the max-buffer option allows at most 4096 bytes per buffer; .+\)$/);
    assert.equal(await page.getAttribute("#error", "data-code"), "too-large");
    log = await page.textContent("#log");
    assert.ok(log.indexOf("64×48: GPU memory: too large") >= 0, log);
    await page.close();
  });

  test("the compare slider moves by keyboard and by a drag on the image; the reconstruction downloads at full size", async () => {
    const page = await runAt(1280, 800, "img_64x48.png");
    const clip = () => page.evaluate(() => [document.getElementById("compare-slider").value,
      document.getElementById("cmp-b").style.clipPath, document.getElementById("compare-slider").getAttribute("aria-valuetext")]);
    await page.focus("#compare-slider");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.deepEqual(await clip(), ["52", "inset(0px 0px 0px 52%)", "52 % original"]);
    await page.keyboard.press("End");
    assert.deepEqual(await clip(), ["100", "inset(0px 0px 0px 100%)", "100 % original"]);
    await page.keyboard.press("Home");
    assert.deepEqual((await clip())[0], "0");
    // The image itself: a drag on it moves the divide to the pointer.
    const box = await page.locator("#compare").boundingBox();
    const at = (f) => [box.x + f * box.width, box.y + box.height / 2];
    await page.mouse.move(...at(0.25));
    await page.mouse.down();
    assert.deepEqual(await clip(), ["25", "inset(0px 0px 0px 25%)", "25 % original"]);
    await page.mouse.move(...at(0.75), { steps: 4 });
    await page.mouse.up();
    assert.deepEqual(await clip(), ["75", "inset(0px 0px 0px 75%)", "75 % original"]);
    // Tab reaches it from the control before it.
    const order = await page.evaluate(() => [...document.querySelectorAll("button, input, select, [tabindex]")]
      .filter((e) => e.tabIndex >= 0 && !e.disabled && e.offsetParent).map((e) => e.id));
    assert.ok(order.includes("compare-slider"), `not reachable by Tab: ${order}`);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#dl-png")]);
    const path = await download.path();
    const png = readFileSync(path);
    const size = [png.readUInt32BE(16), png.readUInt32BE(20)];
    console.log(`downloaded ${download.suggestedFilename()}: ${size.join("×")}, ${png.length} bytes`);
    assert.equal(download.suggestedFilename(), "reconstruction.png");
    assert.deepEqual(size, [64, 48]);
    // Its pixels are the reconstruction's.
    const same = await page.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const c = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
      c.drawImage(bitmap, 0, 0);
      const got = c.getImageData(0, 0, bitmap.width, bitmap.height).data;
      const r = document.getElementById("reconstruction");
      const want = r.getContext("2d").getImageData(0, 0, r.width, r.height).data;
      return got.length === want.length && got.every((v, i) => v === want[i]);
    }, png.toString("base64"));
    assert.ok(same, "the downloaded PNG differs from the reconstruction");
    await page.close();
  });
});
