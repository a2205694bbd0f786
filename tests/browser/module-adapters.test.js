// The module on devices of other kinds than this machine's, in headless Chromium: the GPUs'
// convolution form (weights staged in workgroup memory), and a device with no optional feature
// at WebGPU's default limits, as Safari's or Firefox's adapters may grant — each against the
// diffusers fixtures at f32 and f16. The forms are chosen from what the device reports.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, fixtureImage, maxAbsDiff, openModule, readNpy } from "./harness.js";

// The engine's tolerances (docs/numerics.md): latent 1e-3, decoded output 2e-3 on the [-1, 1] scale.
const LATENT_TOL = 1e-3;
const DECODED_TOL = 2e-3;

let page, close;

before(async () => {
  ({ page, close } = await openModule());
});

after(async () => {
  await close?.();
});

describe("module on other devices", () => {
  test("weights staged in workgroup memory (the GPUs' form) match diffusers in f32 and f16", async () => {
    const r = await page.evaluate(async ({ image, mean }) => {
      const out = {};
      for (const precision of ["f32", "f16"]) {
        const v = await m.Vae.load("/weights/small.safetensors", { sharedWeights: true, precision, maxBufferBytes: 80 * 1024 });
        const latent = [...(await v.encode(img(image))).data];
        const raw = [...(await v.decodeRaw({ width: 8, height: 6, data: new Float32Array(mean) })).data];
        const halfActivations = v.f16Activations;
        // f16: beyond its range the call runs again with f32 activations, then f32 inputs.
        const huge = await v.decodeRaw({ width: 8, height: 6, data: new Float32Array(mean.map((x) => x * 1e6)) });
        out[precision] = {
          form: v.convStaging, latent, raw, hugeFinite: huge.data.every(Number.isFinite), after: v.precision,
          halfActivations, halfAfter: v.f16Activations,
        };
        v.free();
      }
      const plain = await m.Vae.load("/weights/small.safetensors", { sharedWeights: false });
      out.plainForm = plain.convStaging;
      plain.free();
      out.bad = await m.Vae.load("/weights/small.safetensors", { sharedWeights: "yes" }).then(() => "", (e) => e.message);
      return out;
    }, { image: fixtureImage(), mean: [...readNpy(join(FIXTURES, "small_64x48_mean.npy")).data] });
    for (const [precision, [lt, dt]] of [["f32", [LATENT_TOL, DECODED_TOL]], ["f16", [1e-2, 3e-2]]]) {
      const x = r[precision];
      const le = maxAbsDiff(x.latent, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
      const re = maxAbsDiff(x.raw, readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data);
      console.log(`workgroup form ${precision}: latent err ${le.worst.toExponential(2)}, raw decoded err ${re.worst.toExponential(2)}`);
      assert.equal(x.form, "workgroup");
      assert.ok(le.worst <= lt, `${precision} latent error ${le.worst}`);
      assert.ok(re.worst <= dt, `${precision} decoded error ${re.worst}`);
      assert.ok(x.hugeFinite);
      assert.equal(x.after, "f32");
      assert.deepEqual([x.halfActivations, x.halfAfter], [precision === "f16", false]);
    }
    assert.equal(r.plainForm, "plain");
    assert.match(r.bad, /sharedWeights must be true or false/);
  });


  test("a device with no optional feature and WebGPU's default limits matches diffusers", async () => {
    const r = await page.evaluate(async ({ image, mean }) => {
      const out = {};
      for (const precision of ["f32", "f16"]) {
        const v = await m.Vae.load("/weights/small.safetensors", { limits: "webgpu-default", features: "none", precision });
        const latent = [...(await v.encode(img(image))).data];
        const raw = [...(await v.decodeRaw({ width: 8, height: 6, data: new Float32Array(mean) })).data];
        out[precision] = { latent, raw, form: v.convStaging };
        v.free();
      }
      out.bad = await m.Vae.load("/weights/small.safetensors", { features: "all" }).then(() => "", (e) => e.message);
      return out;
    }, { image: fixtureImage(), mean: [...readNpy(join(FIXTURES, "small_64x48_mean.npy")).data] });
    for (const [precision, [lt, dt]] of [["f32", [LATENT_TOL, DECODED_TOL]], ["f16", [1e-2, 3e-2]]]) {
      const x = r[precision];
      const le = maxAbsDiff(x.latent, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
      const re = maxAbsDiff(x.raw, readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data);
      console.log(`no features, default limits, ${precision}: latent err ${le.worst.toExponential(2)}, raw decoded err ${re.worst.toExponential(2)}`);
      assert.ok(le.worst <= lt, `${precision} latent error ${le.worst}`);
      assert.ok(re.worst <= dt, `${precision} decoded error ${re.worst}`);
      assert.notEqual(x.form, "subgroups");
    }
    assert.match(r.bad, /features must be "adapter" or "none"/);
  });
});
