// Byte counts as the page shows them: in MiB (2^20 bytes), sizes, rates and GPU memory alike, so
// that they add up. (The load's time line mirrors the CLI's `load:` line in MB, 10^6 bytes.)

export const MIB = 2 ** 20;

/** `bytes` in MiB, as text with `digits` decimals. */
export const mib = (bytes, digits = 1) => (bytes / MIB).toFixed(digits);
