// The npm package as an image editor would use it: `npm pack ./pkg` (written by `trunk build
// --release`), installed from the tarball into a fresh outside project, then used four ways in
// headless Chromium — imported by its bare name through an import map, bundled by Vite and by
// webpack 5 with its default settings (each finds the wasm and the worker through
// `new URL(…, import.meta.url)`), and bundled by esbuild (the wasm's URL imported and passed to
// `init`). Each encodes and decodes the fixture image with the small synthetic
// model and must equal diffusers' outputs within the engine's tolerances. The same project runs
// it in Deno (its own WebGPU, on wgpu), and `examples/deno-batch.js` there. A TypeScript file of
// the same project type-checks against the package's types.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { build as viteBuild } from "vite";
import { build as esbuild } from "esbuild";
import webpack from "webpack";
import { FIXTURES, ROOT, fixtureImage, launch, makeWeights, maxAbsDiff, openWithWebGpu, readNpy, startServer } from "../browser/harness.js";

const DENO = join(ROOT, "tests", "package", "node_modules", "@deno", "linux-x64-glibc", "deno");
const LATENT_TOL = 1e-3;
const DECODED_TOL = 2e-3;
const PKG = join(ROOT, "pkg");

let app, tarball, weightsDir, srv, context;

/** The editor's code, the same in all three builds but for how the wasm is found. */
const roundtrip = (initImport, initArg) => `import init, { Vae } from "sdxl-vae";
${initImport}
window.roundtrip = async ({ weights, image, mean }) => {
  const t0 = performance.now();
  await init(${initArg});
  const vae = await Vae.load(weights);
  const latent = await vae.encode(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height));
  const z = { width: latent.width, height: latent.height, data: new Float32Array(mean) };
  const decoded = await vae.decode(z);
  const raw = await vae.decodeRaw(z);
  vae.free();
  return { ms: performance.now() - t0, latent: [...latent.data], raw: [...raw.data], decoded: [...decoded.data],
    sizes: [latent.width, latent.height, decoded.width, decoded.height], isImageData: decoded instanceof ImageData };
};
window.ready = true;
`;

const page = (title, head = "") => `<!doctype html><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,">${head}
<script type="module" src="./main.js"></script>`;

/** Bytes of every file under `dir`. */
function dirBytes(dir) {
  return readdirSync(dir, { recursive: true }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile())
    .reduce((n, f) => n + statSync(f).size, 0);
}

before(async () => {
  assert.ok(existsSync(join(PKG, "package.json")), "pkg/ is missing: run `trunk build --release` first");
  app = mkdtempSync(join(tmpdir(), "sdxl-vae-editor-"));
  const packed = JSON.parse(execFileSync("npm", ["pack", PKG, "--json", "--pack-destination", app], { encoding: "utf8" }));
  tarball = { file: join(app, packed[0].filename), size: packed[0].size, unpacked: packed[0].unpackedSize,
    files: packed[0].files.map((f) => f.path).sort() };
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "editor", private: true, type: "module" }));
  execFileSync("npm", ["install", tarball.file, "--offline", "--no-audit", "--no-fund"], { cwd: app, stdio: "ignore" });

  // (a) No bundler: the bare names mapped onto node_modules/ as served.
  mkdirSync(join(app, "importmap"));
  const map = { imports: { "sdxl-vae": "/node_modules/sdxl-vae/sdxl_vae.js",
    "sdxl-vae/worker": "/node_modules/sdxl-vae/worker/vae-client.js" } };
  writeFileSync(join(app, "importmap", "index.html"),
    page("import map", `<script type="importmap">${JSON.stringify(map)}</script>`));
  writeFileSync(join(app, "importmap", "main.js"),
    `${roundtrip("", "")}import { VaeWorker } from "sdxl-vae/worker";\nwindow.VaeWorker = VaeWorker;\n`);

  // (b) Vite: follows wasm-bindgen's new URL("sdxl_vae_bg.wasm", import.meta.url) by itself.
  mkdirSync(join(app, "vite"));
  writeFileSync(join(app, "vite", "index.html"), page("vite"));
  // The worker too: Vite follows vae-client.js's literal `new Worker(new URL(…))` and bundles
  // vae-worker.js with the module and its wasm.
  writeFileSync(join(app, "vite", "main.js"),
    `${roundtrip("", "")}import { VaeWorker } from "sdxl-vae/worker";\nwindow.VaeWorker = VaeWorker;\n`);
  await viteBuild({ root: join(app, "vite"), base: "./", configFile: false, logLevel: "warn",
    build: { outDir: join(app, "vite", "dist"), emptyOutDir: true } });

  // (c) esbuild: leaves that URL alone; the wasm's URL is imported (file loader) and passed.
  mkdirSync(join(app, "esbuild"));
  writeFileSync(join(app, "esbuild", "main.js"),
    roundtrip(`import wasmUrl from "sdxl-vae/sdxl_vae_bg.wasm";`, "{ module_or_path: wasmUrl }"));
  await esbuild({ entryPoints: [join(app, "esbuild", "main.js")], bundle: true, format: "esm", minify: true,
    outdir: join(app, "esbuild", "dist"), loader: { ".wasm": "file" }, logLevel: "warning" });
  writeFileSync(join(app, "esbuild", "dist", "index.html"), page("esbuild"));

  // (d) webpack 5, no configuration but the entry and the output folder: it emits the wasm as an
  // asset and the worker as a chunk of its own from the same `new URL(…, import.meta.url)`s.
  mkdirSync(join(app, "webpack"));
  writeFileSync(join(app, "webpack", "main.js"),
    `${roundtrip("", "")}import { VaeWorker } from "sdxl-vae/worker";\nwindow.VaeWorker = VaeWorker;\n`);
  const stats = await new Promise((resolve, reject) => webpack({
    mode: "production", context: join(app, "webpack"), entry: "./main.js",
    output: { path: join(app, "webpack", "dist") },
  }, (e, s) => (e ? reject(e) : resolve(s))));
  assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
  // webpack's bundle is a classic script (its default output), which finds its own URL.
  writeFileSync(join(app, "webpack", "dist", "index.html"),
    page("webpack").replace('<script type="module" src="./main.js">', '<script src="./main.js">'));

  weightsDir = makeWeights();
  srv = await startServer(weightsDir, { root: app });
  context = await launch();
});

after(async () => {
  await context?.close();
  srv?.server.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

/** Opens `path`, runs the editor's round trip, and checks it against the fixtures; no request
 *  may fail and no error may reach the console. */
async function check(name, path) {
  const failed = [];
  const { page: p, logs } = await openWithWebGpu(context, `${srv.base}/blank.html`);
  p.on("response", (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  p.on("requestfailed", (r) => failed.push(`failed ${r.url()}`));
  await p.goto(`${srv.base}${path}`);
  await p.waitForFunction(() => window.ready, null, { timeout: 30_000 });
  const mean = readNpy(join(FIXTURES, "small_64x48_mean.npy")).data;
  const r = await p.evaluate((args) => window.roundtrip(args),
    { weights: "/weights/small.safetensors", image: fixtureImage(), mean: [...mean] });
  const dec = readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data;
  assert.deepEqual(r.sizes, [8, 6, 64, 48]);
  assert.ok(r.isImageData);
  const le = maxAbsDiff(r.latent, mean);
  const re = maxAbsDiff(r.raw, dec);
  let worst8 = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 64 * 48; i++) {
      const want = Math.min(1, Math.max(0, (dec[c * 64 * 48 + i] + 1) / 2)) * 255;
      worst8 = Math.max(worst8, Math.abs(r.decoded[4 * i + c] - want));
    }
  }
  console.log(`${name}: init + load + encode + decode ${r.ms.toFixed(0)} ms; latent err ${le.worst.toExponential(2)}, `
    + `decoded err ${re.worst.toExponential(2)}, 8-bit err ${worst8.toFixed(3)} levels`);
  assert.ok(le.worst <= LATENT_TOL, `latent error ${le.worst} at ${le.at}`);
  assert.ok(re.worst <= DECODED_TOL, `decoded error ${re.worst} at ${re.at}`);
  assert.ok(worst8 <= 0.5 + (DECODED_TOL * 255) / 2 + 1e-3, `8-bit error ${worst8}`);
  assert.deepEqual(failed, []);
  // Failed requests are checked above; Chromium's own for /favicon.ico (blank.html has no icon)
  // shows in the console as a failed resource too.
  const errors = logs.filter((l) => /^(error|pageerror)/.test(l) && !/Failed to load resource/.test(l));
  assert.deepEqual(errors, []);
  return p;
}

/** A `VaeWorker` from the bundle on page `p` encodes the fixture image as the fixtures say. */
async function checkWorker(name, p) {
  const r = await p.evaluate(async ({ image }) => {
    const w = await window.VaeWorker.load("/weights/small.safetensors");
    const latent = await w.encode({ width: image.width, height: image.height, data: new Uint8ClampedArray(image.data) });
    w.terminate();
    return [...latent.data];
  }, { image: fixtureImage() });
  const le = maxAbsDiff(r, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
  console.log(`${name}, worker: latent err ${le.worst.toExponential(2)}`);
  assert.ok(le.worst <= LATENT_TOL, `${name} worker latent error ${le.worst}`);
}

/** An editor's TypeScript: every import resolves to the package's types (an unknown option value
 *  must be refused, which would not happen were they `any`). */
const TS = `import init, { Vae, type ErrorCode, type Latent, type LoadTimes, type RawImage, type VaeError } from "sdxl-vae";
import { VaeWorker, type LoadedVae } from "sdxl-vae/worker";
export async function roundtrip(image: ImageData, weights: Blob): Promise<ImageData> {
  await init();
  const vae: Vae = await Vae.load("/weights.safetensors");
  await Vae.load("/weights.safetensors", { onProgress: (loaded, total) => {} });
  const latent: Latent = await vae.encode(image);
  // The options may be left out; the load's breakdown is typed.
  const times: LoadTimes = (await Vae.load(weights)).loadTimes;
  const worker = await VaeWorker.load(weights, { precision: "f16", signal: new AbortController().signal });
  const info: LoadedVae = await worker.load(weights, { onProgress: (loaded, total, file) => {} });
  const channels: number = info.latentChannels + latent.data.length + (worker.latentChannels ?? 0) + times.mbPerS;
  const precision: string | undefined = worker.precision;
  const sample: Latent = await worker.encodeSample(image, 7);
  const raw: RawImage = await worker.decodeRaw(sample);
  const fromWorker: ImageData = await worker.decode(await worker.encode(image));
  await worker.free();
  worker.terminate();
  try {
    return channels + raw.width > 0 && precision ? vae.decode(latent) : fromWorker;
  } catch (e) {
    const code: ErrorCode = (e as VaeError).code;
    if (code === "device-lost") throw e;
    throw e;
  }
}
// @ts-expect-error: not a precision
Vae.load("/weights.safetensors", { precision: "f8" });
// @ts-expect-error: not an error code
const wrong: ErrorCode = "lost";
`;

describe("npm package", () => {
  test("the tarball holds the module, its wasm and types, the worker and package.json's entry points", () => {
    console.log(`tarball ${(tarball.size / 1024).toFixed(0)} KiB (${(tarball.unpacked / 1024).toFixed(0)} KiB unpacked): `
      + tarball.files.join(", "));
    assert.deepEqual(tarball.files, ["README.md", "package.json", "sdxl_vae.d.ts", "sdxl_vae.js", "sdxl_vae_bg.wasm",
      "worker/failure.js", "worker/vae-client.d.ts", "worker/vae-client.js", "worker/vae-worker.js"]);
    const installed = join(app, "node_modules", "sdxl-vae");
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    const cargo = readFileSync(join(ROOT, "Cargo.toml"), "utf8");
    assert.equal(pkg.version, /^version = "(.+)"$/m.exec(cargo)[1]);
    assert.equal(pkg.license, /^license = "(.+)"$/m.exec(cargo)[1]);
    assert.equal(pkg.name, "sdxl-vae");
    assert.equal(pkg.type, "module");
    // Every file an export or `types` names is in the package.
    const targets = [pkg.types, pkg.main];
    for (const e of Object.values(pkg.exports)) targets.push(...(typeof e === "string" ? [e] : Object.values(e)));
    for (const t of targets) assert.ok(existsSync(join(installed, t)), `${t} is not in the package`);
    assert.match(readFileSync(join(installed, "sdxl_vae.d.ts"), "utf8"), /export class Vae/);
    assert.match(readFileSync(join(installed, "worker", "vae-client.d.ts"), "utf8"), /export class VaeWorker/);
  });

  test("its types check in a strict TypeScript project (tsc, bundler resolution)", () => {
    writeFileSync(join(app, "editor.ts"), TS);
    // lib esnext: wasm-bindgen's classes declare [Symbol.dispose].
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ files: ["editor.ts"], compilerOptions: {
      module: "esnext", moduleResolution: "bundler", target: "es2022", lib: ["esnext", "dom"], strict: true, noEmit: true } }));
    const tsc = join(ROOT, "tests", "package", "node_modules", ".bin", "tsc");
    try {
      execFileSync(tsc, ["-p", app], { encoding: "utf8" });
    } catch (e) {
      assert.fail(`tsc: ${e.stdout}${e.stderr}`);
    }
  });

  test("(a) imported by its bare name through an import map; the worker too", async () => {
    const p = await check("import map", "/importmap/index.html");
    const r = await p.evaluate(async ({ image }) => {
      const w = new window.VaeWorker();
      await w.load("/weights/small.safetensors");
      const latent = await w.encode({ width: image.width, height: image.height, data: new Uint8ClampedArray(image.data) });
      const decoded = await w.decode(latent);
      w.terminate();
      return { latent: [...latent.data], size: [decoded.width, decoded.height] };
    }, { image: fixtureImage() });
    assert.deepEqual(r.size, [64, 48]);
    const le = maxAbsDiff(r.latent, readNpy(join(FIXTURES, "small_64x48_mean.npy")).data);
    console.log(`import map, worker: latent err ${le.worst.toExponential(2)}`);
    assert.ok(le.worst <= LATENT_TOL, `worker latent error ${le.worst}`);
    assert.ok(srv.requests.includes("/node_modules/sdxl-vae/worker/vae-worker.js"));
  });

  test("(b) bundled by Vite, the wasm emitted as an asset and found by init()", async () => {
    const dist = join(app, "vite", "dist");
    const wasm = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith(".wasm"));
    assert.equal(wasm.length, 1, "Vite emitted no .wasm");
    console.log(`Vite bundle ${(dirBytes(dist) / 1024).toFixed(0)} KiB (${wasm[0]} included)`);
    const since = srv.requests.length;
    const p = await check("Vite", "/vite/dist/index.html");
    assert.ok(srv.requests.some((r) => r.startsWith("/vite/dist/") && r.endsWith(".wasm")));
    await checkWorker("Vite", p);
    // The worker came from the bundle, not from node_modules.
    const fromModules = srv.requests.slice(since).filter((r) => r.includes("node_modules"));
    assert.deepEqual(fromModules, [], "the Vite bundle fetched from node_modules");
  });

  test("(d) bundled by webpack 5 with its defaults, the module and the worker", async () => {
    const dist = join(app, "webpack", "dist");
    const wasm = readdirSync(dist).filter((f) => f.endsWith(".wasm"));
    assert.equal(wasm.length, 1, "webpack emitted no .wasm");
    console.log(`webpack bundle ${(dirBytes(dist) / 1024).toFixed(0)} KiB (${wasm[0]} included)`);
    const since = srv.requests.length;
    const p = await check("webpack", "/webpack/dist/index.html");
    await checkWorker("webpack", p);
    const served = srv.requests.slice(since);
    assert.ok(served.some((r) => r.startsWith("/webpack/dist/") && r.endsWith(".wasm")));
    assert.deepEqual(served.filter((r) => r.includes("node_modules")), [], "the webpack bundle fetched from node_modules");
  });

  test("(e) in Deno: its WebGPU, the wasm from bytes, weights streamed from a file; its batch example", () => {
    assert.ok(existsSync(DENO), "Deno is missing: npm ci in tests/package");
    mkdirSync(join(app, "deno"), { recursive: true });
    const mean = readNpy(join(FIXTURES, "small_64x48_mean.npy")).data;
    writeFileSync(join(app, "deno", "input.json"), JSON.stringify({ image: fixtureImage(), mean: [...mean] }));
    writeFileSync(join(app, "deno", "roundtrip.js"), `import init, { Vae } from "sdxl-vae";
const [weights, input] = Deno.args;
await init({ module_or_path: await Deno.readFile(new URL(import.meta.resolve("sdxl-vae/sdxl_vae_bg.wasm"))) });
const vae = await Vae.load((await Deno.open(weights)).readable);
const { image, mean } = JSON.parse(await Deno.readTextFile(input));
const latent = await vae.encode({ width: image.width, height: image.height, data: new Uint8ClampedArray(image.data) });
const z = { width: latent.width, height: latent.height, data: new Float32Array(mean) };
const raw = await vae.decodeRaw(z);
const decoded = await vae.decode(z);
const code = await vae.decode({ width: 3, height: 2, data: new Float32Array(5) }).then(() => null, (e) => e.code);
console.log(JSON.stringify({ adapter: vae.adapterName, latent: [...latent.data], raw: [...raw.data], code,
  decoded: { width: decoded.width, height: decoded.height, bytes: decoded.data.length,
    // An ImageData where the runtime has one, else a plain object.
    asRuntime: typeof ImageData === "undefined" ? decoded.constructor === Object : decoded instanceof ImageData } }));
vae.free();
`);
    const weights = join(weightsDir, "small.safetensors");
    const deno = (args) => spawnSync(DENO, ["run", "--allow-read", "--allow-write", ...args],
      { cwd: app, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const run = deno([join("deno", "roundtrip.js"), weights, join("deno", "input.json")]);
    assert.equal(run.status, 0, run.stderr);
    const r = JSON.parse(run.stdout);
    const le = maxAbsDiff(r.latent, mean);
    const re = maxAbsDiff(r.raw, readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data);
    console.log(`Deno on ${r.adapter}: latent err ${le.worst.toExponential(2)}, decoded err ${re.worst.toExponential(2)}`);
    assert.ok(le.worst <= LATENT_TOL, `latent error ${le.worst}`);
    assert.ok(re.worst <= DECODED_TOL, `decoded error ${re.worst}`);
    assert.deepEqual(r.decoded, { width: 64, height: 48, bytes: 64 * 48 * 4, asRuntime: true });
    assert.equal(r.code, "bad-latent");

    // examples/deno-batch.js: a folder of latents, one of them not a .npy, into PNGs.
    const latents = join(app, "deno", "latents");
    mkdirSync(latents, { recursive: true });
    writeFileSync(join(latents, "a.npy"), readFileSync(join(FIXTURES, "small_64x48_mean.npy")));
    writeFileSync(join(latents, "b.npy"), "not a latent");
    writeFileSync(join(latents, "c.npy"), readFileSync(join(FIXTURES, "small_37x29_mean.npy")));
    const out = join(app, "deno", "images");
    // Copied into the project, as a user would, so that "sdxl-vae" resolves in its node_modules.
    writeFileSync(join(app, "deno", "deno-batch.js"), readFileSync(join(ROOT, "examples", "deno-batch.js")));
    const batch = deno([join("deno", "deno-batch.js"), weights, latents, out]);
    console.log(`examples/deno-batch.js: ${batch.stdout.trim().split("\n").at(-1)}`);
    assert.equal(batch.status, 1, "a failed file fails the run");
    assert.match(batch.stdout, /decoded 2 of 3 files/);
    assert.match(batch.stderr, /error\[bad-latent\]: b\.npy: not a \.npy file/);
    assert.deepEqual(readdirSync(out).sort(), ["a.png", "c.png"]);
    // a.png holds what decode gave: the PNG's unfiltered rows, inflated, against the fixture.
    const png = readFileSync(join(out, "a.png"));
    assert.equal(png.readUInt32BE(16), 64);
    assert.equal(png.readUInt32BE(20), 48);
    const idat = png.subarray(41, 41 + png.readUInt32BE(33));
    const rows = inflateSync(idat);
    const dec = readNpy(join(FIXTURES, "small_64x48_decoded.npy")).data;
    let worst8 = 0;
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 64; x++) {
        for (let c = 0; c < 3; c++) {
          const want = Math.min(1, Math.max(0, (dec[c * 64 * 48 + y * 64 + x] + 1) / 2)) * 255;
          worst8 = Math.max(worst8, Math.abs(rows[y * (1 + 4 * 64) + 1 + 4 * x + c] - want));
        }
      }
    }
    assert.ok(worst8 <= 0.5 + (DECODED_TOL * 255) / 2 + 1e-3, `PNG 8-bit error ${worst8}`);
  });

  test("(f) in Node.js: the wasm loads from bytes, and a load fails with no-webgpu, never a panic", () => {
    // Node has no WebGPU of its own; a binding set as navigator.gpu (e.g. Dawn's `webgpu`
    // package) is not enough either: wgpu reaches navigator.gpu only from a window or a worker.
    writeFileSync(join(app, "node.js"), `import init, { Vae } from "sdxl-vae";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
await init({ module_or_path: readFileSync(fileURLToPath(import.meta.resolve("sdxl-vae/sdxl_vae_bg.wasm"))) });
const weights = new Uint8Array(readFileSync(process.argv[2]));
const codes = [];
const load = () => Vae.load(weights).then(() => codes.push("loaded"), (e) => codes.push([e.code, e.message]));
await load();
Object.defineProperty(globalThis, "navigator", { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
await load();
console.log(JSON.stringify(codes));
`);
    const run = spawnSync(process.execPath, ["node.js", join(weightsDir, "small.safetensors")], { cwd: app, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const [bare, bound] = JSON.parse(run.stdout);
    console.log(`Node ${process.version}: ${bare[0]} (${bare[1]}); with navigator.gpu: ${bound[0]} (${bound[1]})`);
    assert.equal(bare[0], "no-webgpu");
    assert.equal(bound[0], "no-webgpu");
    assert.match(bound[1], /neither a window nor a worker/);
    assert.doesNotMatch(run.stderr, /panicked/);
  });

  test("(c) bundled by esbuild, the wasm's URL imported and passed to init()", async () => {
    const dist = join(app, "esbuild", "dist");
    const wasm = readdirSync(dist).filter((f) => f.endsWith(".wasm"));
    assert.equal(wasm.length, 1, "esbuild emitted no .wasm");
    console.log(`esbuild bundle ${(dirBytes(dist) / 1024).toFixed(0)} KiB (${wasm[0]} included)`);
    await check("esbuild", "/esbuild/dist/index.html");
    assert.ok(srv.requests.some((r) => r.startsWith("/esbuild/dist/") && r.endsWith(".wasm")));
  });
});
