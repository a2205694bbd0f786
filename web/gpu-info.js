// What the page says about the GPU: the adapter's name and the features in use, and, before an
// image runs, the GPU memory its encode and decode will hold (`vae.estimate`, a dry run). The
// adapter is described by the model's worker: the page's main thread never touches WebGPU, whose
// first use there can block it for most of a second (Chromium sets up its GPU channel).

import { MIB, mib } from "./units.js";

const shown = (b) => `${mib(b, b < 10 * MIB ? 1 : 0)} MiB`;

/** The adapter's name (wgpu's WebGPU backend reports none; the browser's GPUAdapterInfo, as
 *  `vae.adapterInfo()` gives it, has one) and what the page uses of it: f16 activations, the
 *  adapter's optional features. `adapter` is null where the worker could not describe it. */
export function gpuLine(vae, adapter) {
  const browserName = [adapter?.vendor, adapter?.architecture, adapter?.description].filter(Boolean).join(" ");
  const name = vae.adapterName.trim().startsWith("(") ? browserName || vae.adapterName : vae.adapterName;
  const has = (f) => (adapter?.features.includes(f) ? "yes" : "no");
  const activations = vae.f16Activations ? "f16" : "f32";
  return `GPU: ${name} · activations ${activations}, convolution inputs ${vae.precision} · `
    + `convolutions ${vae.convStaging} · `
    + `adapter features: shader-f16 ${has("shader-f16")}, subgroups ${has("subgroups")} (neither needed)`;
}

/** The page's memory budget where the URL sets none: a quarter of the device's memory as the
 *  browser reports it (`navigator.deviceMemory`, 4 GiB where it does not), at least 1 GiB and at
 *  most 4 GiB, and no more than 4 of the adapter's largest buffers (an adapter that grants small
 *  buffers is a modest one; 1 GiB where `adapter` is null). WebGPU tells no memory size; this is
 *  what a tab can expect. */
export function defaultBudget(adapter) {
  const gib = 1024 ** 3;
  const device = (navigator.deviceMemory ?? 4) * gib / 4;
  const buffers = 4 * (adapter?.limits.maxBufferSize ?? gib);
  return Math.max(gib, Math.min(4 * gib, device, buffers));
}

/** The line that says what an image of `width × height` will hold on the GPU (with `decodeOnly`,
 *  what decoding its latent alone will), and the figures (`{total, activations}` in bytes), or
 *  the reason it cannot run. */
export async function memoryEstimate(vae, width, height, { decodeOnly = false } = {}) {
  try {
    const e = await vae.estimate(width, height);
    const activations = decodeOnly ? e.decodeBytes : Math.max(e.encodeBytes, e.decodeBytes);
    const host = decodeOnly ? e.decodeHostBytes : Math.max(e.encodeHostBytes, e.decodeHostBytes);
    const moved = decodeOnly ? e.decodeMovedBytes : e.encodeMovedBytes + e.decodeMovedBytes;
    const total = e.weightBytes + activations;
    const bands = e.bands > 1 ? `, in ${e.bands} row bands` : "";
    // Out of core, what waits in host memory and what moves, within the budget.
    const outOfCore = moved > 0 || host > 0
      ? `; out of core within the ${shown(e.memoryBudget)} budget: ${shown(host)} in host memory, ${shown(moved)} moved`
      : "";
    return { total, activations, host, moved, text: `GPU memory ≈ ${shown(total)} (weights ${shown(e.weightBytes)} + `
      + `activations ${shown(activations)}${bands})${decodeOnly ? " to decode" : ""}${outOfCore}` };
  } catch (e) {
    return { total: null, text: `GPU memory: ${e.code === "too-large" ? "too large" : "not known"} (${e.message})` };
  }
}
