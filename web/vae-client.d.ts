// Types of vae-client.js (`import { VaeWorker } from "sdxl-vae/worker"`): `Vae`'s calls, run in
// a Web Worker. Options, inputs, results and properties are the module's own (sdxl_vae.d.ts), so
// the two cannot drift.
import type { CallOptions, ErrorCode, ImageLike, Latent, LoadOptions, MemoryEstimate, RawImage, UserOption, Vae, VaeError, WeightsSource } from "../sdxl_vae.js";

export type { ErrorCode, VaeError };

/** `Vae`'s read-only properties (every member that is not a method). */
export type VaeProperties = {
    readonly [K in keyof Vae as Vae[K] extends (...args: any[]) => any ? never : K]: Vae[K];
};

/** What a load resolves to (the name of earlier versions). */
export type LoadedVae = VaeProperties;

/** `Vae.load`'s options: every one is sent to the worker but `onProgress` and `signal`, which
 *  stay on this side. */
export type WorkerLoadOptions = LoadOptions;

/** After a load, the model's properties as on `Vae` (refreshed after every call); before a
 *  load or after `free()`, undefined. Every promise rejects with a `VaeError`. */
export interface VaeWorker extends Partial<VaeProperties> {
    /** The worker's wasm memory in bytes (it only grows), beside the model's properties. */
    readonly wasmMemoryBytes?: number;
}

/** The adapter as the worker's browser describes it (GPUAdapterInfo, features, limits). */
export interface AdapterInfo {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    /** The adapter's optional features (e.g. "shader-f16", "subgroups"). */
    features: string[];
    /** Every limit, e.g. maxBufferSize, maxStorageBufferBindingSize. */
    limits: Record<string, number>;
}

/** What `compare` measures: PSNR in dB, and SSIM (null where a side is under 11 pixels). */
export interface Comparison {
    psnr: number;
    ssim: number | null;
}

export class VaeWorker {
    /** Starts the worker: by default vae-worker.js beside vae-client.js (bundlers follow it). */
    constructor(workerUrl?: string | URL);
    /** Starts a worker and loads `source` into it. */
    static load(source: WeightsSource, options?: WorkerLoadOptions, workerUrl?: string | URL): Promise<VaeWorker>;
    readonly worker: Worker;
    /** Loads weights in place of any model loaded before (a load in flight is superseded);
     *  resolves to the model's properties. An ArrayBuffer or ReadableStream source (or a
     *  Response's body) is handed over to the worker, not copied; where the browser cannot
     *  transfer streams (Safari), the stream is read on this side as the worker asks. */
    load(source: WeightsSource, options?: WorkerLoadOptions): Promise<VaeProperties>;
    /** A call's `signal` and `onProgress` stay on this side: an abort is sent to the worker,
     *  and progress comes back from it. */
    encode(image: ImageData | ImageLike, options?: CallOptions): Promise<Latent>;
    encodeSample(image: ImageData | ImageLike, seed: number, options?: CallOptions): Promise<Latent>;
    /** ImageData at the latent's image size. */
    decode(latent: Latent, options?: CallOptions): Promise<ImageData>;
    decodeRaw(latent: Latent, options?: CallOptions): Promise<RawImage>;
    /** PSNR and SSIM of two same-size RGBA images, computed in the worker; needs no model. */
    compare(a: ImageData | ImageLike, b: ImageData | ImageLike): Promise<Comparison>;
    /** The worker's default GPU adapter as the browser describes it; needs no model. */
    adapterInfo(): Promise<AdapterInfo>;
    /** The options `Vae.load` takes (the module's `userOptions()`); needs no model. */
    userOptions(): Promise<UserOption[]>;
    /** Sets `memoryBudget` (bytes; `null`: none) for the calls after it. */
    setMemoryBudget(bytes: number | null): Promise<void>;
    /** `Vae.toDiffusion` / `fromDiffusion`: the latent a diffusion model sees (`latentLayout`). */
    toDiffusion(latent: Latent): Promise<Latent>;
    fromDiffusion(latent: Latent): Promise<Latent>;
    /** `Vae.flops`, asked of the worker: `[encode, decode]` floating-point operations. */
    flops(width: number, height: number): Promise<Float64Array>;
    /** `Vae.estimate`: the GPU memory an image of this size will hold, before running it. */
    estimate(width: number, height: number): Promise<MemoryEstimate>;
    /** Frees the model's GPU memory; the worker stays for another load. */
    free(): Promise<void>;
    /** Ends the worker at once; pending calls reject with `not-loaded`. */
    terminate(): void;
}
