// The fast preview: a tiny autoencoder (TAESD and kin) loaded beside the full VAE, which
// reconstructs an image first, in a fraction of the time, while the full VAE runs. Its weights
// are `?preview=URL` (or `?preview=ENCODER,DECODER` for a model published as two halves), or else
// the tiny model of the full VAE's family: as the weights picker lists it, or as its halves
// (TAEF2's `.pth` files). Exactly one tiny model is held at a time: it is freed when replaced or
// turned off, and a load that ends after either is freed at once; it runs in a VaeWorker of its
// own (one a half where it comes in two), which ends with it. <body data-preview> says where it
// stands: off, waiting (for the full VAE), loading, ready, none (nothing to preview with), error.

import { VaeWorker } from "./vae-client.js";
import { finishCaching, openUrl } from "./loading.js";
import { mib } from "./units.js";

/** The tiny autoencoder of each full VAE family (the picker's `data-family` of its weights). */
export const TINY = {
  sdxl: "taesdxl", sd1: "taesd", sd3: "taesd3", flux: "taef1", flux2: "taef2", "qwen-image": "taew2.1",
};

/** Tiny models published as an encoder file and a decoder file (madebyollin/taesd, MIT), which
 *  the weights picker cannot list. */
const HALVES = {
  taef2: ["https://huggingface.co/madebyollin/taesd/resolve/main/taef2_encoder.pth",
    "https://huggingface.co/madebyollin/taesd/resolve/main/taef2_decoder.pth"],
};

/** `?preview=` values that turn the preview on with the family's tiny model. */
const DEFAULT = new Set(["", "1", "on", "true", "yes"]);

export class FastPreview {
  /** `log(line)` for the page's log, `status(text)` for the line beside the checkbox,
   *  `cached(error)` after the tiny model's cache write (as `finishCaching` returns). */
  constructor({ log, status, cached }) {
    Object.assign(this, { log, status, cached });
    this.enabled = false;
    this.override = null; // weights named by ?preview=URL, whatever the family
    this.vae = null; // the loaded tiny model: { encoder, decoder } workers (one worker for both, or two halves)
    this.url = null; // what `vae` (or the load under way) comes from: its URLs joined by a comma
    this.abort = null; // the load under way
    this.show("off", "");
  }

  /** `?preview=` (null when absent): on, with its URL unless the value only says "on". */
  fromParam(value) {
    if (value === null) return false;
    const v = value.trim();
    this.override = DEFAULT.has(v.toLowerCase()) ? null
      : v.split(",").map((u) => new URL(u.trim(), location.href).href);
    return true;
  }

  show(mode, text) {
    document.body.dataset.preview = mode;
    this.status(text);
  }

  /** The tiny model's weights for the full VAE `full` (`urls`: one file, or an encoder's and a
   *  decoder's) and the family to load them as (left to the files for ?preview=URL), or the
   *  reason there is none. */
  target(full) {
    if (full.kind === "tae" || full.kind === "taehv") return { none: "not needed: the loaded model is itself a tiny autoencoder" };
    if (this.override) return { urls: this.override };
    const family = TINY[full.family];
    if (HALVES[family]) return { urls: HALVES[family], family };
    const option = family && document.querySelector(`#weights-choice option[data-family="${family}"]`);
    return option ? { urls: [option.value], family } : { none: `no tiny autoencoder known for family ${full.family}` };
  }

  /** Turns the preview on or off; `full` is the loaded full VAE, or null while there is none. */
  setEnabled(on, full) {
    this.enabled = on;
    if (!on) {
      this.release();
      this.show("off", "");
    } else if (full) {
      this.sync(full);
    } else if (!this.vae && !this.abort) {
      this.show("waiting", "loads with the weights");
    }
  }

  /** Frees the tiny model (ending its worker) and stops a load under way. */
  release() {
    this.abort?.abort();
    this.abort = null;
    for (const w of new Set([this.vae?.encoder, this.vae?.decoder])) w?.terminate();
    this.vae = null;
    this.url = null;
  }

  /** Loads the tiny model that previews `full`, keeping the one held if it is the same. Never
   *  rejects: its errors are shown beside the checkbox and in the log. */
  async sync(full) {
    if (!this.enabled) return;
    const t = this.target(full);
    if (t.none) {
      this.release();
      this.show("none", t.none);
      return;
    }
    const key = t.urls.join(",");
    if (this.url === key && (this.vae || this.abort)) return;
    this.release();
    const abort = new AbortController();
    this.abort = abort;
    this.url = key;
    const mine = () => this.abort === abort; // not replaced, released or turned off since
    const what = t.family ?? "the tiny model";
    this.show("loading", `loading ${t.family ?? t.urls.join(" + ")}…`);
    const t0 = performance.now();
    const log = (m) => this.log(`fast preview: ${m}`);
    const workers = [];
    const caching = [];
    let ok = false;
    try {
      for (const url of t.urls) {
        const opened = await openUrl(url, abort.signal, log);
        caching.push([url, opened.cachePut]);
        workers.push(await VaeWorker.load(opened.source, {
          family: t.family,
          signal: abort.signal,
          onProgress: (loaded) => mine() && this.status(`loading ${what}… ${mib(loaded)} MiB`),
        }));
      }
      ok = true;
      if (!mine()) {
        workers.forEach((w) => w.terminate());
        return;
      }
      this.vae = { encoder: workers[0], decoder: workers.at(-1) };
      this.abort = null;
      const ms = (performance.now() - t0).toFixed(0);
      const family = workers[0].family;
      this.show("ready", `${family} ready (${ms} ms)`);
      log(`${family} loaded in ${ms} ms: ${workers.map((w) => w.description).join("; ")}`);
    } catch (e) {
      workers.forEach((w) => w.terminate());
      abort.abort(); // stops the cache writer's half of the download too
      if (!mine()) return;
      this.abort = null;
      this.url = null;
      const msg = e.message ?? String(e);
      this.show("error", `failed: ${msg}`);
      log(`loading failed: ${msg}`);
    } finally {
      for (const [url, cachePut] of caching) {
        if (cachePut) finishCaching(url, cachePut, ok, log).then(this.cached);
      }
    }
  }

  /** The tiny model's reconstruction of `image` (encode, then decode) and its time in ms, or
   *  null without a tiny model or when it was freed meanwhile; rejects with the model's error. */
  async reconstruct(image) {
    const vae = this.vae;
    if (!vae) return null;
    const family = vae.decoder.family;
    const t0 = performance.now();
    try {
      const recon = await vae.decoder.decode(await vae.encoder.encode(image));
      return { recon, family, ms: performance.now() - t0 };
    } catch (e) {
      if (this.vae !== vae) return null;
      throw e;
    }
  }

  /** Notes a failed preview beside the checkbox; the tiny model stays loaded. */
  failed(msg) {
    this.status(`failed on this image: ${msg}`);
  }
}
