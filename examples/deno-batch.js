// A batch job in Deno with the npm package: decode every `.npy` latent of a folder (float32
// [1, C, h, w] or [C, h, w], as `sdxl-vae encode` writes them) into a PNG of the same name, on
// Deno's own WebGPU. The weights stream from the file; the wasm loads from bytes (Deno's `fetch`
// cannot read files); no ImageData is needed (the module returns a plain object where it has
// none). A file that fails is reported and the others go on; the status is 1 where any did.
//
//   npm install sdxl-vae          # beside a package.json, so that Deno resolves the bare name
//   deno run --allow-read --allow-write deno-batch.js vae.safetensors latents/ images/

import init, { Vae } from "sdxl-vae";

const [weights, inDir, outDir] = Deno.args;
if (!outDir) {
  console.error("usage: deno run --allow-read --allow-write deno-batch.js WEIGHTS LATENT_DIR OUT_DIR");
  Deno.exit(2);
}
await init({ module_or_path: await Deno.readFile(new URL(import.meta.resolve("sdxl-vae/sdxl_vae_bg.wasm"))) });
const vae = await Vae.load((await Deno.open(weights)).readable);
await Deno.mkdir(outDir, { recursive: true });

/** A float32 `.npy` as {width, height, data} (the latent's last two dimensions). */
function readNpy(bytes) {
  const bad = (why) => Object.assign(new Error(why), { code: "bad-latent" });
  if (bytes.length < 10 || new TextDecoder().decode(bytes.subarray(1, 6)) !== "NUMPY") throw bad("not a .npy file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  if (!header.includes("'<f4'")) throw bad("not a float32 .npy");
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const data = new Float32Array(bytes.slice(10 + headerLength).buffer);
  return { height: shape.at(-2), width: shape.at(-1), data };
}

/** RGBA pixels as a PNG (8-bit RGBA, rows unfiltered, deflated by CompressionStream). */
async function png({ width, height, data }) {
  const rows = new Uint8Array(height * (1 + 4 * width));
  for (let y = 0; y < height; y++) rows.set(data.subarray(4 * width * y, 4 * width * (y + 1)), y * (1 + 4 * width) + 1);
  const idat = new Uint8Array(await new Response(new Blob([rows]).stream().pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
    return n >>> 0;
  });
  const chunk = (type, body) => {
    const out = new Uint8Array(12 + body.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, body.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    let crc = ~0;
    for (const b of out.subarray(4, 8 + body.length)) crc = crcTable[(crc ^ b) & 255] ^ (crc >>> 8);
    v.setUint32(8 + body.length, ~crc >>> 0);
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array())];
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

const names = [];
for await (const entry of Deno.readDir(inDir)) if (entry.isFile && entry.name.endsWith(".npy")) names.push(entry.name);
names.sort();
let failed = 0;
const start = performance.now();
for (const name of names) {
  try {
    const latent = readNpy(await Deno.readFile(`${inDir}/${name}`));
    const image = await vae.decode(latent);
    await Deno.writeFile(`${outDir}/${name.replace(/\.npy$/, ".png")}`, await png(image));
    console.log(`${name} → ${image.width}x${image.height}`);
  } catch (e) {
    failed++;
    console.error(`error[${e.code ?? "io"}]: ${name}: ${e.message}`);
  }
}
const seconds = (performance.now() - start) / 1000;
console.log(`decoded ${names.length - failed} of ${names.length} files in ${seconds.toFixed(1)} s`);
vae.free();
Deno.exit(failed ? 1 : 0);
