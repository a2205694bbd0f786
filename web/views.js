// Drawing: latent channels as grayscale panels, the latent's RGB preview, images, the error
// heatmap. Everything works on ImageData / Float32Array and draws into the page's canvases.

/** Each family's linear latent → RGB preview, as ComfyUI's latent formats publish it
 *  (`latent_rgb_factors`: rows latent channels, columns R, G, B; and the bias), for the latent a
 *  diffusion model sees, `(mean − shift) × scale`; the result is in about [-1, 1]. A tiny
 *  autoencoder's latents are its big twin's. */
const RGB = {
  sd1: {
    factors: [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721],
      [-0.2120, -0.2616, -0.7177]],
    bias: [0, 0, 0],
  },
  sdxl: {
    factors: [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
      [-0.3165, -0.2492, -0.2188]],
    bias: [0.1084, -0.0175, -0.0011],
  },
  sd3: {
    factors: [[-0.0922, -0.0175, 0.0749], [0.0311, 0.0633, 0.0954], [0.1994, 0.0927, 0.0458],
      [0.0856, 0.0339, 0.0902], [0.0587, 0.0272, -0.0496], [-0.0006, 0.1104, 0.0309],
      [0.0978, 0.0306, 0.0427], [-0.0042, 0.1038, 0.1358], [-0.0194, 0.0020, 0.0669],
      [-0.0488, 0.0130, -0.0268], [0.0922, 0.0988, 0.0951], [-0.0278, 0.0524, -0.0542],
      [0.0332, 0.0456, 0.0895], [-0.0069, -0.0030, -0.0810], [-0.0596, -0.0465, -0.0293],
      [-0.1448, -0.1463, -0.1189]],
    bias: [0.2394, 0.2135, 0.1925],
  },
  flux: {
    factors: [[-0.0346, 0.0244, 0.0681], [0.0034, 0.0210, 0.0687], [0.0275, -0.0668, -0.0433],
      [-0.0174, 0.0160, 0.0617], [0.0859, 0.0721, 0.0329], [0.0004, 0.0383, 0.0115],
      [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259], [-0.0245, 0.0250, 0.1180],
      [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011], [0.0428, -0.0012, -0.0036],
      [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103], [-0.0280, -0.0881, -0.0499],
      [-0.1262, -0.0982, -0.0778]],
    bias: [-0.0329, -0.0718, -0.0851],
  },
};
RGB.flux2 = {
  // For the normalised latent with its 2×2 patches put back (32 channels at the latent's size).
  factors: [[0.0058, 0.0113, 0.0073], [0.0495, 0.0443, 0.0836], [-0.0099, 0.0096, 0.0644],
    [0.2144, 0.3009, 0.3652], [0.0166, -0.0039, -0.0054], [0.0157, 0.0103, -0.0160],
    [-0.0398, 0.0902, -0.0235], [-0.0052, 0.0095, 0.0109], [-0.3527, -0.2712, -0.1666],
    [-0.0301, -0.0356, -0.0180], [-0.0107, 0.0078, 0.0013], [0.0746, 0.0090, -0.0941],
    [0.0156, 0.0169, 0.0070], [-0.0034, -0.0040, -0.0114], [0.0032, 0.0181, 0.0080],
    [-0.0939, -0.0008, 0.0186], [0.0018, 0.0043, 0.0104], [0.0284, 0.0056, -0.0127],
    [-0.0024, -0.0022, -0.0030], [0.1207, -0.0026, 0.0065], [0.0128, 0.0101, 0.0142],
    [0.0137, -0.0072, -0.0007], [0.0095, 0.0092, -0.0059], [0.0000, -0.0077, -0.0049],
    [-0.0465, -0.0204, -0.0312], [0.0095, 0.0012, -0.0066], [0.0290, -0.0034, 0.0025],
    [0.0220, 0.0169, -0.0048], [-0.0332, -0.0457, -0.0468], [-0.0085, 0.0389, 0.0609],
    [-0.0076, 0.0003, -0.0043], [-0.0111, -0.0460, -0.0614]],
  bias: [-0.0329, -0.0718, -0.0851],
};
// Wan 2.1's (ComfyUI's `Wan21`), for Qwen-Image's normalised latent.
RGB["qwen-image"] = {
  factors: [[-0.1299, -0.1692, 0.2932], [0.0671, 0.0406, 0.0442], [0.3568, 0.2548, 0.1747],
    [0.0372, 0.2344, 0.1420], [0.0313, 0.0189, -0.0328], [0.0296, -0.0956, -0.0665],
    [-0.3477, -0.4059, -0.2925], [0.0166, 0.1902, 0.1975], [-0.0412, 0.0267, -0.1364],
    [-0.1293, 0.0740, 0.1636], [0.0680, 0.3019, 0.1128], [0.0032, 0.0581, 0.0639],
    [-0.1251, 0.0927, 0.1699], [0.0060, -0.0633, 0.0005], [0.3477, 0.2275, 0.2950],
    [0.1984, 0.0913, 0.1861]],
  bias: [-0.1835, -0.0868, -0.3360],
};
const TWIN = { taesd: "sd1", taesdxl: "sdxl", taesd3: "sd3", taef1: "flux", taef2: "flux2", "taew2.1": "qwen-image" };

/** A diffusion-space latent cut into `patch`² patches (`[C·p², h/p, w/p]`, channel
 *  `p²c + p·i + j` holding value `(p·y + i, p·x + j)` of channel c) with its patches put back. */
export function unpatchify(z, patch) {
  if (patch === 1) return z;
  const { width: w, height: h, data } = z;
  const [ow, oh, channels] = [w * patch, h * patch, data.length / (w * h * patch * patch)];
  const out = new Float32Array(data.length);
  for (let k = 0; k < channels * patch * patch; k++) {
    const [c, i, j] = [Math.floor(k / (patch * patch)), Math.floor(k / patch) % patch, k % patch];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[(c * oh + patch * y + i) * ow + patch * x + j] = data[(k * h + y) * w + x];
    }
  }
  return { width: ow, height: oh, data: out };
}

/** The preview factors a family uses (its twin's for a tiny autoencoder). */
export function rgbFactorsOf(family) {
  return RGB[TWIN[family] ?? family] ?? RGB.sdxl;
}

export function drawImage(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

export function clear(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

/** Channel `c` of `[C, h, w]` data, stretched from its min..max to black..white. */
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

/** A linear channels→RGB projection of the latent with the family's factors (a preview, not a
 *  decode): `latent` unscaled, as `encode` gives it, and `view` the same in diffusion space
 *  with any patches put back (null where the factors `scale` and `shift` make it). */
export function drawLatentRgb(canvas, latent, family, { scale, shift, view }) {
  const { width: w, height: h } = latent;
  const data = view ? view.data : latent.data;
  if (view) [scale, shift] = [1, 0];
  const { factors, bias } = rgbFactorsOf(family);
  const n = w * h, channels = Math.min(factors.length, data.length / n);
  const img = new ImageData(w, h);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      let v = bias[k];
      for (let c = 0; c < channels; c++) v += factors[c][k] * (data[c * n + i] - shift) * scale;
      img.data[4 * i + k] = (v + 1) * 127.5;
    }
    img.data[4 * i + 3] = 255;
  }
  drawImage(canvas, img);
}

/** One figure per latent channel in `grid` (before its RGB preview), made or removed to match
 *  `channels`; returns the channel canvases and range labels. */
export function channelFigures(grid, channels) {
  const figs = [...grid.querySelectorAll("figure.channel")];
  for (const f of figs.slice(channels)) f.remove();
  for (let c = figs.length; c < channels; c++) {
    const fig = document.createElement("figure");
    fig.className = "channel";
    fig.innerHTML = `<figcaption>ch ${c} <span class="mono range" id="r${c}"></span></figcaption>` +
      `<canvas id="ch${c}" class="pixel"></canvas>`;
    grid.insertBefore(fig, grid.querySelector("figure:not(.channel)"));
  }
  grid.classList.toggle("many", channels > 4);
  return [...grid.querySelectorAll("figure.channel")].map((f) => [f.querySelector("canvas"), f.querySelector(".range")]);
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

/** A press or a drag on `area` moves `slider` (0–100) to the pointer, as moving the slider
 *  itself would (its `input` event). */
export function dragToSlide(area, slider) {
  const go = (e) => {
    const r = area.getBoundingClientRect();
    const v = String(Math.round(Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)) * 100));
    if (v === slider.value) return;
    slider.value = v;
    slider.dispatchEvent(new Event("input", { bubbles: true }));
  };
  area.addEventListener("pointerdown", (e) => {
    area.setPointerCapture(e.pointerId);
    go(e);
  });
  area.addEventListener("pointermove", (e) => { if (area.hasPointerCapture(e.pointerId)) go(e); });
}
