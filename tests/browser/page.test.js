// The built page (dist/index.html) in headless Chromium: weights chosen by ?weights=, an image
// through the file input, every view drawn; a reload takes the weights from Cache Storage; error
// cases show their message and leave the page working.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, ROOT, launch, makeWeights, openWithWebGpu, startServer } from "./harness.js";

const OUT = join(ROOT, "tests", "browser", "out");
const WEIGHTS = "/weights/small.safetensors";
let weightsDir, srv, context, page, logs;

const state = () => page.evaluate(() => document.body.dataset.state);
const waitState = (s, timeout = 120_000) =>
  page.waitForFunction((want) => want.includes(document.body.dataset.state), s, { timeout });

/** Whether a canvas has content with some contrast (not blank or one flat colour). */
const nonBlank = (id) => page.evaluate((id) => {
  const c = document.getElementById(id);
  if (!c.width || !c.height) return false;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  return hi - lo > 8;
}, id);

before(async () => {
  weightsDir = makeWeights();
  srv = await startServer(weightsDir);
  context = await launch();
  ({ page, logs } = await openWithWebGpu(context, `${srv.base}/index.html?weights=${WEIGHTS}`));
  mkdirSync(OUT, { recursive: true });
});

after(async () => {
  if (logs?.length) writeFileSync(join(OUT, "console.txt"), logs.join("\n"));
  await context?.close();
  srv?.server.close();
});

describe("page", () => {
  test("?weights= loads, an image gives latent panels and a reconstruction", async () => {
    await waitState(["loaded"]);
    const log = await page.textContent("#log");
    assert.match(log, /the model's worker holds [\d.]+ MiB of wasm memory/);
    assert.match(await page.textContent("#adapter"), /GPU: .+/);
    assert.match(await page.textContent("#progress-text"), /MiB \(100\.0 %\) · [\d.]+ MiB\/s/);
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await waitState(["done"]);
    for (const id of ["original", "ch0", "ch1", "ch2", "ch3", "reconstruction", "heatmap"]) {
      assert.ok(await nonBlank(id), `${id} is blank`);
    }
    // The RGB preview is a fixed projection made for real SDXL latents; the synthetic model's are
    // nearly flat under it, so only its size is checked.
    assert.deepEqual(await page.evaluate(() => [document.getElementById("latent-rgb").width,
      document.getElementById("latent-rgb").height]), [8, 6]);
    assert.match(await page.textContent("#psnr"), /dB/);
    assert.match(await page.textContent("#ssim"), /\d\.\d{4}/);
    assert.match(await page.textContent("#sizes"), /image 64×48, latent 4×6×8/);
    assert.match(await page.textContent("#r0"), /\[-?[\d.]+, -?[\d.]+\]/);
    await page.screenshot({ path: join(OUT, "page.png"), fullPage: true });
    console.log((await page.textContent("#log")).trim());
    console.log(`stats: ${(await page.textContent("#stats")).replace(/\s+/g, " ").trim()}`);
  });

  test("the memory budget box: out of core the same reconstruction, progress shown; too small is too-large", async () => {
    const psnr = await page.textContent("#psnr");
    // The page is "done" from the last run: mark it, so that waiting for "done" waits for this one.
    const take = async () => {
      // Cleared, so that choosing the same file again is a change.
      await page.evaluate(() => {
        document.body.dataset.state = "taking";
        document.getElementById("image-file").value = "";
      });
      await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    };
    const setBudget = (v) => page.evaluate((v) => {
      const box = document.getElementById("memory-budget");
      box.value = v;
      box.dispatchEvent(new Event("change"));
    }, v);
    // The default budget (from the adapter) holds this image in core.
    assert.match(await page.inputValue("#memory-budget"), /^\d+[GM]$/);
    assert.doesNotMatch(await page.textContent("#gpu-estimate"), /out of core/);
    await setBudget("6M");
    await take();
    await waitState(["done"]);
    const est = await page.textContent("#gpu-estimate");
    console.log(`under 6M: ${est}; ${await page.textContent("#call-progress")}`);
    assert.match(est, /out of core within the 6\.0 MiB budget: [\d.]+ MiB in host memory, [\d.]+ MiB moved/);
    assert.equal(await page.textContent("#psnr"), psnr, "the budget changed the reconstruction");
    assert.match(await page.textContent("#call-progress"), /^decode (\d+) \/ \1 steps$/);
    await setBudget("1M");
    await take();
    await waitState(["error"]);
    assert.equal(await page.getAttribute("#error", "data-code"), "too-large");
    assert.match(await page.textContent("#error-text"), /memory budget is 1048576 bytes/);
    await setBudget("lots");
    assert.equal(await page.getAttribute("#error", "data-code"), "bad-argument");
    await setBudget("none");
    await take();
    await waitState(["done"]);
    assert.equal(await page.textContent("#psnr"), psnr);
  });

  test("a reload takes the weights from the cache, with no network fetch", async () => {
    const fetched = () => srv.requests.filter((p) => p === WEIGHTS).length;
    assert.equal(fetched(), 1);
    // The cache write finishes after the load; wait until the page reports it.
    await page.waitForFunction(() => /stored in the cache/.test(document.getElementById("log").textContent));
    await page.reload();
    await waitState(["loaded"]);
    assert.match(await page.textContent("#log"), /weights from the cache/);
    assert.equal(fetched(), 1, "the weights were fetched again");
    assert.match(await page.textContent("#cache-size"), /MiB in 1 file/);
  });

  test("?bench= prints the benchmark line the CLI prints", async () => {
    await page.goto(`${srv.base}/index.html?weights=${WEIGHTS}&bench=32&reps=1`);
    await page.waitForFunction(() => document.body.dataset.bench || document.body.dataset.state === "error",
      null, { timeout: 120_000 });
    const line = await page.evaluate(() => document.body.dataset.bench ?? document.getElementById("error-text").textContent);
    console.log(line);
    assert.match(line, /^bench size=32 encode_s=[\d.]+ decode_s=[\d.]+ encode_gflops=[\d.]+ decode_gflops=[\d.]+ peak_gpu_mib=\d+ precision=f32$/);
    for (const [, v] of line.matchAll(/=([\d.]+)/g)) assert.ok(Number(v) > 0, line);
    // The log names the adapter, the convolution kernel it chose and the precision.
    const adapter = (await page.textContent("#log")).split("\n").find((l) => l.includes("conv staging"));
    console.log(adapter);
    assert.match(adapter ?? "", /conv staging (workgroup|plain); precision f32$/);
  });

  test("user options come from the URL under their module names", async () => {
    const options = "precision=f16&limits=webgpu-default&maxBufferBytes=80K";
    await page.goto(`${srv.base}/index.html?weights=${WEIGHTS}&${options}&bench=32&reps=1`);
    await page.waitForFunction(() => document.body.dataset.bench || document.body.dataset.state === "error",
      null, { timeout: 120_000 });
    const line = await page.evaluate(() => document.body.dataset.bench ?? document.getElementById("error-text").textContent);
    assert.match(line, /^bench size=32 .* precision=f16$/);
    await page.goto(`${srv.base}/index.html?weights=${WEIGHTS}&precision=f8`);
    await waitState(["error"]);
    assert.match(await page.textContent("#error-text"), /precision must be "f32" or "f16", got "f8"/);
  });

  test("errors show in the page and the page keeps working", async () => {
    // The page shows each error's code (#error[data-code]) beside its message.
    const expectError = async (pattern, code) => {
      // The case before left the page in its error state: wait for this case's own message.
      await page.waitForFunction(([src, flags]) => document.body.dataset.state === "error"
        && new RegExp(src, flags).test(document.getElementById("error-text").textContent),
      [pattern.source, pattern.flags], { timeout: 60_000 }).catch(() => {});
      assert.match(await page.textContent("#error-text"), pattern);
      assert.ok(await page.isVisible("#error"));
      assert.equal(await page.getAttribute("#error", "data-code"), code);
    };
    await page.goto(`${srv.base}/index.html?weights=/weights/corrupt.safetensors`);
    await expectError(/header|safetensors/i, "bad-weights");
    await page.setInputFiles("#image-file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("no image") });
    await expectError(/not an image/, "bad-image");
    // An aborted load: a slow download, cancelled after the first progress.
    await page.selectOption("#weights-choice", "custom");
    await page.fill("#weights-url", "/slow/small.safetensors");
    await page.click("#load");
    await page.waitForFunction(() => !document.getElementById("cancel").disabled
      && /MiB/.test(document.getElementById("progress-text").textContent));
    await page.click("#cancel");
    await expectError(/aborted/, "aborted");
    // Still usable: good weights, then an image.
    await page.fill("#weights-url", WEIGHTS);
    await page.click("#load");
    await waitState(["loaded"]);
    await page.setInputFiles("#image-file", join(FIXTURES, "img_37x29.png"));
    await waitState(["done"]);
    assert.match(await page.textContent("#sizes"), /image 37×29, latent 4×4×5 \(edges padded/);
    assert.ok(await nonBlank("reconstruction"));
  });

  test("a 16-channel VAE shows 16 channel panels, and a tiny autoencoder 4 again", async () => {
    await page.goto(`${srv.base}/index.html?weights=/weights/kl16.safetensors`);
    await waitState(["loaded"]);
    assert.match(await page.textContent("#log"), /family sd3 \(default\): 16 latent channels/);
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await waitState(["done"]);
    assert.match(await page.textContent("#sizes"), /latent 16×6×8/);
    assert.equal(await page.locator("#latent-grid figure.channel").count(), 16);
    for (const id of ["ch0", "ch15", "reconstruction"]) assert.ok(await nonBlank(id), `${id} is blank`);
    assert.match(await page.textContent("#r15"), /\[-?[\d.]+, -?[\d.]+\]/);
    await page.screenshot({ path: join(OUT, "page-16-channels.png"), fullPage: true });
    await page.goto(`${srv.base}/index.html?weights=/weights/tae4.safetensors&family=taesd`);
    await waitState(["loaded"]);
    assert.match(await page.textContent("#log"), /family taesd \(given\)/);
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await waitState(["done"]);
    assert.equal(await page.locator("#latent-grid figure.channel").count(), 4);
    // The synthetic tiny model decodes to near-black (its outputs sit just below 0), so only its
    // latent panels are checked for content.
    assert.ok(await nonBlank("ch0"), "ch0 is blank");
  });

  test("a full-model PyTorch checkpoint through the file input loads its VAE and reads the rest past", async () => {
    await page.goto(`${srv.base}/index.html`);
    await waitState(["idle"]);
    assert.equal(await page.getAttribute("#weights-file", "accept"), ".safetensors,.ckpt,.pt,.pth");
    await page.setInputFiles("#weights-file", join(FIXTURES, "mini_full.ckpt"));
    await waitState(["loaded", "error"]);
    const log = await page.textContent("#log");
    assert.equal(await state(), "loaded", log);
    assert.match(log, /loaded mini_full\.ckpt in \d+ ms/);
    assert.match(log, /family sd1 \(\w+\): 4 latent channels/);
    assert.match(log, /format PyTorch checkpoint \(zip\); 7 tensors \(0\.4 MiB\) outside the VAE read past, not kept/);
    assert.match(await page.textContent("#progress-text"),
      /^1\.9 \/ 1\.9 MiB \(100\.0 %\) · [\d.]+ MiB\/s · reading past 7 tensors \(0\.4 MiB\) outside the VAE$/);
  });

  test("the fast preview shows the tiny model's reconstruction first, then the full VAE's", async () => {
    const tiny = "/weights/tae4.safetensors";
    await page.goto(`${srv.base}/index.html?weights=/fixtures/mini_full.ckpt&preview=${tiny}`);
    await waitState(["loaded"]);
    assert.ok(await page.isChecked("#preview-on"));
    await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.preview), null, { timeout: 60_000 });
    assert.match(await page.textContent("#preview-status"), /^taesdxl ready \(\d+ ms\)$/);
    // Every text the reconstruction's label takes, in order.
    await page.evaluate(() => {
      const label = document.getElementById("recon-label");
      window.labels = [];
      new MutationObserver(() => labels.push(label.textContent)).observe(label, { childList: true, characterData: true, subtree: true });
    });
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await waitState(["done"]);
    const labels = (await page.evaluate(() => labels)).filter(Boolean);
    assert.equal(labels.length, 2, labels.join(" | "));
    assert.match(labels[0], /^\(fast preview: taesdxl, \d+ ms; full VAE running…\)$/);
    assert.match(labels[1], /^\(full VAE, \d+ ms; the fast preview took \d+ ms\)$/);
    const lines = (await page.textContent("#log")).split("\n");
    const shown = lines.findIndex((l) => /fast preview \(taesdxl\) shown in \d+ ms/.test(l));
    const full = lines.findIndex((l) => /encoded and decoded 64×48/.test(l));
    assert.ok(shown >= 0 && full > shown, lines.join("\n"));
    assert.equal(await page.textContent("#recon-label"), labels[1]);
    assert.ok(await nonBlank("reconstruction"), "reconstruction is blank");
    assert.match(await page.textContent("#psnr"), /dB/);
    await page.screenshot({ path: join(OUT, "page-preview.png"), fullPage: true });
    // Turned off, the tiny model is freed and the next image goes to the full VAE alone.
    await page.uncheck("#preview-on");
    assert.equal(await page.evaluate(() => document.body.dataset.preview), "off");
    await page.setInputFiles("#image-file", join(FIXTURES, "img_37x29.png"));
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state)
      && /encoded and decoded 37×29|error:/.test(document.getElementById("log").textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent("#log"), /encoded and decoded 37×29/);
    assert.equal(await state(), "done");
    assert.equal(await page.textContent("#recon-label"), "");
    const after = (await page.textContent("#log")).split("\n").slice(lines.length - 1);
    assert.ok(!after.some((l) => /fast preview \(/.test(l)), after.join("\n"));
    console.log(lines.filter((l) => /preview|encoded/.test(l)).join("\n"));
  });
});
