// Types of vae-client.js (`import { VaeWorker } from "sdxl-vae/worker"`): the module's calls, run
// in a Web Worker. The shapes are the module's own (sdxl_vae.d.ts).
import type { ImageLike, Latent, LoadOptions, WeightsFile, WeightsSource } from "../sdxl_vae.js";

/** What a load resolves to: the loaded model's read-only properties. */
export interface LoadedVae {
    adapterName: string;
    description: string;
    scalingFactor: number;
    shiftFactor: number;
    precision: string;
    format: string;
    ignoredBytes: number;
    family: string;
    kind: string;
    latentChannels: number;
}

/** `Vae.load`'s options; every one is forwarded to the worker. */
export interface WorkerLoadOptions extends Omit<LoadOptions, "onProgress"> {
    onProgress?: (loaded: number, total: number | undefined, file: WeightsFile | undefined) => void;
}

export class VaeWorker {
    /** Starts the worker; by default vae-worker.js beside vae-client.js. */
    constructor(workerUrl?: string | URL);
    readonly worker: Worker;
    /** An ArrayBuffer source is transferred to the worker, not copied. */
    load(source: WeightsSource, options?: WorkerLoadOptions): Promise<LoadedVae>;
    encode(image: ImageData | ImageLike): Promise<Latent>;
    /** ImageData at the latent's image size. */
    decode(latent: Latent): Promise<ImageData>;
    terminate(): void;
}
