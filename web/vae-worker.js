// The module inside a Web Worker, for VaeWorker (vae-client.js), which is the API; this file is
// its other half. Messages in: {id, op, ...}: "load" {source, options}, "abort" {target} (a load
// or a call), "free", "call" {method, args, control} (with `control`, the call gets a signal and
// reports progress), "set" {name, value} (the memory budget). Out: {id, progress: [loaded, total,
// file]} while loading, {id, progress: [done, total]} during a controlled call, then
// {id, result, props} or {id, error: {message, code}}; {panic} if the module panicked. Without a
// model: "compare" {a, b} (PSNR and SSIM), "adapterInfo" and "userOptions". `props` is every getter of the
// loaded Vae (read from its prototype, so none is forgotten) and the worker's wasm memory
// (`wasmMemoryBytes`), sent after each call since some change (activationBytes, precision).
// Results' arrays are transferred, not copied. A stream the caller could not transfer arrives as
// `{port}` (vae-client.js's `streamPort`) and is read through it.

import init, { Vae, onPanic, psnr, ssim, userOptions } from "../sdxl_vae.js";
import { failure } from "./failure.js";

let vae = null;
let memory = null;
const loads = new Map(); // load id → its AbortController
const calls = new Map(); // controlled call id → its AbortController
const ready = init().then((wasm) => {
  memory = wasm.memory;
  onPanic((message) => postMessage({ panic: message }));
});

const GETTERS = Object.entries(Object.getOwnPropertyDescriptors(Vae.prototype))
  .filter(([, d]) => d.get).map(([name]) => name);

function props() {
  if (!vae) return null;
  return { ...Object.fromEntries(GETTERS.map((name) => [name, vae[name]])), wasmMemoryBytes: memory.buffer.byteLength };
}

/** The stream read through `port` (each read asks the caller for the next chunk). */
function portStream(port) {
  return new ReadableStream({
    pull: (controller) => new Promise((resolve) => {
      port.onmessage = ({ data }) => {
        if (data.chunk) controller.enqueue(new Uint8Array(data.chunk));
        else if (data.done) controller.close();
        else controller.error(failure("fetch-failed", `reading the weights failed: ${data.error}`));
        if (!data.chunk) port.close();
        resolve();
      };
      port.postMessage("pull");
    }),
    cancel: () => {
      port.postMessage("cancel");
      port.close();
    },
  });
}

/** The caller's source as Vae.load takes it (a Response was sent as its parts, a stream it
 *  could not transfer as a port). */
function source(s) {
  const stream = (b) => (b?.port ? portStream(b.port) : b);
  if (s?.response) {
    const { body, status, statusText, headers } = s.response;
    return new Response(stream(body), { status, statusText, headers });
  }
  return stream(s);
}

/** `[result, transfer]` of one call on the loaded model. */
async function call(method, args) {
  if (!vae) throw failure("not-loaded", `${method}: no model is loaded (load one first; free() unloads it)`);
  if (typeof Vae.prototype[method] !== "function" || method === "free" || method === "constructor") {
    throw failure("bad-argument", `${method} is not a method of Vae`);
  }
  const out = await vae[method](...args);
  if (out instanceof ImageData) {
    // ImageData itself is copied by postMessage; its pixels' buffer can be transferred.
    return [{ imageData: true, width: out.width, height: out.height, data: out.data }, [out.data.buffer]];
  }
  return [out, out?.data?.buffer instanceof ArrayBuffer ? [out.data.buffer] : []];
}

async function handle(msg) {
  await ready;
  switch (msg.op) {
    case "load": {
      // One model per worker: a new load supersedes any still running.
      for (const other of loads.values()) other.abort();
      const abort = new AbortController();
      loads.set(msg.id, abort);
      try {
        const next = await Vae.load(source(msg.source), {
          ...msg.options,
          signal: abort.signal,
          onProgress: (loaded, total, file) => postMessage({ id: msg.id, progress: [loaded, total, file] }),
        });
        // The loaded model replaces the last; one freed or superseded meanwhile is dropped.
        if (abort.signal.aborted) {
          next.free();
          throw failure("aborted", "loading the weights was aborted");
        }
        vae?.free();
        vae = next;
        return [props()];
      } finally {
        loads.delete(msg.id);
      }
    }
    case "free":
      for (const abort of loads.values()) abort.abort();
      vae?.free();
      vae = null;
      return [null];
    case "call": {
      if (!msg.control) return call(msg.method, msg.args);
      const abort = new AbortController();
      calls.set(msg.id, abort);
      const onProgress = (done, total) => postMessage({ id: msg.id, progress: [done, total] });
      try {
        return await call(msg.method, [...msg.args, { signal: abort.signal, onProgress }]);
      } finally {
        calls.delete(msg.id);
      }
    }
    case "compare": {
      const small = (i) => Math.min(i.width, i.height) < 11;
      return [{ psnr: psnr(msg.a, msg.b), ssim: small(msg.a) || small(msg.b) ? null : ssim(msg.a, msg.b) }];
    }
    case "adapterInfo": {
      if (!navigator.gpu) throw failure("no-webgpu", "this worker has no WebGPU (navigator.gpu is missing)");
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw failure("adapter-failed", "navigator.gpu.requestAdapter() found no adapter");
      const { vendor, architecture, device, description } = adapter.info ?? {};
      const limits = {};
      for (const name in adapter.limits) limits[name] = adapter.limits[name];
      return [{ vendor, architecture, device, description, features: [...adapter.features], limits }];
    }
    case "userOptions":
      return [userOptions()];
    case "set":
      if (!vae) throw failure("not-loaded", `${msg.name}: no model is loaded`);
      if (msg.name !== "memoryBudget") throw failure("bad-argument", `${msg.name} cannot be set`);
      vae.memoryBudget = msg.value ?? undefined;
      return [null];
    default:
      throw failure("bad-argument", `unknown worker message ${msg.op}`);
  }
}

self.onmessage = async ({ data: msg }) => {
  if (msg.op === "abort") {
    loads.get(msg.target)?.abort();
    calls.get(msg.target)?.abort();
    return;
  }
  try {
    const [result, transfer = []] = await handle(msg);
    postMessage({ id: msg.id, result, props: props() }, transfer);
  } catch (e) {
    postMessage({ id: msg.id, error: { message: e?.message ?? String(e), code: e?.code ?? "internal",
      neededBytes: e?.neededBytes }, props: props() });
  }
};
