// What the page says about the GPU: the adapter's name and the features in use, and, before an
// image runs, the GPU memory its encode and decode will hold (`vae.estimate`, a dry run).

import { MIB, mib } from "./units.js";

const shown = (b) => `${mib(b, b < 10 * MIB ? 1 : 0)} MiB`;

/** The adapter's name (wgpu's WebGPU backend reports none; the browser's GPUAdapter.info has
 *  one) and what the page uses of it: f16 activations, the adapter's optional features. */
export async function gpuLine(vae) {
  let adapter = null;
  try {
    adapter = await navigator.gpu?.requestAdapter();
  } catch {
    // The engine's name is shown instead.
  }
  const info = adapter?.info;
  const browserName = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ");
  const name = vae.adapterName.trim().startsWith("(") ? browserName || vae.adapterName : vae.adapterName;
  const has = (f) => (adapter?.features.has(f) ? "yes" : "no");
  return `GPU: ${name} · activations ${vae.precision} · convolutions ${vae.convStaging} · `
    + `adapter features: shader-f16 ${has("shader-f16")}, subgroups ${has("subgroups")} (neither needed)`;
}

/** The line that says what an image of `width × height` will hold on the GPU (with `decodeOnly`,
 *  what decoding its latent alone will), and the figures (`{total, activations}` in bytes), or
 *  the reason it cannot run. */
export async function memoryEstimate(vae, width, height, { decodeOnly = false } = {}) {
  try {
    const e = await vae.estimate(width, height);
    const activations = decodeOnly ? e.decodeBytes : Math.max(e.encodeBytes, e.decodeBytes);
    const total = e.weightBytes + activations;
    const bands = e.bands > 1 ? `, in ${e.bands} row bands` : "";
    return { total, activations, text: `GPU memory ≈ ${shown(total)} (weights ${shown(e.weightBytes)} + `
      + `activations ${shown(activations)}${bands})${decodeOnly ? " to decode" : ""}` };
  } catch (e) {
    return { total: null, text: `GPU memory: ${e.code === "too-large" ? "too large" : "not known"} (${e.message})` };
  }
}
