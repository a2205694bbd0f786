// Promise API for the worker of vae-worker.js, so the main thread never blocks:
//   const vae = new VaeWorker();
//   await vae.load(url, { onProgress });  const latent = await vae.encode(imageData);
//   (onProgress(loaded, total, file) as in Vae.load: file says what the weights file holds)
//   const image = await vae.decode(latent);  vae.terminate();

export class VaeWorker {
  constructor(workerUrl = new URL("./vae-worker.js", import.meta.url)) {
    this.worker = new Worker(workerUrl, { type: "module" });
    this.next = 0;
    this.pending = new Map();
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      if (data.progress) return p.onProgress?.(...data.progress);
      this.pending.delete(data.id);
      if (data.error !== undefined) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
  }

  call(msg, onProgress, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, ...msg }, transfer);
    });
  }

  /** source: URL string | Blob/File | ArrayBuffer | Uint8Array (an ArrayBuffer is transferred);
   *  options: those of `Vae.load`, every one forwarded; resolves to what was loaded
   *  ({adapterName, description, format, family, kind, latentChannels, scalingFactor, ...}). */
  load(source, { onProgress, signal, ...options } = {}) {
    signal?.addEventListener("abort", () => this.worker.postMessage({ op: "abort" }));
    const transfer = source instanceof ArrayBuffer ? [source] : [];
    return this.call({ op: "load", source, options }, onProgress, transfer);
  }

  encode(image) { return this.call({ op: "encode", image }); }
  decode(latent) { return this.call({ op: "decode", latent }); }
  terminate() { this.worker.terminate(); }
}
