// Keeps downloaded weights in Cache Storage, keyed by URL, so a reload loads them with no
// network request. A cached Response streams from disk like the network one.

const CACHE = "sdxl-vae-weights-v1";

function available() {
  return typeof caches !== "undefined";
}

/** The cached Response for `url`, or null. */
export async function cached(url) {
  if (!available()) return null;
  const cache = await caches.open(CACHE);
  return (await cache.match(url)) ?? null;
}

/** Stores `response` (consumed) under `url`; rejects on a quota error, with the body
 *  cancelled (a clone's unread body would otherwise buffer the whole download in memory). */
export async function store(url, response) {
  try {
    if (!available()) throw new Error("Cache Storage is unavailable (needs a secure context: https or localhost)");
    const cache = await caches.open(CACHE);
    await cache.put(url, response);
  } catch (e) {
    if (!response.bodyUsed) response.body?.cancel().catch(() => {});
    if (e?.name === "QuotaExceededError") {
      throw new Error(`the browser's storage quota is full (${e.message}); the weights will be downloaded again next time`);
    }
    throw e;
  }
}

/** Bytes the origin may still store (Storage API), or Infinity where the browser does not say. */
export async function spaceLeft() {
  const { quota, usage } = (await navigator.storage?.estimate?.().catch(() => null)) ?? {};
  return quota === undefined ? Infinity : quota - (usage ?? 0);
}

export async function remove(url) {
  if (available()) await (await caches.open(CACHE)).delete(url);
}

/** Total bytes of the cached files (from their Content-Length), and how many there are. */
export async function size() {
  if (!available()) return { bytes: 0, files: 0 };
  const cache = await caches.open(CACHE);
  let bytes = 0;
  const keys = await cache.keys();
  for (const req of keys) {
    const res = await cache.match(req);
    bytes += Number(res?.headers.get("content-length") ?? 0);
  }
  return { bytes, files: keys.length };
}

export async function clearAll() {
  if (available()) await caches.delete(CACHE);
}
