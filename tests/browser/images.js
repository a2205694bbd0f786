// Test files made in the test: PNGs of every colour type and depth, an animated GIF, a JPEG
// with an EXIF orientation, decompression bombs, and latents as .npy and safetensors. Written
// by hand (zlib only) so that each file is exactly what its test says it is.

import { deflateSync } from "node:zlib";

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width, height, colorType, depth) {
  const h = Buffer.alloc(13);
  h.writeUInt32BE(width, 0);
  h.writeUInt32BE(height, 4);
  h.set([depth, colorType, 0, 0, 0], 8);
  return chunk("IHDR", h);
}

/** A PNG: `colorType` 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA; `depth` 8 or 16; `sample(x, y)`
 *  gives the pixel's samples (0–255 for depth 8, 0–65535 for 16). */
export function png(width, height, { colorType = 2, depth = 8, sample }) {
  const n = CHANNELS[colorType], bytes = depth / 8;
  const stride = 1 + width * n * bytes;
  const raw = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      sample(x, y).forEach((v, c) => {
        const at = y * stride + 1 + (x * n + c) * bytes;
        if (depth === 16) raw.writeUInt16BE(v, at);
        else raw[at] = v;
      });
    }
  }
  return Buffer.concat([SIGNATURE, ihdr(width, height, colorType, depth),
    chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/** A PNG that declares `width × height` but holds one deflated row: only its header is real. */
export function pngHeaderOnly(width, height) {
  return Buffer.concat([SIGNATURE, ihdr(width, height, 2, 8),
    chunk("IDAT", deflateSync(Buffer.alloc(1 + 3 * Math.min(width, 1024)))), chunk("IEND", Buffer.alloc(0))]);
}

/** A valid gray PNG of `width × height` zeros: a few hundred KB that decode to `width·height`
 *  bytes (a decompression bomb of modest size). */
export function pngZeros(width, height) {
  const row = Buffer.alloc(1 + width);
  const z = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)), { level: 9 });
  return Buffer.concat([SIGNATURE, ihdr(width, height, 0, 8), chunk("IDAT", z), chunk("IEND", Buffer.alloc(0))]);
}

/** An animated GIF: a 4-colour palette, frames of palette indices (`frame(x, y)`), 100 ms each,
 *  looping. The LZW stream uses 8-bit codes with a clear code every 126 (never compressed). */
export function gif(width, height, palette, frames) {
  const parts = [Buffer.from("GIF89a", "latin1")];
  const lsd = Buffer.alloc(7);
  lsd.writeUInt16LE(width, 0);
  lsd.writeUInt16LE(height, 2);
  lsd.set([0x91, 0, 0], 4); // global table of 4 colours
  parts.push(lsd, Buffer.from(palette.flat()));
  parts.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from("NETSCAPE2.0", "latin1"), 0x03, 0x01, 0, 0, 0]));
  for (const frame of frames) {
    parts.push(Buffer.from([0x21, 0xf9, 0x04, 0x00, 10, 0, 0, 0]));
    const desc = Buffer.alloc(10);
    desc[0] = 0x2c;
    desc.writeUInt16LE(width, 5);
    desc.writeUInt16LE(height, 7);
    parts.push(desc, Buffer.from([7]));
    const codes = [];
    for (let i = 0; i < width * height; i++) {
      if (i % 126 === 0) codes.push(128); // clear: the codes stay 8 bits wide
      codes.push(frame(i % width, Math.floor(i / width)));
    }
    codes.push(129); // end of information
    for (let i = 0; i < codes.length; i += 255) {
      const block = codes.slice(i, i + 255);
      parts.push(Buffer.from([block.length, ...block]));
    }
    parts.push(Buffer.from([0]));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

/** `jpeg` with an EXIF APP1 segment holding only an Orientation tag, after its JFIF APP0. */
export function withExifOrientation(jpeg, orientation) {
  const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
    0, orientation, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const app1 = Buffer.alloc(4);
  app1.set([0xff, 0xe1]);
  app1.writeUInt16BE(body.length + 2, 2);
  let at = 2;
  if (jpeg[2] === 0xff && jpeg[3] === 0xe0) at = 4 + jpeg.readUInt16BE(4);
  return Buffer.concat([jpeg.subarray(0, at), app1, body, jpeg.subarray(at)]);
}

/** A float32 .npy file of `shape` (format 1.0). */
export function npy(data, shape) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const head = Buffer.alloc(10);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(total - 10, 8);
  return Buffer.concat([head, Buffer.from(dict.padEnd(total - 11, " ") + "\n", "latin1"),
    Buffer.from(Float32Array.from(data).buffer)]);
}

/** A safetensors file with the F32 tensor "latent" of `shape` (as the CLI writes a latent). */
export function latentSafetensors(data, shape) {
  const body = Buffer.from(Float32Array.from(data).buffer);
  const json = Buffer.from(JSON.stringify({ latent: { dtype: "F32", shape, data_offsets: [0, body.length] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, body]);
}
