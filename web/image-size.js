// An image file's size read from its header, before any pixel is decoded: a small file may
// declare 60000×60000 pixels (a decompression bomb), which would take gigabytes to decode and a
// canvas no browser can make. PNG, JPEG, GIF, WebP and BMP are read here; any other format the
// browser knows is sized by an <img>, which browsers decode only when it is drawn.

import { failure } from "./failure.js";

/** The largest side accepted, as the CLI's (src/bin/sdxl-vae/imageio.rs). */
export const MAX_SIDE = 16384;
/** The most pixels accepted: 64 Mpx is 256 MiB as RGBA in a canvas and as much again copied
 *  into the module's memory (4 GiB at most in wasm32). A browser whose canvases are smaller
 *  (Safari's hold 16.7 Mpx) is caught when the canvas is made. */
export const MAX_PIXELS = 8192 * 8192;

/** Bytes read from the start of the file: JPEG metadata (EXIF, ICC profiles) may put the frame
 *  header this far in. */
const HEAD_BYTES = 1 << 20;

const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u24le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

/** JPEG: the first start-of-frame marker's size, walking the segments. */
function jpegSize(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) { i++; continue; } // fill byte
    // SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { width: u16be(b, i + 7), height: u16be(b, i + 5) };
    }
    i += 2 + u16be(b, i + 2);
  }
  return null;
}

function webpSize(b) {
  const chunk = ascii(b, 12, 4);
  if (chunk === "VP8 ") return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === "VP8L") {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
  }
  if (chunk === "VP8X") return { width: 1 + u24le(b, 24), height: 1 + u24le(b, 27) };
  return null;
}

/** `{width, height}` from the header of a known format, or null. */
export function headerSize(b) {
  if (b.length >= 24 && u32be(b, 0) === 0x89504e47 && ascii(b, 12, 4) === "IHDR") {
    return { width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (b.length >= 10 && /^GIF8[79]a$/.test(ascii(b, 0, 6))) return { width: u16le(b, 6), height: u16le(b, 8) };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegSize(b);
  if (b.length >= 30 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return webpSize(b);
  if (b.length >= 26 && ascii(b, 0, 2) === "BM") {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { width: Math.abs(dv.getInt32(18, true)), height: Math.abs(dv.getInt32(22, true)) };
  }
  return null;
}

/** An <img>'s natural size: the header is read, the pixels are not decoded. */
async function imgSize(blob) {
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("undecodable"));
      img.src = url;
    });
    return { width: img.naturalWidth, height: img.naturalHeight };
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Throws a one-line error unless the image in `blob` is small enough to decode and draw. */
export async function checkImageSize(blob) {
  const head = new Uint8Array(await blob.slice(0, HEAD_BYTES).arrayBuffer());
  // In a worker there is no <img>; the decoder's own failure is reported then.
  const size = headerSize(head) ?? (typeof Image === "undefined" ? null : await imgSize(blob).catch(() => null));
  if (!size) return;
  const { width, height } = size;
  const what = `${blob.name || "the image"} is ${width}×${height}`;
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw failure("bad-image", `${what}; the largest side accepted is ${MAX_SIDE} pixels`);
  }
  if (width * height > MAX_PIXELS) {
    throw failure("bad-image", `${what} (${(width * height / 1e6).toFixed(0)} Mpx); the most accepted is ${(MAX_PIXELS / 1e6).toFixed(0)} Mpx`);
  }
  if (width === 0 || height === 0) throw failure("bad-image", `${what}: empty`);
}
