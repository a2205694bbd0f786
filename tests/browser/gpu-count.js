// Run in the page before the module loads (page.addInitScript): counts the GPU buffers and
// textures made and not destroyed, and their bytes, by wrapping GPUDevice's create and the
// objects' destroy; and keeps every GPUDevice asked for (window.devices), so that a test can
// destroy one. Objects are held weakly: one that JS garbage collection took is counted apart
// (its memory was freed by the collector, not by destroy()).
//
// window.gpuLive() → {undestroyed, undestroyedPerCall, alive, perCall: each {count, bytes};
// unknownFormats}: `undestroyed` counts every object made and not destroyed, `alive` those of
// them still reachable; the `perCall` ones are those a call makes for itself (buffers made
// with their contents: uniforms and uploads; readback buffers); `undestroyedKinds` names the
// others not destroyed (label, usage, size) with their counts.

export function installGpuCounters() {
  // Bytes per texel of the formats the engine may use; any other is listed, not guessed.
  const TEXEL = { rgba32float: 16, rgba32uint: 16, rgba32sint: 16, rgba16float: 8, rgba16uint: 8,
    rg32float: 8, r32float: 4, r32uint: 4, rgba8unorm: 4, r16float: 2 };
  const made = new Map(); // id → {ref, bytes, perCall}
  const ids = new WeakMap(); // object → id
  let next = 0;
  const unknownFormats = [];
  const track = (object, bytes, perCall, what) => {
    made.set(next, { ref: new WeakRef(object), bytes, perCall, what });
    ids.set(object, next++);
  };
  window.devices = [];
  const request = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await request.apply(this, args);
    window.devices.push(device);
    return device;
  };
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (desc) {
    const buffer = createBuffer.call(this, desc);
    track(buffer, Number(desc.size), !!desc.mappedAtCreation || (desc.usage & GPUBufferUsage.MAP_READ) !== 0,
      `buffer "${desc.label ?? ""}" usage ${desc.usage} ${desc.size} B`);
    return buffer;
  };
  const createTexture = GPUDevice.prototype.createTexture;
  GPUDevice.prototype.createTexture = function (desc) {
    const texture = createTexture.call(this, desc);
    const s = desc.size;
    const [w, h, d] = Array.isArray(s) || s[Symbol.iterator] ? [...s] : [s.width, s.height, s.depthOrArrayLayers];
    if (!(desc.format in TEXEL)) unknownFormats.push(desc.format);
    if ((desc.mipLevelCount ?? 1) !== 1) unknownFormats.push(`${desc.format} with mip levels`);
    track(texture, w * (h ?? 1) * (d ?? 1) * (TEXEL[desc.format] ?? 0), false,
      `texture "${desc.label ?? ""}" ${desc.format} ${w}×${h ?? 1}×${d ?? 1}`);
    return texture;
  };
  for (const proto of [GPUBuffer.prototype, GPUTexture.prototype]) {
    const destroy = proto.destroy;
    proto.destroy = function () {
      made.delete(ids.get(this));
      return destroy.call(this);
    };
  }
  window.gpuLive = () => {
    const n = () => ({ count: 0, bytes: 0 });
    const out = { undestroyed: n(), undestroyedPerCall: n(), alive: n(), perCall: n(), unknownFormats: [...unknownFormats],
      undestroyedKinds: {} };
    const add = (k, bytes) => { out[k].count++; out[k].bytes += bytes; };
    for (const { ref, bytes, perCall, what } of made.values()) {
      add("undestroyed", bytes);
      if (perCall) add("undestroyedPerCall", bytes);
      else out.undestroyedKinds[what] = (out.undestroyedKinds[what] ?? 0) + 1;
      if (ref.deref() === undefined) continue;
      add("alive", bytes);
      if (perCall) add("perCall", bytes);
    }
    return out;
  };
}
