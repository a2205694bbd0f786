// What a call made, shown: the latent's channels and its RGB preview, the sizes line, the
// reconstruction with its heat map and metrics. Each takes the page's `state` (its `vae`,
// `original`, `latent`, `recon`) and draws into the page's elements.

import { channelFigures, clear, drawChannel, drawHeatmap, drawImage, drawLatentRgb, unpatchify } from "./views.js";

const $ = (id) => document.getElementById(id);

/** Every channel of `latent`, and its RGB preview in the family's diffusion space (normalised
 *  through the worker where the family's statistics do it, FLUX.2's 2×2 patches put back; none
 *  where its sides are odd). */
export async function showLatent(state, latent) {
  const vae = state.vae;
  const channels = latent.data.length / (latent.width * latent.height);
  channelFigures($("latent-grid"), channels).forEach(([canvas, range], c) => {
    const [lo, hi] = drawChannel(canvas, latent, c);
    range.textContent = `[${lo.toFixed(2)}, ${hi.toFixed(2)}]`;
  });
  $("dl-latent").disabled = false;
  const { patch, normalization } = vae.latentLayout;
  let view = null;
  if (normalization === "statistics") {
    const z = await vae.toDiffusion(latent).catch(() => null);
    if (state.vae !== vae || state.latent !== latent) return;
    if (!z) {
      clear($("latent-rgb"));
      $("rgb-family").textContent = `(${vae.family}: needs even latent sides)`;
      return;
    }
    view = unpatchify(z, patch);
  }
  drawLatentRgb($("latent-rgb"), latent, vae.family, { scale: vae.scalingFactor, shift: vae.shiftFactor, view });
  $("rgb-family").textContent = `(${vae.family})`;
}

export function showSizes(state) {
  const o = state.original, l = state.latent;
  const img = o ? `image ${o.width}×${o.height}` : "image –";
  const lat = l ? `latent ${l.data.length / (l.width * l.height)}×${l.height}×${l.width}` : "latent –";
  const pad = o && (o.width % 8 || o.height % 8) ? " (edges padded to a multiple of 8, output cropped back)" : "";
  $("sizes").textContent = `${img}, ${lat}${pad}`;
}

/** Draws a reconstruction and, beside its original, the error heat map, PSNR and SSIM (measured
 *  in the worker). */
export async function showRecon(state, recon) {
  state.recon = recon;
  drawImage($("reconstruction"), recon);
  drawImage($("cmp-b"), recon);
  $("dl-png").disabled = false;
  const o = state.original;
  if (o && o.width === recon.width && o.height === recon.height) {
    const max = drawHeatmap($("heatmap"), o, recon);
    $("heat-range").textContent = `(0 … ${max.toFixed(0)} / 255)`;
    const m = await state.vae.compare(o, recon);
    if (state.recon !== recon) return; // a newer result is shown
    $("psnr").textContent = `${m.psnr.toFixed(2)} dB`;
    // SSIM's 11×11 window needs an image at least that large.
    $("ssim").textContent = m.ssim === null ? "– (under 11×11)" : m.ssim.toFixed(4);
  }
}
