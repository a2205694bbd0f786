// The page: picks and streams weights into the module (with cache, progress and cancel), takes
// an image or a latent, runs encode/decode and shows every view. State for tests and people alike
// is in <body data-state>: starting, no-webgpu, idle, loading, loaded, working, done, error.
// The module runs in a VaeWorker (the published worker API), one per loaded model, so that
// loading, converting, encoding, decoding and the image metrics never hold the main thread.

import { VaeWorker } from "./vae-client.js";
import * as cache from "./weights-cache.js";
import { bench } from "./bench.js";
import { failure } from "./failure.js";
import { download, imageFromBlob, latentFromNpy, latentFromSafetensors, npyBytes } from "./files.js";
import { finishCaching, formatLine, loadTimesLine, openUrl, optionsFromUrl, progressText } from "./loading.js";
import { MIB, mib } from "./units.js";
import { FastPreview } from "./preview.js";
import { gpuLine } from "./gpu-info.js";
import { applyBudget, progressTo, readBudget, showEstimate, showHeld } from "./memory.js";
import { channelFigures, clear, dragToSlide, drawImage, setCompare } from "./views.js";
import { showLatent, showRecon, showSizes } from "./results.js";

const $ = (id) => document.getElementById(id);
const state = { vae: null, adapter: null, abort: null, source: null, original: null, latent: null, recon: null, runs: 0 };

function setState(s) { document.body.dataset.state = s; }

function log(msg) {
  const line = `${new Date().toLocaleTimeString()}  ${msg}\n`;
  $("log").append(line); // a text node more, not the whole log rewritten
  console.log(msg);
}

/** `code`: the error's (docs/errors.md), shown to tests as #error[data-code]. */
function showError(message, { reload = false, code = "" } = {}) {
  $("error-text").textContent = message;
  $("error-reload").hidden = !reload;
  $("error").hidden = false;
  $("error").dataset.code = code;
  log(code ? `error[${code}]: ${message}` : `error: ${message}`);
  setState("error");
}

function hideError() { $("error").hidden = true; }

const ms = (t) => `${t.toFixed(0)} ms`;

/** Where the weights come from: the picker's URL or the custom one. */
function chosenUrl() {
  const v = $("weights-choice").value;
  return v === "custom" ? $("weights-url").value.trim() : v;
}

/** `file`: what the header or pickle said, once it has arrived. */
function progress(loaded, total, t0, file) {
  $("progress").max = total || 1;
  $("progress").value = total ? loaded : 0;
  $("progress-text").textContent = progressText(loaded, total, (performance.now() - t0) / 1000, file);
}

/** After a cache write (`error` as `finishCaching` returns it). */
function cached(error) {
  if (error === undefined) return;
  if (error) $("cache-note").textContent = `(not cached: ${error})`;
  refreshCacheSize();
}

const preview = new FastPreview({ log, status: (text) => { $("preview-status").textContent = text; }, cached });

/** Loads weights into a new worker (the time includes its start); the model before, if any, ends
 *  with its worker first, so that its GPU memory is free for the next. */
async function loadWeights(what) {
  if (state.abort) state.abort.abort();
  hideError();
  const abort = new AbortController();
  state.abort = abort;
  state.vae?.terminate();
  state.vae = null;
  setState("loading");
  $("cancel").disabled = false;
  const url = typeof what === "string" ? what : null;
  const t0 = performance.now();
  const vae = new VaeWorker();
  let opened = { source: what, cachePut: null };
  let ok = false;
  let file = null;
  try {
    if (url) opened = await openUrl(url, abort.signal, log);
    const family = $("weights-choice").selectedOptions[0]?.dataset.family;
    await vae.load(opened.source, {
      // The picker entry's family, unless the URL names one.
      family: url && family ? family : undefined,
      ...optionsFromUrl(await vae.userOptions()),
      signal: abort.signal,
      onProgress: (loaded, total, f) => progress(loaded, total, t0, (file = f ?? file)),
    });
    ok = true;
    if (state.abort !== abort) {
      vae.terminate(); // a newer load replaced this one as it ended
      return;
    }
    state.vae = vae;
    state.adapter = await vae.adapterInfo().catch(() => null);
    await applyBudget(vae, state.budget, state.adapter);
    const dt = performance.now() - t0;
    $("t-load").textContent = ms(dt);
    $("adapter").textContent = $("adapter").title = gpuLine(state.vae, state.adapter);
    log(`loaded ${url ?? what.name ?? "weights"} in ${ms(dt)}: ${state.vae.description}`);
    log(`family ${state.vae.family} (${state.vae.familySource}): ${state.vae.latentChannels} latent channels, ` +
      `scaling factor ${state.vae.scalingFactor}, shift factor ${state.vae.shiftFactor}`);
    log(formatLine(state.vae, file));
    log(`load: ${loadTimesLine(state.vae)}`);
    log(`the model's worker holds ${mib(vae.wasmMemoryBytes)} MiB of wasm memory`);
    state.source = what;
    setState("loaded");
    preview.sync(state.vae);
    if (state.original) await run();
  } catch (e) {
    vae.terminate();
    if (state.abort !== abort) return; // replaced by a newer load, which reports for itself
    showFailure(abort.signal.aborted ? failure("aborted", "loading the weights was aborted") : e);
    $("progress-text").textContent = "no weights loaded";
    abort.abort(); // stops the cache writer's half of the download too
  } finally {
    // Only the newest load owns the Cancel button: an older one ending (aborted by a newer
    // load) must not disable it under the newer one.
    if (state.abort === abort) {
      state.abort = null;
      $("cancel").disabled = true;
    }
    if (url) finishCaching(url, opened.cachePut, ok, log).then(cached);
  }
}

/** The budget box changed: the next calls use it, and an image already taken is estimated again. */
async function setBudget() {
  try {
    state.budget = await readBudget(state.vae, log);
    if (state.vae && state.original) showEstimate(state.vae, () => true, state.original, null, log).catch(showFailure);
  } catch (e) {
    showFailure(e);
  }
}

/** With the fast preview on, the tiny model's reconstruction, shown at once; returns its time,
 *  or null without one. Its errors are shown and the full VAE runs regardless. */
async function runPreview(current) {
  try {
    const p = await preview.reconstruct(state.original);
    if (!p || !current()) return null;
    drawImage($("reconstruction"), p.recon);
    drawImage($("cmp-b"), p.recon);
    $("recon-label").textContent = `(fast preview: ${p.family}, ${ms(p.ms)}; full VAE running…)`;
    log(`fast preview (${p.family}) shown in ${ms(p.ms)}`);
    return p.ms;
  } catch (e) {
    const msg = e.message ?? String(e);
    preview.failed(msg);
    $("recon-label").textContent = "(fast preview failed; full VAE running…)";
    log(`fast preview failed: ${msg}`);
    return null;
  }
}

/** Encodes the current image and decodes its latent (after the fast preview's, if on). A newer
 *  run (another image or latent taken, other weights) supersedes this one: `id` is the number
 *  of the image's take, or a new one. */
async function run(id = ++state.runs) {
  if (!state.vae || !state.original) return;
  const current = () => id === state.runs;
  hideError();
  setState("working");
  try {
    await showEstimate(state.vae, current, state.original, null, log);
    if (!current()) return;
    const previewMs = await runPreview(current);
    if (!current()) return;
    const t0 = performance.now();
    state.latent = await state.vae.encode(state.original, { onProgress: progressTo("encode") });
    $("t-encode").textContent = ms(performance.now() - t0);
    if (!current()) return;
    await showLatent(state, state.latent);
    if (!current()) return;
    showSizes(state);
    const t = performance.now();
    const recon = await state.vae.decode(state.latent, { onProgress: progressTo("decode") });
    $("t-decode").textContent = ms(performance.now() - t);
    if (!current()) return;
    await showRecon(state, recon);
    showHeld(state.vae);
    $("recon-label").textContent = previewMs === null ? ""
      : `(full VAE, ${ms(performance.now() - t0)}; the fast preview took ${ms(previewMs)})`;
    log(`encoded and decoded ${state.original.width}×${state.original.height}`);
    setState("done");
  } catch (e) {
    if (current()) showFailure(e);
  }
}

/** The engine's errors and the page's own carry a stable `code`; a lost device, or a worker that
 *  failed (a panic), offers a reload. */
function showFailure(e) {
  const reload = e.code === "device-lost" || !!state.vae?.broken;
  showError(e.message ?? String(e), { reload, code: e.code ?? "internal" });
}

/** Every image or latent taken supersedes those before it, decoded or still decoding: the last
 *  one dropped wins and no older result is shown after it. */
async function takeImage(blob) {
  const id = ++state.runs;
  hideError();
  if (state.vae) setState("working");
  try {
    const image = await imageFromBlob(blob);
    if (id !== state.runs) return;
    state.original = image;
    state.latent = null;
    $("recon-label").textContent = "";
    for (const id of ["reconstruction", "heatmap", "cmp-b", "latent-rgb"]) clear($(id));
    for (const c of document.querySelectorAll("#latent-grid canvas")) clear(c);
    drawImage($("original"), image);
    drawImage($("cmp-a"), image);
    showSizes(state);
    log(`image ${blob.name || "(pasted)"}: ${image.width}×${image.height}`);
    if (state.vae) await run(id);
    else if (!state.abort) setState("idle"); // weights still loading run it when loaded
  } catch (e) {
    if (id === state.runs) showFailure(e);
  }
}

/** Decodes a dropped latent file alone. */
async function takeLatent(file) {
  const id = ++state.runs;
  const current = () => id === state.runs;
  hideError();
  setState("working");
  try {
    const buf = await file.arrayBuffer();
    if (!current()) return;
    let latent = file.name.endsWith(".npy") ? latentFromNpy(buf, file.name) : latentFromSafetensors(buf, file.name);
    if (!state.vae) throw failure("not-loaded", "load weights before decoding a latent");
    const layout = state.vae.latentLayout;
    if (latent.channels !== layout.channels && latent.channels === layout.diffusionChannels) {
      // A diffusion model's latent (FLUX.2's 2×2 patches): back to what the decoder takes.
      latent = await state.vae.fromDiffusion(latent);
      if (!current()) return;
      log(`${file.name}: a ${layout.diffusionChannels}-channel latent in diffusion space, unscaled first`);
    }
    state.original = null;
    state.latent = latent;
    $("recon-label").textContent = "";
    for (const id of ["original", "cmp-a", "heatmap"]) clear($(id));
    await showLatent(state, latent);
    if (!current()) return;
    showSizes(state);
    await showEstimate(state.vae, current, null, latent, log);
    if (!current()) return;
    const t = performance.now();
    const recon = await state.vae.decode(latent, { onProgress: progressTo("decode") });
    if (!current()) return;
    await showRecon(state, recon);
    $("t-decode").textContent = ms(performance.now() - t);
    showHeld(state.vae);
    log(`decoded latent ${file.name}: ${latent.channels}×${latent.height}×${latent.width}`);
    setState("done");
  } catch (e) {
    if (current()) showFailure(e);
  }
}

function takeFile(file) {
  if (/\.(ckpt|pt|pth)$/i.test(file.name)) return loadWeights(file);
  if (/\.(npy|safetensors)$/i.test(file.name)) {
    // A large .safetensors is weights, a small one a latent.
    if (file.name.endsWith(".safetensors") && file.size > 8 * MIB) return loadWeights(file);
    return takeLatent(file);
  }
  return takeImage(file);
}

async function refreshCacheSize() {
  const { bytes, files } = await cache.size().catch(() => ({ bytes: 0, files: 0 }));
  $("cache-size").textContent = files ? `${mib(bytes)} MiB in ${files} file(s)` : "empty";
}

function wire() {
  // The URL box is always there (showing it would move the controls): choosing "Custom URL…"
  // goes to it, typing in it chooses it.
  $("weights-choice").addEventListener("change", () => { if ($("weights-choice").value === "custom") $("weights-url").focus(); });
  $("weights-url").addEventListener("input", () => { $("weights-choice").value = "custom"; });
  $("load").addEventListener("click", () => {
    const url = chosenUrl();
    if (url) loadWeights(new URL(url, location.href).href);
    else showError("enter the URL of a .safetensors or .ckpt file");
  });
  $("weights-file").addEventListener("change", (e) => e.target.files[0] && loadWeights(e.target.files[0]));
  $("cancel").addEventListener("click", () => state.abort?.abort());
  $("preview-on").addEventListener("change", (e) => preview.setEnabled(e.target.checked, state.vae));
  $("memory-budget").addEventListener("change", setBudget);
  $("cache-clear").addEventListener("click", async () => { await cache.clearAll(); refreshCacheSize(); log("cache cleared"); });
  $("image-file").addEventListener("change", (e) => e.target.files[0] && takeFile(e.target.files[0]));
  $("error-close").addEventListener("click", hideError);
  $("error-reload").addEventListener("click", () => state.source && loadWeights(state.source));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) takeFile(f);
  });
  document.addEventListener("paste", (e) => {
    const f = [...e.clipboardData.files][0];
    if (f) takeFile(f);
  });
  $("compare-slider").addEventListener("input", (e) => {
    setCompare($("cmp-b"), e.target.value);
    e.target.setAttribute("aria-valuetext", `${e.target.value} % original`);
  });
  dragToSlide($("compare"), $("compare-slider"));
  $("dl-latent").addEventListener("click", async () => {
    const scaled = $("dl-scaled").checked;
    try {
      // The latent a diffusion model sees (vae.latentLayout): (mean − shift) × scale, or FLUX.2's
      // normalised 2×2 patches.
      const l = scaled ? await state.vae.toDiffusion(state.latent) : state.latent;
      const channels = l.data.length / (l.width * l.height);
      download(npyBytes(l.data, [1, channels, l.height, l.width]), scaled ? "latent_scaled.npy" : "latent.npy");
    } catch (e) {
      showFailure(e);
    }
  });
  $("dl-png").addEventListener("click", () => $("reconstruction").toBlob((b) => download(b, "reconstruction.png")));
}

/** `?bench=N[&reps=R]`: the CLI's benchmark line in the log and in <body data-bench>. */
async function runBench(size, reps) {
  if (!(size > 0 && size % 8 === 0 && reps > 0)) {
    showError(`?bench needs a positive multiple of 8 and ?reps a positive count (got ${size} and ${reps})`);
    return;
  }
  setState("working");
  try {
    document.body.dataset.bench = await bench(state.vae, size, reps, gpuLine(state.vae, state.adapter).slice(5), log);
    setState("loaded");
  } catch (e) {
    showError(`bench: ${e.message ?? e}`);
  }
}

async function main() {
  wire();
  setCompare($("cmp-b"), 50);
  channelFigures($("latent-grid"), 4); // room for a 4-channel latent before one arrives
  refreshCacheSize();
  if (!navigator.gpu) {
    showError("This browser has no WebGPU. It works in Chrome/Edge 113+ (Windows, macOS, ChromeOS, Android), "
      + "Chrome on Linux with chrome://flags/#enable-unsafe-webgpu (or --enable-unsafe-webgpu), "
      + "Safari 26, and Firefox 141+ on Windows.", { code: "no-webgpu" });
    setState("no-webgpu");
    return;
  }
  setState("idle");
  const params = new URLSearchParams(location.search);
  if (preview.fromParam(params.get("preview"))) {
    $("preview-on").checked = true;
    preview.setEnabled(true, null);
  }
  const fromQuery = params.get("weights");
  if (fromQuery) {
    $("weights-choice").value = "custom";
    $("weights-url").value = fromQuery;
    await loadWeights(new URL(fromQuery, location.href).href);
  }
  const benchSize = params.get("bench");
  if (benchSize !== null && state.vae) await runBench(Number(benchSize), Number(params.get("reps") ?? 3));
}

window.addEventListener("unhandledrejection", (e) => showFailure(e.reason ?? {}));
main().catch((e) => showError(`starting failed: ${e.message ?? e}`));
