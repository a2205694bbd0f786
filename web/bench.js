// `?bench=N[&reps=R]`: median encode/decode times of an N² pattern with the loaded weights,
// logged as the CLI's `sdxl-vae bench` prints them (with the load's time breakdown).

import { loadTimesLine } from "./loading.js";
import { mib } from "./units.js";

/** A smooth test pattern of `size`², as the CLI's benchmark uses. */
function pattern(size) {
  const data = new Uint8ClampedArray(4 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = 4 * (y * size + x);
      data.set([Math.floor((x * 255) / size), Math.floor((y * 255) / size), Math.floor(((x + y) * 127) / size), 255], i);
    }
  }
  return { width: size, height: size, data };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** One warm-up, then `reps` timed runs of each phase; logs the adapter, the rates and the
 *  machine-readable line, which it returns. */
export async function bench(vae, size, reps, adapter, log) {
  log(`bench ${size}×${size}: one warm-up, then ${reps} timed run(s) of each phase`);
  const image = pattern(size);
  await vae.decode(await vae.encode(image));
  const enc = [], dec = [];
  for (let i = 0; i < reps; i++) {
    let t = performance.now();
    const latent = await vae.encode(image);
    enc.push((performance.now() - t) / 1000);
    t = performance.now();
    await vae.decode(latent);
    dec.push((performance.now() - t) / 1000);
  }
  const [fe, fd] = await vae.flops(size, size);
  const [es, ds] = [median(enc), median(dec)];
  const peak = vae.weightBytes + vae.peakActivationBytes;
  log(`adapter ${adapter}; conv staging ${vae.convStaging}; precision ${vae.precision}`);
  log(`load: ${loadTimesLine(vae)}`);
  log(`encode ${size}x${size}: median ${es.toFixed(3)} s over ${reps} reps, ${(fe / es / 1e9).toFixed(1)} GFLOP/s`);
  log(`decode ${size}x${size}: median ${ds.toFixed(3)} s over ${reps} reps, ${(fd / ds / 1e9).toFixed(1)} GFLOP/s`);
  const line = `bench size=${size} encode_s=${es.toFixed(4)} decode_s=${ds.toFixed(4)} `
    + `encode_gflops=${(fe / es / 1e9).toFixed(2)} decode_gflops=${(fd / ds / 1e9).toFixed(2)} peak_gpu_mib=${mib(peak, 0)} precision=${vae.precision}`;
  log(line);
  return line;
}
