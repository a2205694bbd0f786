// Where the page's weights come from and what it says about them: a URL opened through Cache
// Storage (written while the module reads it), the progress line, and the summary of what a file
// held beside the VAE (a full model's UNet and text encoders are read past, never kept).

import * as cache from "./weights-cache.js";
import { failure } from "./failure.js";
import { MIB, mib } from "./units.js";


/** The weights as a streamable source: a cached Response, or a network Response that is
 *  written to the cache while the module reads it. */
export async function openUrl(url, signal, log) {
  const hit = await cache.cached(url).catch(() => null);
  if (hit) {
    log(`weights from the cache: ${url}`);
    return { source: hit, cachePut: null };
  }
  log(`fetching ${url}`);
  const res = await fetch(url, { signal });
  if (!res.ok) throw failure("fetch-failed", `fetching the weights failed: HTTP ${res.status} ${res.statusText} for ${url}`);
  const bytes = Number(res.headers.get("content-length") ?? 0);
  const left = await cache.spaceLeft();
  if (bytes > left) {
    // Not even tried: the write would fail once the whole file had been copied.
    const why = `the weights (${mib(bytes)} MiB) exceed the storage quota left (${mib(Math.max(0, left))} MiB)`;
    const cachePut = Promise.reject(new Error(why));
    cachePut.catch(() => {}); // Reported after the load, by finishCaching.
    return { source: res, cachePut };
  }
  const cachePut = cache.store(url, res.clone());
  cachePut.catch(() => {}); // Reported after the load; unhandled until then.
  return { source: res, cachePut };
}

/** Waits for the cache write of a load: kept if the load succeeded, removed otherwise.
 *  Returns undefined when nothing was written, else the error message or null. */
export async function finishCaching(url, cachePut, ok, log) {
  if (!cachePut) return undefined;
  try {
    await cachePut;
    if (ok) log("weights stored in the cache for the next visit");
    else await cache.remove(url);
    return null;
  } catch (e) {
    log(`weights not cached: ${e.message}`);
    return e.message;
  }
}

const tensors = (n) => `${n} tensor${n === 1 ? "" : "s"}`;

/** The progress line: bytes read (of the total where the source tells it), the rate, and once
 *  the header or pickle has arrived (`file`, onProgress's third argument) what is read past. */
export function progressText(loaded, total, secs, file) {
  const rate = secs > 0 ? loaded / MIB / secs : 0;
  const pct = total ? ` (${((100 * loaded) / total).toFixed(1)} %)` : "";
  const past = file?.ignoredTensors > 0
    ? ` · reading past ${tensors(file.ignoredTensors)} (${mib(file.ignoredBytes)} MiB) outside the VAE` : "";
  return `${mib(loaded)}${total ? ` / ${mib(total)}` : ""} MiB${pct} · ${rate.toFixed(1)} MiB/s${past}`;
}

/** The log line after a load: the file's format and what it held outside the VAE. */
export function formatLine(vae, file) {
  const n = file?.ignoredTensors ?? 0;
  const bytes = vae.ignoredBytes;
  const past = n > 0 ? `; ${tensors(n)} (${mib(bytes)} MiB) outside the VAE read past, not kept`
    : bytes > 0 ? `; ${mib(bytes)} MiB outside the VAE read past, not kept` : "";
  return `format ${vae.format}${past}`;
}

/** The user options `Vae.load` takes (`table`, as `userOptions()` gives it), from URL parameters
 *  of the same names (e.g. `?precision=f16&limits=webgpu-default&maxBufferBytes=64M&scalingFactor=0.18215`):
 *  numbers as numbers, the rest as text; the module checks them. */
export function optionsFromUrl(table) {
  const params = new URLSearchParams(location.search);
  const options = {};
  for (const { name, kind } of table) {
    const v = params.get(name);
    if (v !== null) options[name] = (kind === "number" || kind === "real") && v.trim() !== "" ? Number(v) : v;
  }
  return options;
}

/** Where the load's time went (`vae.loadTimes`), as the CLI's `bench` prints it after "load: ". */
export function loadTimesLine(vae) {
  const t = vae.loadTimes;
  const s = (ms) => (ms / 1000).toFixed(2);
  return `${(t.bytes / 1e6).toFixed(1)} MB in ${s(t.totalMs)} s (${t.mbPerS.toFixed(0)} MB/s): `
    + `waiting for bytes ${s(t.waitMs)} s, converting ${s(t.convertMs)} s, uploading ${s(t.uploadMs)} s, `
    + `pipelines ${s(t.pipelinesMs)} s`;
}
