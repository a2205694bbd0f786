// `Vae` in a Web Worker, so the page's main thread never blocks: the same calls, options and
// read-only properties, as promises (types: vae-client.d.ts).
//   const vae = await VaeWorker.load(url, { onProgress, signal, precision: "f16" });
//   const latent = await vae.encode(imageData);  const image = await vae.decode(latent);
//   vae.free();  // or vae.terminate() to end the worker too
// Options go to the worker as given (every `Vae.load` option, so the two cannot drift), but for
// `onProgress` and `signal`, which stay here. Every rejection is an Error with a `code`, as the
// module's are. Results' arrays are transferred from the worker, not copied; inputs are copied,
// except an ArrayBuffer or ReadableStream weights source (or a Response's body), which is handed
// over: transferred where the browser transfers streams, else (Safari) read here and sent on in
// chunks as the worker asks for them.

import { failure } from "./failure.js";

let streamsTransfer;

/** Whether this browser can transfer a ReadableStream to a worker (Safari cannot). */
function canTransferStreams() {
  if (streamsTransfer === undefined) {
    const { port1, port2 } = new MessageChannel();
    try {
      const s = new ReadableStream();
      port1.postMessage(s, [s]);
      streamsTransfer = true;
    } catch {
      streamsTransfer = false;
    }
    port1.close();
    port2.close();
  }
  return streamsTransfer;
}

/** `stream` as the worker's end of a MessageChannel: each "pull" from it is answered with the
 *  next chunk (its buffer transferred), `{done}` or `{error}`; "cancel" cancels the stream.
 *  Read only as fast as the worker reads, so nothing piles up in either thread. */
function streamPort(stream) {
  const { port1, port2 } = new MessageChannel();
  const reader = stream.getReader();
  port1.onmessage = async ({ data }) => {
    if (data === "cancel") {
      port1.close();
      return reader.cancel().catch(() => {});
    }
    try {
      const { done, value } = await reader.read();
      if (done) {
        port1.postMessage({ done: true });
        return port1.close();
      }
      const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const chunk = whole ? bytes.buffer : bytes.slice().buffer;
      port1.postMessage({ chunk }, [chunk]);
    } catch (e) {
      port1.postMessage({ error: e?.message ?? String(e) });
      port1.close();
    }
  };
  return port2;
}

export class VaeWorker {
  /** Starts the worker: by default vae-worker.js beside this file (written as a literal
   *  `new Worker(new URL(…), …)` so that bundlers such as Vite bundle the worker too). */
  constructor(workerUrl) {
    this.worker = workerUrl === undefined
      ? new Worker(new URL("./vae-worker.js", import.meta.url), { type: "module" })
      : new Worker(workerUrl, { type: "module" });
    this.next = 0;
    this.pending = new Map();
    this.props = null;
    this.broken = null;
    this.worker.onmessage = ({ data }) => this.#receive(data);
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.#breakWith(failure("internal", `the worker failed: ${e.message || "its script did not load"}`));
    };
  }

  /** Starts a worker and loads `source` into it; resolves to the VaeWorker. */
  static async load(source, options, workerUrl) {
    const vae = new VaeWorker(workerUrl);
    try {
      await vae.load(source, options);
      return vae;
    } catch (e) {
      vae.terminate();
      throw e;
    }
  }

  #receive(data) {
    if (data.panic !== undefined) {
      return this.#breakWith(failure("internal", `the module panicked: ${data.panic}; start a new VaeWorker`));
    }
    const p = this.pending.get(data.id);
    if (!p) return;
    if (data.progress) return p.onProgress?.(...data.progress);
    this.pending.delete(data.id);
    if ("props" in data) this.#setProps(data.props);
    if (data.error !== undefined) {
      const e = failure(data.error.code, data.error.message);
      if (data.error.neededBytes !== undefined) e.neededBytes = data.error.neededBytes;
      p.reject(e);
    }
    else p.resolve(data.result?.imageData ? new ImageData(data.result.data, data.result.width, data.result.height) : data.result);
  }

  /** The loaded model's read-only properties, as own getters (none before a load). */
  #setProps(props) {
    this.props = props;
    for (const name of Object.keys(props ?? {})) {
      if (!Object.hasOwn(this, name)) {
        Object.defineProperty(this, name, { get: () => this.props?.[name], enumerable: true });
      }
    }
  }

  /** Rejects every pending call, and the later ones, with `error`. */
  #breakWith(error) {
    this.broken = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  #post(msg, { onProgress, transfer = [] } = {}) {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      try {
        this.worker.postMessage({ id, ...msg }, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(failure("bad-argument", `cannot send this to the worker: ${e.message}`));
      }
    });
  }

  /** Loads weights (as `Vae.load`: a URL, Response, Blob/File, ReadableStream, ArrayBuffer or
   *  typed array) in place of any model loaded before; resolves to the model's properties. */
  load(source, { onProgress, signal, ...options } = {}) {
    if (signal?.aborted) return Promise.reject(failure("aborted", "loading the weights was aborted"));
    let sent = source;
    const transfer = [];
    /** A stream handed over: itself where streams transfer, else a port that reads it. */
    const handOver = (stream) => {
      const sent = canTransferStreams() ? stream : { port: streamPort(stream) };
      transfer.push(sent.port ?? sent);
      return sent;
    };
    if (typeof source === "string") {
      // Relative to the page (or the calling worker), not to the worker's script.
      sent = new URL(source, globalThis.document?.baseURI ?? location.href).href;
    } else if (source instanceof Response) {
      sent = { response: { body: source.body && handOver(source.body), status: source.status,
        statusText: source.statusText, headers: [...source.headers] } };
    } else if (source instanceof ReadableStream) {
      sent = handOver(source);
    } else if (source instanceof ArrayBuffer) {
      transfer.push(source);
    }
    const id = this.next;
    const done = this.#post({ op: "load", source: sent, options }, { onProgress, transfer });
    if (signal) {
      const abort = () => this.worker.postMessage({ op: "abort", target: id });
      signal.addEventListener("abort", abort, { once: true });
      done.finally(() => signal.removeEventListener("abort", abort)).catch(() => {});
    }
    return done;
  }

  /** Calls `method` in the worker; a call's `signal` and `onProgress` stay here: an abort is
   *  sent on, and progress comes back. */
  #call(method, args, { signal, onProgress } = {}) {
    if (signal?.aborted) return Promise.reject(failure("aborted", `${method} was aborted`));
    const id = this.next;
    const control = signal !== undefined || onProgress !== undefined;
    const done = this.#post({ op: "call", method, args, control }, { onProgress });
    if (signal) {
      const abort = () => this.worker.postMessage({ op: "abort", target: id });
      signal.addEventListener("abort", abort, { once: true });
      done.finally(() => signal.removeEventListener("abort", abort)).catch(() => {});
    }
    return done;
  }

  encode(image, options) { return this.#call("encode", [image], options); }
  encodeSample(image, seed, options) { return this.#call("encodeSample", [image, seed], options); }
  decode(latent, options) { return this.#call("decode", [latent], options); }
  decodeRaw(latent, options) { return this.#call("decodeRaw", [latent], options); }
  toDiffusion(latent) { return this.#call("toDiffusion", [latent]); }
  fromDiffusion(latent) { return this.#call("fromDiffusion", [latent]); }
  flops(width, height) { return this.#call("flops", [width, height]); }
  estimate(width, height) { return this.#call("estimate", [width, height]); }

  /** PSNR (dB) and SSIM of two same-size RGBA images (ImageData or ImageLike), computed in the
   *  worker: `{ psnr, ssim }`, `ssim` null where a side is under SSIM's 11-pixel window. Needs
   *  no model. */
  compare(a, b) {
    return this.#post({ op: "compare", a, b });
  }

  /** The worker's default GPU adapter as the browser describes it: `{ vendor, architecture,
   *  device, description, features, limits }` (`features` the names, `limits` every limit); needs
   *  no model. Rejects with `no-webgpu` or `adapter-failed`. */
  adapterInfo() {
    return this.#post({ op: "adapterInfo" });
  }

  /** The options `Vae.load` takes (the module's `userOptions()`), asked of the worker; needs no
   *  model. */
  userOptions() {
    return this.#post({ op: "userOptions" });
  }

  /** Sets the model's memory budget in bytes (`null`: none), for the calls after it. */
  setMemoryBudget(bytes) {
    return this.#post({ op: "set", name: "memoryBudget", value: bytes });
  }

  /** Frees the model's GPU memory (and stops a load in flight); the worker stays for another
   *  load. Later calls reject with `not-loaded`. */
  free() {
    return this.#post({ op: "free" });
  }

  /** Ends the worker at once; its GPU memory goes with it. Pending calls reject. */
  terminate() {
    this.worker.terminate();
    this.#breakWith(failure("not-loaded", "the worker was terminated"));
  }
}
