// The module inside a Web Worker (start it with `new Worker(url, { type: "module" })`, or use
// VaeWorker from vae-client.js). Messages in: {id, op: "load" | "encode" | "decode" | "abort",
// ...}; out: {id, progress: [loaded, total, file]} while loading (file: onProgress's third
// argument, what the weights file holds, once its header or pickle has arrived), then
// {id, result} or {id, error}.
// A latent's data is transferred, not copied.

import init, { Vae } from "../sdxl_vae.js";

let vae = null;
let abort = null;
const ready = init();

async function handle(msg) {
  await ready;
  switch (msg.op) {
    case "load": {
      abort = new AbortController();
      vae?.free();
      vae = null;
      vae = await Vae.load(msg.source, {
        ...msg.options,
        signal: abort.signal,
        onProgress: (loaded, total, file) => postMessage({ id: msg.id, progress: [loaded, total, file] }),
      });
      return [{
        adapterName: vae.adapterName,
        scalingFactor: vae.scalingFactor,
        description: vae.description,
        precision: vae.precision,
        format: vae.format,
        ignoredBytes: vae.ignoredBytes,
        family: vae.family,
        kind: vae.kind,
        latentChannels: vae.latentChannels,
        shiftFactor: vae.shiftFactor,
      }];
    }
    case "encode": {
      const latent = await need().encode(msg.image);
      return [latent, [latent.data.buffer]];
    }
    case "decode": {
      // ImageData's buffer cannot be transferred; it is cloned.
      return [await need().decode(msg.latent)];
    }
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

function need() {
  if (!vae) throw new Error("no weights loaded");
  return vae;
}

self.onmessage = async ({ data: msg }) => {
  if (msg.op === "abort") {
    abort?.abort();
    return;
  }
  try {
    const [result, transfer = []] = await handle(msg);
    postMessage({ id: msg.id, result }, transfer);
  } catch (e) {
    postMessage({ id: msg.id, error: e?.message ?? String(e) });
  }
};
