// Byte counts as the page shows them: in MiB (2^20 bytes), sizes, rates and GPU memory alike, so
// that they add up. (The load's time line mirrors the CLI's `load:` line in MB, 10^6 bytes.)

export const MIB = 2 ** 20;

/** `bytes` in MiB, as text with `digits` decimals. */
export const mib = (bytes, digits = 1) => (bytes / MIB).toFixed(digits);

/** A byte count as people write it — `1G`, `512M`, `64K` (powers of 1024) or plain bytes — or
 *  null for none (`""`, `none`); NaN where it is neither. */
export function parseBytes(text) {
  const t = String(text).trim().toLowerCase();
  if (t === "" || t === "none") return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/.exec(t);
  if (!m) return NaN;
  return Math.round(Number(m[1]) * 1024 ** " kmg".indexOf(m[2] || " "));
}

/** `bytes` as `parseBytes` reads it back: `2G`, `768M`, or `none` for null. */
export function bytesText(bytes) {
  if (bytes === null || bytes === undefined) return "none";
  for (const [unit, size] of [["G", 1024 ** 3], ["M", MIB], ["K", 1024]]) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
