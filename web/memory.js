// The page's memory line: the budget box, the GPU memory (and, out of core, the host memory and
// the bytes moved) a call will hold, shown before it runs, what the model then held, and a
// running call's progress.

import { failure } from "./failure.js";
import { defaultBudget, memoryEstimate } from "./gpu-info.js";
import { bytesText, parseBytes } from "./units.js";

const $ = (id) => document.getElementById(id);

/** After a load: the URL's `memoryBudget`, else `chosen` (the box's), else one derived from the
 *  adapter (`vae.adapterInfo()`'s) and the device's memory (`defaultBudget`); shown in the box. */
export async function applyBudget(vae, chosen, adapter) {
  if (vae.memoryBudget === undefined) await vae.setMemoryBudget(chosen === undefined ? defaultBudget(adapter) : chosen);
  $("memory-budget").value = bytesText(vae.memoryBudget);
}

/** The box's budget (bytes, or null for none), set on `vae` if one is loaded; rejects with a
 *  `bad-argument` failure where the box holds no size. */
export async function readBudget(vae, log) {
  const text = $("memory-budget").value;
  const bytes = parseBytes(text);
  if (Number.isNaN(bytes)) throw failure("bad-argument", `memory budget: "${text}" is not a size such as 1G or 512M, or none`);
  if (vae) await vae.setMemoryBudget(bytes);
  log(`memory budget ${bytesText(bytes)}`);
  return bytes;
}

/** The most host memory the page lets a call keep out of core: half the device's memory as the
 *  browser reports it (4 GiB where it does not), so that a tab is not killed for its memory. */
export function hostLimit() {
  return (navigator.deviceMemory ?? 4) * 1024 ** 3 / 2;
}

/** Before an image or a latent runs: the memory it will hold (#gpu-estimate, its GPU bytes in
 *  data-estimate; after the run data-actual has what the model held at most). A latent is
 *  decoded alone, as the image 8× its size would be. Throws `too-large` where the call would keep
 *  more than `hostLimit()` in host memory. */
export async function showEstimate(vae, current, image, latent, log) {
  const [width, height] = latent ? [8 * latent.width, 8 * latent.height] : [image.width, image.height];
  const est = await memoryEstimate(vae, width, height, { decodeOnly: !!latent });
  if (!current()) return;
  if (est.host > hostLimit()) {
    const gib = (b) => (b / 1024 ** 3).toFixed(1);
    throw failure("too-large", `${width}×${height} would keep ${gib(est.host)} GiB of activations in host memory `
      + `under this memory budget, more than this page allows (${gib(hostLimit())} GiB, half the device's memory): `
      + "raise the budget or use a smaller image");
  }
  $("gpu-estimate").textContent = est.text;
  $("gpu-estimate").dataset.estimate = est.total ?? "";
  delete $("gpu-estimate").dataset.actual;
  $("call-progress").textContent = "–";
  log(`${latent ? `latent ${latent.width}×${latent.height}` : `${width}×${height}`}: ${est.text}`);
}

/** After a run: what the model held at most (#gpu-estimate's data-actual), beside its estimate. */
export function showHeld(vae) {
  $("gpu-estimate").dataset.actual = vae.weightBytes + vae.peakActivationBytes;
}

/** A call's `onProgress`, shown as "encode 12 / 32 steps". */
export const progressTo = (what) => (done, total) => {
  $("call-progress").textContent = `${what} ${done} / ${total} steps`;
};
