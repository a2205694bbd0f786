// Drawing: latent channels as grayscale panels, the latent's RGB preview, images, the error
// heatmap. Everything works on ImageData / Float32Array and draws into the page's canvases.

/** ComfyUI's SDXL `latent_rgb_factors` (rows: latent channels; columns: R, G, B) and bias, for
 *  the scaled latent (mean × 0.13025); the result is in about [-1, 1]. */
const SDXL_RGB = [
  [0.3651, 0.4232, 0.4341],
  [-0.2533, -0.0042, 0.1068],
  [0.1076, 0.1111, -0.0362],
  [-0.3165, -0.2492, -0.2188],
];
const SDXL_RGB_BIAS = [0.1084, -0.0175, -0.0011];

export function drawImage(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

export function clear(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

/** Channel `c` of `[4, h, w]` data, stretched from its min..max to black..white. */
export function drawChannel(canvas, latent, c) {
  const { width: w, height: h, data } = latent;
  const plane = data.subarray(c * w * h, (c + 1) * w * h);
  let lo = Infinity, hi = -Infinity;
  for (const v of plane) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const img = new ImageData(w, h);
  for (let i = 0; i < plane.length; i++) {
    const g = (plane[i] - lo) * scale;
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  drawImage(canvas, img);
  return [lo, hi];
}

/** A linear 4→3 projection of the latent to colours (a preview, not a decode). */
export function drawLatentRgb(canvas, latent, scalingFactor) {
  const { width: w, height: h, data } = latent;
  const n = w * h;
  const img = new ImageData(w, h);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      let v = SDXL_RGB_BIAS[k];
      for (let c = 0; c < 4; c++) v += SDXL_RGB[c][k] * data[c * n + i] * scalingFactor;
      img.data[4 * i + k] = (v + 1) * 127.5;
    }
    img.data[4 * i + 3] = 255;
  }
  drawImage(canvas, img);
}

/** Colour map from black through red and yellow to white, t in [0, 1]. */
function heat(t) {
  const r = Math.min(1, 3 * t), g = Math.min(1, Math.max(0, 3 * t - 1)), b = Math.max(0, 3 * t - 2);
  return [255 * r, 255 * g, 255 * b];
}

/** Per-pixel mean absolute RGB error between two same-size images; returns the largest. */
export function drawHeatmap(canvas, a, b) {
  const n = a.width * a.height;
  const err = new Float32Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const d = (Math.abs(a.data[4 * i] - b.data[4 * i]) + Math.abs(a.data[4 * i + 1] - b.data[4 * i + 1])
      + Math.abs(a.data[4 * i + 2] - b.data[4 * i + 2])) / 3;
    err[i] = d;
    max = Math.max(max, d);
  }
  const img = new ImageData(a.width, a.height);
  for (let i = 0; i < n; i++) {
    const [r, g, bl] = heat(max > 0 ? err[i] / max : 0);
    img.data.set([r, g, bl, 255], 4 * i);
  }
  drawImage(canvas, img);
  return max;
}

/** The compare view: reconstruction over the original, clipped at `percent` from the left. */
export function setCompare(top, percent) {
  top.style.clipPath = `inset(0 0 0 ${percent}%)`;
}
