// The page's inputs under fire: images of every kind a user has (16-bit, gray, alpha, 1×1,
// 7×9, an animated GIF, an EXIF-rotated JPEG), decompression bombs refused before any pixel is
// decoded, paste, dropped latents (.npy and safetensors, and one with the wrong channel count),
// and drops in quick succession while work runs (the last one wins). Each file is made here.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, launch, makeWeights, openWithWebGpu, readNpy, startServer } from "./harness.js";
import { gif, latentSafetensors, npy, png, pngHeaderOnly, pngZeros, withExifOrientation } from "./images.js";

const WEIGHTS = "/weights/small.safetensors";
let weightsDir, srv, context, page;

const waitState = (s, timeout = 120_000) =>
  page.waitForFunction((want) => want.includes(document.body.dataset.state), s, { timeout });

/** A canvas's size and RGBA bytes. */
const pixels = (id) => page.evaluate((id) => {
  const c = document.getElementById(id);
  const d = c.width && c.height ? c.getContext("2d").getImageData(0, 0, c.width, c.height).data : [];
  return { width: c.width, height: c.height, data: [...d] };
}, id);

/** Writes `files` ({name: bytes}) where the server gives them (/weights/NAME). */
function serve(files) {
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(weightsDir, name), bytes);
}

/** Drops the served files on the drop zone one after another, with no wait between them
 *  (`gapMs` > 0: that long between them). */
const drop = (names, gapMs = 0) => page.evaluate(async ({ names, gapMs }) => {
  const blobs = await Promise.all(names.map(async (n) => (await fetch(`/weights/${n}`)).blob()));
  for (const [i, b] of blobs.entries()) {
    if (i && gapMs) await new Promise((r) => setTimeout(r, gapMs));
    const dt = new DataTransfer();
    dt.items.add(new File([b], names[i], { type: b.type }));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }
}, { names, gapMs });

/** Drops one file and waits for the page to finish with it; returns the log's new lines. */
async function dropAndWait(name, states = ["done"]) {
  const before = (await page.textContent("#log")).length;
  await drop([name]);
  await page.waitForFunction((n) => document.getElementById("log").textContent.length > n
    && ["done", "error"].includes(document.body.dataset.state), before, { timeout: 120_000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  const text = (await page.textContent("#log")).slice(before);
  assert.ok(states.includes(state), `${name}: state ${state}; ${text}`);
  return text;
}

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
  ({ page } = await openWithWebGpu(context, `${srv.base}/index.html?weights=${WEIGHTS}`));
  await waitState(["loaded"]);
});

after(async () => {
  await context?.close();
  srv?.server.close();
});

/** Worst difference of the Original canvas from `want(x, y)` ([r, g, b]), and that it is opaque. */
async function checkOriginal(width, height, want) {
  const o = await pixels("original");
  assert.deepEqual([o.width, o.height], [width, height]);
  let worst = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      want(x, y).forEach((v, c) => { worst = Math.max(worst, Math.abs(o.data[i + c] - v)); });
      assert.equal(o.data[i + 3], 255, `pixel ${x},${y} is not opaque`);
    }
  }
  return worst;
}

describe("page inputs", () => {
  test("16-bit, gray, alpha, 1×1, 7×9 and animated GIF images encode as the browser shows them", async () => {
    const gradient = (x, y) => [(x * 37 + y * 11) % 256, (x * 5 + y * 29) % 256, (x * y * 7) % 256];
    const cases = [
      ["rgb16.png", png(16, 8, { depth: 16, sample: (x, y) => gradient(x, y).map((v) => v * 256 + 100) }), 16, 8, gradient],
      ["gray.png", png(8, 8, { colorType: 0, sample: (x, y) => [x * 30 + y] }), 8, 8, (x, y) => Array(3).fill(x * 30 + y)],
      // Left half opaque, right half transparent (stored green), last row half transparent:
      // flattened onto black, as the Original view shows it.
      ["alpha.png", png(8, 8, { colorType: 6, sample: (x, y) => (y === 7 ? [200, 100, 50, 128]
        : x < 4 ? [200, 40, 10, 255] : [0, 255, 0, 0]) }), 8, 8,
      (x, y) => (y === 7 ? [100, 50, 25] : x < 4 ? [200, 40, 10] : [0, 0, 0])],
      ["gray-alpha.png", png(8, 8, { colorType: 4, sample: (x) => [120, x < 4 ? 255 : 0] }), 8, 8,
        (x) => Array(3).fill(x < 4 ? 120 : 0)],
      ["one.png", png(1, 1, { sample: () => [255, 128, 0] }), 1, 1, () => [255, 128, 0]],
      ["odd.png", png(7, 9, { sample: gradient }), 7, 9, gradient],
      // Two frames, red then blue: the first is shown and encoded.
      ["anim.gif", gif(16, 8, [[255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 255]], [() => 0, () => 1]), 16, 8,
        () => [255, 0, 0]],
    ];
    serve(Object.fromEntries(cases.map(([name, bytes]) => [name, bytes])));
    for (const [name, , width, height, want] of cases) {
      const t0 = Date.now();
      const log = await dropAndWait(name);
      assert.match(log, new RegExp(`image ${name.replace(".", "\\.")}: ${width}×${height}`));
      assert.match(log, new RegExp(`encoded and decoded ${width}×${height}`));
      // 16-bit to 8 and premultiplied alpha round within a level or two.
      const worst = await checkOriginal(width, height, want);
      assert.ok(worst <= 2, `${name}: Original differs from the expected pixels by ${worst} levels`);
      const r = await pixels("reconstruction");
      assert.deepEqual([r.width, r.height], [width, height], name);
      assert.match(await page.textContent("#sizes"),
        new RegExp(`image ${width}×${height}, latent 4×${Math.ceil(height / 8)}×${Math.ceil(width / 8)}`));
      console.log(`${name}: ${width}×${height}, worst ${worst} levels off, ${Date.now() - t0} ms`);
    }
  });

  test("an EXIF-rotated JPEG is encoded upright, as an <img> shows it", async () => {
    // A 32×16 JPEG, left half red and right half blue, made by the browser's own encoder; then
    // Orientation 6 (rotate 90° clockwise) added: shown 16×32, red on top.
    const jpeg = Buffer.from(await page.evaluate(async () => {
      const c = new OffscreenCanvas(32, 16);
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#f00"; ctx.fillRect(0, 0, 16, 16);
      ctx.fillStyle = "#00f"; ctx.fillRect(16, 0, 16, 16);
      return [...new Uint8Array(await (await c.convertToBlob({ type: "image/jpeg", quality: 1 })).arrayBuffer())];
    }));
    serve({ "rotated.jpg": withExifOrientation(jpeg, 6) });
    const log = await dropAndWait("rotated.jpg");
    assert.match(log, /image rotated\.jpg: 16×32/);
    // The browser's own display of the file: an <img>, drawn at its natural size.
    const shown = await page.evaluate(async () => {
      const img = new Image();
      img.src = "/weights/rotated.jpg";
      await img.decode();
      const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      return { width: c.width, height: c.height, data: [...ctx.getImageData(0, 0, c.width, c.height).data] };
    });
    assert.deepEqual([shown.width, shown.height], [16, 32]);
    const worst = await checkOriginal(16, 32, (x, y) => [...shown.data.slice(4 * (y * 16 + x), 4 * (y * 16 + x) + 3)]);
    assert.ok(worst <= 2, `the page's image differs from the <img> by ${worst} levels`);
    const at = (x, y) => shown.data.slice(4 * (y * 16 + x), 4 * (y * 16 + x) + 3);
    assert.ok(at(8, 4)[0] > 200 && at(8, 4)[2] < 60, `top is not red: ${at(8, 4)}`);
    assert.ok(at(8, 28)[2] > 200 && at(8, 28)[0] < 60, `bottom is not blue: ${at(8, 28)}`);
  });

  test("decompression bombs are refused from their header, with no bitmap or canvas made", async () => {
    serve({ "bomb.png": pngHeaderOnly(60000, 60000), "zeros.png": pngZeros(12000, 12000) });
    await page.evaluate(() => {
      window.made = [];
      const cib = window.createImageBitmap;
      window.createImageBitmap = (...a) => { made.push("createImageBitmap"); return cib(...a); };
      const Off = window.OffscreenCanvas;
      window.OffscreenCanvas = class extends Off { constructor(w, h) { made.push(`canvas ${w}×${h}`); super(w, h); } };
    });
    for (const [name, pattern] of [["bomb.png", /bomb\.png is 60000×60000; the largest side accepted is 16384 pixels/],
      ["zeros.png", /zeros\.png is 12000×12000 \(144 Mpx\); the most accepted is 67 Mpx/]]) {
      await dropAndWait(name, ["error"]);
      assert.match(await page.textContent("#error-text"), pattern);
      assert.equal(await page.getAttribute("#error", "data-code"), "bad-image");
      assert.deepEqual(await page.evaluate(() => made), [], `${name}: decoded or drawn before the check`);
    }
    const log = await dropAndWait("odd.png");
    assert.match(log, /encoded and decoded 7×9/);
    assert.ok(await page.isHidden("#error"));
    await page.evaluate(() => { made.length = 0; });
  });

  test("a pasted image is taken like a dropped one", async () => {
    const before = (await page.textContent("#log")).length;
    await page.evaluate(async () => {
      const b = await (await fetch("/fixtures/img_64x48.png")).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([b], "image.png", { type: "image/png" }));
      document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
    });
    await page.waitForFunction((n) => /encoded and decoded 64×48|error:/.test(document.getElementById("log").textContent.slice(n)),
      before, { timeout: 120_000 });
    const log = (await page.textContent("#log")).slice(before);
    assert.match(log, /image image\.png: 64×48\n[^\n]*GPU memory[^\n]*\n[^\n]*encoded and decoded 64×48/, log);
    assert.equal(await page.evaluate(() => document.body.dataset.state), "done");
  });

  test("dropped .npy and .safetensors latents decode alike; a wrong channel count is one clear error", async () => {
    const { shape, data } = readNpy(join(FIXTURES, "small_64x48_mean.npy"));
    serve({ "latent.npy": npy(data, shape), "latent.safetensors": latentSafetensors(data, shape),
      "latent16.npy": npy(new Float32Array(16 * 6 * 8), [1, 16, 6, 8]) });
    const recons = [];
    for (const name of ["latent.npy", "latent.safetensors"]) {
      const log = await dropAndWait(name);
      assert.match(log, new RegExp(`decoded latent ${name.replace(".", "\\.")}: 4×6×8`));
      assert.match(await page.textContent("#sizes"), /^image –, latent 4×6×8$/);
      const o = await pixels("original");
      assert.ok(o.data.every((v) => v === 0), "the Original view still shows an image");
      recons.push(await pixels("reconstruction"));
    }
    assert.deepEqual([recons[0].width, recons[0].height], [64, 48]);
    assert.deepEqual(recons[0], recons[1], "the .npy and .safetensors latents decode differently");
    // The diffusers decode of this latent (tests/fixtures), in 8 bits.
    const dec = readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 64 * 48; i++) {
        const want = Math.min(1, Math.max(0, (dec[c * 64 * 48 + i] + 1) / 2)) * 255;
        worst = Math.max(worst, Math.abs(recons[0].data[4 * i + c] - want));
      }
    }
    assert.ok(worst <= 1, `dropped latent decodes ${worst} levels off diffusers`);
    await dropAndWait("latent16.npy", ["error"]);
    const error = await page.textContent("#error-text");
    console.log(`wrong channels: ${error}`);
    assert.equal(await page.getAttribute("#error", "data-code"), "bad-latent");
    assert.match(error, /16/);
    assert.match(error, /4/);
    assert.match(error, /channel/i);
    assert.doesNotMatch(error, /\n/);
    await dropAndWait("latent.npy");
    assert.deepEqual(await pixels("reconstruction"), recons[0]);
  });

  test("drops in quick succession while work runs: the last one wins, no older result shown after", async () => {
    const { shape, data } = readNpy(join(FIXTURES, "small_64x48_mean.npy"));
    serve({ "a.png": png(64, 48, { sample: (x, y) => [x * 4, y * 5, 128] }), "b.png": png(24, 16, { sample: (x) => [x * 10, 0, 0] }),
      "l.npy": npy(data, shape) });
    // Every state the page takes (each change's old value, then the current one) and every
    // draw of the reconstruction (its width attribute set).
    await page.evaluate(() => {
      window.seen = { states: [], draws: [] };
      new MutationObserver((rs) => seen.states.push(...rs.map((r) => r.oldValue)))
        .observe(document.body, { attributes: true, attributeFilter: ["data-state"], attributeOldValue: true });
      new MutationObserver((rs) => seen.draws.push(...rs.filter((r) => r.attributeName === "width").map((r) => r.target.width)))
        .observe(document.getElementById("reconstruction"), { attributes: true });
    });
    for (const [order, gapMs, want] of [[["a.png", "l.npy", "b.png"], 0, "image 24×16, latent 4×2×3"],
      [["b.png", "a.png", "l.npy"], 0, "image –, latent 4×6×8"], [["a.png", "b.png"], 300, "image 24×16, latent 4×2×3"]]) {
      await page.waitForFunction(() => document.body.dataset.state !== "working");
      await page.evaluate(() => { seen.states.length = 0; seen.draws.length = 0; });
      const before = (await page.textContent("#log")).length;
      await drop(order, gapMs);
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
      // Settled: nothing else arrives later.
      await page.waitForTimeout(1500);
      const seen = await page.evaluate(() => seen);
      const states = [...seen.states.slice(1), await page.evaluate(() => document.body.dataset.state)];
      const text = (await page.textContent("#log")).slice(before);
      const what = `${order.join(", ")}: states ${states.join(" ")}, draws ${seen.draws.join(" ")}\n${text}`;
      assert.equal(states.at(-1), "done", what);
      assert.equal(await page.textContent("#sizes"), want, what);
      assert.equal(states.filter((s) => s === "done").length, 1, `more than one result shown: ${what}`);
      assert.equal(seen.draws.length, 1, `the reconstruction was drawn more than once: ${what}`);
      const last = order.at(-1);
      const r = await pixels("reconstruction");
      assert.deepEqual([r.width, r.height], last === "b.png" ? [24, 16] : [64, 48], what);
      // Only the last input was decoded to the end.
      const finished = text.split("\n").filter((l) => /encoded and decoded|decoded latent/.test(l));
      assert.equal(finished.length, 1, what);
      assert.match(finished[0], last === "l.npy" ? /decoded latent l\.npy/ : /encoded and decoded 24×16/, what);
      console.log(`${order.join(" → ")} (${gapMs} ms apart): states ${states.join(" ")}`);
    }
  });
});
