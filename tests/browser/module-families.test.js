// The newer VAE families in headless Chromium, against diffusers' fixtures
// (tests/fixtures/gen_flux2_fixtures.py, gen_qwen_fixtures.py): FLUX.2's VAE and Qwen-Image's
// (in Wan's original names) through the module and through VaeWorker — their latents, their
// decoding, and the latent their transformers see (`toDiffusion`: FLUX.2's 2×2 patches
// normalised by the weights' statistics, Qwen-Image's per-channel statistics) both ways — and
// the page showing their channels and RGB previews; and TAEW2.1, Qwen-Image's tiny twin (TAEHV),
// against taehv.py (gen_taew_fixtures.py), as the page's fast preview for Qwen-Image.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, fixtureImage, maxAbsDiff, openModule, readNpy } from "./harness.js";

// The engine's tolerances (docs/numerics.md): latent 1e-3, decoded output 2e-3.
const LATENT_TOL = 1e-3;
const DECODED_TOL = 2e-3;

let page, srv, close;

before(async () => {
  ({ page, srv, close } = await openModule());
});

after(async () => {
  await close?.();
});

const fixture = (name) => [...readNpy(join(FIXTURES, name)).data];

describe("newer families", () => {
  test("FLUX.2: encode, decode and the diffusion-space latent match diffusers, in the module and its worker", async () => {
    const r = await page.evaluate(async ({ image, scaled }) => {
      const out = {};
      const { VaeWorker } = await import("/web/vae-client.js");
      for (const kind of ["module", "worker"]) {
        const v = kind === "module" ? await m.Vae.load("/weights/flux2.safetensors") : await VaeWorker.load("/weights/flux2.safetensors");
        const latent = await v.encode(img(image));
        const z = await v.toDiffusion(latent);
        const back = await v.fromDiffusion({ width: 4, height: 3, data: new Float32Array(scaled), imageWidth: 64, imageHeight: 48 });
        const raw = await v.decodeRaw(back);
        const odd = await Promise.resolve().then(() => v.toDiffusion({ width: 5, height: 3, data: new Float32Array(32 * 15) }))
          .then(() => "", (e) => `${e.code}: ${e.message}`);
        out[kind] = {
          family: v.family, channels: v.latentChannels, layout: v.latentLayout, latent: [...latent.data],
          z: { channels: z.channels, width: z.width, height: z.height, data: [...z.data] },
          back: [back.channels, back.width, back.height, back.imageWidth, back.imageHeight], raw: [...raw.data], odd,
        };
        if (kind === "module") v.free(); else v.terminate();
      }
      return out;
    }, { image: fixtureImage(), scaled: fixture("flux2_64x48_scaled.npy") });
    for (const [kind, o] of Object.entries(r)) {
      assert.equal(o.family, "flux2", kind);
      assert.equal(o.channels, 32);
      assert.deepEqual(o.layout, { channels: 32, diffusionChannels: 128, patch: 2, normalization: "statistics" });
      const le = maxAbsDiff(o.latent, fixture("flux2_64x48_mean.npy"));
      const ze = maxAbsDiff(o.z.data, fixture("flux2_64x48_scaled.npy"));
      const de = maxAbsDiff(o.raw, fixture("flux2_64x48_scaled_decoded.npy"));
      console.log(`${kind}: latent ${le.worst.toExponential(2)}, scaled ${ze.worst.toExponential(2)}, decoded from it ${de.worst.toExponential(2)}`);
      assert.deepEqual([o.z.channels, o.z.width, o.z.height], [128, 4, 3]);
      assert.deepEqual(o.back, [32, 8, 6, 64, 48]);
      assert.ok(le.worst <= LATENT_TOL && ze.worst <= LATENT_TOL, `${kind}: ${le.worst}, ${ze.worst}`);
      assert.ok(de.worst <= DECODED_TOL, `${kind}: ${de.worst}`);
      assert.match(o.odd, /^bad-latent: .*2×2 patches/);
    }
  });

  test("Qwen-Image in Wan's names: encode, decode and the diffusion-space latent match diffusers", async () => {
    const r = await page.evaluate(async ({ image, mean }) => {
      const out = {};
      const { VaeWorker } = await import("/web/vae-client.js");
      for (const kind of ["module", "worker"]) {
        const v = kind === "module" ? await m.Vae.load("/weights/qwen.safetensors") : await VaeWorker.load("/weights/qwen.safetensors");
        const latent = await v.encode(img(image));
        const z = await v.toDiffusion(latent);
        const raw = await v.decodeRaw({ width: 8, height: 6, data: new Float32Array(mean) });
        out[kind] = { family: v.family, kind: v.kind, layout: v.latentLayout, latent: [...latent.data], z: [...z.data], raw: [...raw.data] };
        if (kind === "module") v.free(); else v.terminate();
      }
      return out;
    }, { image: fixtureImage(), mean: fixture("qwen_64x48_mean.npy") });
    for (const [kind, o] of Object.entries(r)) {
      assert.deepEqual([o.family, o.kind], ["qwen-image", "qwen"], kind);
      assert.deepEqual(o.layout, { channels: 16, diffusionChannels: 16, patch: 1, normalization: "statistics" });
      const le = maxAbsDiff(o.latent, fixture("qwen_64x48_mean.npy"));
      const ze = maxAbsDiff(o.z, fixture("qwen_64x48_scaled.npy"));
      const de = maxAbsDiff(o.raw, fixture("qwen_64x48_decoded.npy"));
      console.log(`qwen-image ${kind}: latent ${le.worst.toExponential(2)}, scaled ${ze.worst.toExponential(2)}, decoded ${de.worst.toExponential(2)}`);
      assert.ok(le.worst <= LATENT_TOL && ze.worst <= LATENT_TOL, `${kind}: ${le.worst}, ${ze.worst}`);
      assert.ok(de.worst <= DECODED_TOL, `${kind}: ${de.worst}`);
    }
  });

  test("TAEW2.1 (TAEHV) on one image: encode, decode and its diffusion-space latent match taehv.py, in the module and its worker", async () => {
    const r = await page.evaluate(async ({ image, latents }) => {
      const out = {};
      const { VaeWorker } = await import("/web/vae-client.js");
      for (const kind of ["module", "worker"]) {
        const url = "/fixtures/taew_narrow.safetensors";
        const v = kind === "module" ? await m.Vae.load(url) : await VaeWorker.load(url);
        const z = await v.toDiffusion(await v.encode(img(image)));
        const back = await v.fromDiffusion({ width: 8, height: 6, data: new Float32Array(latents), imageWidth: 64, imageHeight: 48 });
        const raw = await v.decodeRaw(back);
        out[kind] = { family: v.family, kind: v.kind, layout: v.latentLayout, z: [...z.data], raw: [...raw.data] };
        if (kind === "module") v.free(); else v.terminate();
      }
      return out;
    }, { image: fixtureImage(), latents: fixture("taew_64x48_latents.npy") });
    // taehv.py's decoder gives [0, 1]; the raw output is in [-1, 1].
    const decoded = fixture("taew_64x48_decoded.npy").map((v) => 2 * v - 1);
    for (const [kind, o] of Object.entries(r)) {
      assert.deepEqual([o.family, o.kind], ["taew2.1", "taehv"], kind);
      assert.deepEqual(o.layout, { channels: 16, diffusionChannels: 16, patch: 1, normalization: "statistics" });
      const ze = maxAbsDiff(o.z, fixture("taew_64x48_latents.npy"));
      const de = maxAbsDiff(o.raw, decoded);
      console.log(`taew2.1 ${kind}: latent ${ze.worst.toExponential(2)}, decoded ${de.worst.toExponential(2)}`);
      assert.ok(ze.worst <= LATENT_TOL, `${kind}: ${ze.worst}`);
      assert.ok(de.worst <= DECODED_TOL, `${kind}: ${de.worst}`);
    }
  });

  test("the page shows Qwen-Image's 16 channels and their RGB preview from the normalised latent, and previews with TAEW2.1 from its published address", async () => {
    const p = await page.context().newPage();
    // TAEW2.1 at its published address (served here by the fixture: nothing leaves the machine).
    const published = "https://raw.githubusercontent.com/madebyollin/taehv/main/safetensors/taew2_1.safetensors";
    let asked = 0;
    await p.route(published, (route) => {
      asked++;
      return route.fulfill({ path: join(FIXTURES, "taew_narrow.safetensors"), headers: { "access-control-allow-origin": "*" } });
    });
    await p.goto(`${srv.base}/index.html?weights=/weights/qwen.safetensors&preview=1`);
    await p.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await p.evaluate(() => document.body.dataset.state), "loaded", await p.textContent("#log"));
    await p.waitForFunction(() => ["ready", "error", "none"].includes(document.body.dataset.preview), null, { timeout: 120_000 });
    assert.match(await p.textContent("#preview-status"), /^taew2\.1 ready \(\d+ ms\)$/, await p.textContent("#log"));
    assert.equal(asked, 1);
    await p.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await p.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await p.evaluate(() => document.body.dataset.state), "done", await p.textContent("#log"));
    const shown = await p.evaluate(() => {
      const c = document.getElementById("latent-rgb");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      return [document.querySelectorAll("#latent-grid figure.channel canvas").length, c.width, c.height,
        d.some((v, i) => i % 4 !== 3 && v !== 0), document.getElementById("rgb-family").textContent];
    });
    assert.deepEqual(shown, [16, 8, 6, true, "(qwen-image)"]);
    assert.match(await p.textContent("#log"), /fast preview \(taew2\.1\) shown in \d+ ms/);
    await p.close();
  });

  test("the page shows FLUX.2's 32 channels and its RGB preview, previews with TAEF2's two halves, and takes its diffusion-space latent", async () => {
    const p = await page.context().newPage();
    const halves = "/fixtures/taef2_encoder.pth,/fixtures/taef2_decoder.pth";
    await p.goto(`${srv.base}/index.html?weights=/weights/flux2.safetensors&preview=${halves}`);
    await p.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await p.evaluate(() => document.body.dataset.state), "loaded", await p.textContent("#log"));
    await p.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.preview), null, { timeout: 120_000 });
    assert.match(await p.textContent("#preview-status"), /^taef2 ready \(\d+ ms\)$/, await p.textContent("#log"));
    await p.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await p.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await p.evaluate(() => document.body.dataset.state), "done", await p.textContent("#log"));
    const shown = await p.evaluate(() => {
      const c = document.getElementById("latent-rgb");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      return { panels: document.querySelectorAll("#latent-grid figure.channel canvas").length, rgb: [c.width, c.height],
        drawn: d.some((v, i) => i % 4 !== 3 && v !== 0), label: document.getElementById("rgb-family").textContent };
    });
    assert.deepEqual([shown.panels, ...shown.rgb, shown.drawn, shown.label], [32, 8, 6, true, "(flux2)"]);
    assert.match(await p.textContent("#log"), /fast preview \(taef2\) shown in \d+ ms/);
    // Diffusers' scaled latent, dropped as an .npy file, is unscaled and decoded.
    const npy = join(FIXTURES, "flux2_64x48_scaled.npy");
    await p.setInputFiles("#image-file", npy);
    await p.waitForFunction(() => /decoded latent flux2_64x48_scaled\.npy|error/.test(document.getElementById("log").textContent), null, { timeout: 120_000 });
    const log = await p.textContent("#log");
    assert.match(log, /a 128-channel latent in diffusion space, unscaled first/);
    assert.match(log, /decoded latent flux2_64x48_scaled\.npy: 32×6×8/);
    await p.close();
  });
});
