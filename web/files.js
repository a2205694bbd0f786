// File formats of the page: images in (EXIF orientation applied), latents in and out as NumPy
// .npy (float32, NCHW [1, C, h, w]) or safetensors (tensor "latent", as the CLI writes).

import { checkImageSize } from "./image-size.js";
import { failure } from "./failure.js";

/** Decodes an image file to opaque RGBA ImageData as the browser shows it: EXIF orientation
 *  applied, an animation's first frame, 16-bit channels to 8, gray to RGB; transparency is
 *  flattened onto black (what the module encodes is then what the Original view shows). The
 *  size is checked from the header before any pixel is decoded. */
export async function imageFromBlob(blob) {
  await checkImageSize(blob);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch (e) {
    throw failure("bad-image", `${blob.name || "the file"} is not an image this browser can decode (${e.message})`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { alpha: false, willReadFrequently: true });
  if (!ctx) {
    bitmap.close();
    throw failure("bad-image", `this browser cannot make a ${width}×${height} canvas for ${blob.name || "the image"}`);
  }
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height);
}

/** A .npy file of float32 values with the given shape (C order). */
export function npyBytes(data, shape) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64
  // and ended with a newline (format version 1.0).
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - 10 - 1, " ") + "\n";
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** A latent `{channels, width, height, data}`; the model checks the channels against its own. */
function latentFromShape(shape, data, what) {
  // One frame of a video VAE's latent ([1, channels, 1, h, w]: Qwen-Image's) is an image latent.
  const frame = shape.length === 5 && shape[2] === 1 ? [shape[0], shape[1], shape[3], shape[4]] : null;
  const dims = frame ?? (shape.length === 4 ? shape : shape.length === 3 ? [1, ...shape] : null);
  if (!dims || dims[0] !== 1 || !(dims[1] >= 1)) {
    throw failure("bad-latent", `${what}: expected a latent of shape [1, channels, h, w], [channels, h, w] or one frame [1, channels, 1, h, w], got [${shape}]`);
  }
  const [, channels, height, width] = dims;
  if (data.length !== channels * height * width) {
    throw failure("bad-latent", `${what}: shape [${shape}] needs ${channels * height * width} values, the file has ${data.length}`);
  }
  return { channels, width, height, data };
}

/** Parses a little-endian float32 C-order .npy latent. */
export function latentFromNpy(buf, what = "latent .npy") {
  const bytes = new Uint8Array(buf);
  if (bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== "NUMPY") {
    throw failure("bad-latent", `${what} is not a NumPy .npy file`);
  }
  const v1 = bytes[6] === 1;
  const dv = new DataView(buf);
  const hlen = v1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = v1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + hlen));
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    throw failure("bad-latent", `${what} must hold little-endian float32 in C order (header: ${header.trim()})`);
  }
  const m = header.match(/'shape':\s*\(([^)]*)\)/);
  const shape = m ? m[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number) : [];
  const off = start + hlen;
  const data = new Float32Array(buf.slice(off, off + 4 * Math.floor((buf.byteLength - off) / 4)));
  return latentFromShape(shape, data, what);
}

/** Reads tensor "latent" (F32) of a safetensors file. */
export function latentFromSafetensors(buf, what = "latent .safetensors") {
  const dv = new DataView(buf);
  const n = Number(dv.getBigUint64(0, true));
  if (n <= 0 || 8 + n > buf.byteLength) throw failure("bad-latent", `${what} has no valid safetensors header`);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const t = header.latent;
  if (!t || t.dtype !== "F32") throw failure("bad-latent", `${what} needs an F32 tensor named "latent"`);
  const [a, b] = t.data_offsets;
  const data = new Float32Array(buf.slice(8 + n + a, 8 + n + b));
  return latentFromShape(t.shape, data, what);
}

/** Offers `bytes` (Uint8Array or Blob) as a download named `name`. */
export function download(bytes, name, type = "application/octet-stream") {
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes], { type });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
