/**
 * Messages between the page (main.ts) and the worker (worker.ts) that owns the models and tfjs. Images travel as
 * encoded bytes (PNG/JPEG: the worker decodes them exactly as Node does) or as ImageBitmaps (other formats); results
 * come back as RGBA pixels.
 */

/** An image for the worker: the file's bytes when CLIP's own decoder reads them (PNG, JPEG), else a bitmap. */
export type WorkerImage = { bytes: Uint8Array } | { bitmap: ImageBitmap };

export type ModelName = "clip" | "decoder" | "upsampler" | "prior";

/** Options shared by every decoding tool. */
export interface DecodeSettings {
  steps: number;
  seed: number;
}

export type Job =
  | { tool: "classify"; image: WorkerImage; labels: string[] }
  | { tool: "variations"; image: WorkerImage; count: number; settings: DecodeSettings }
  | { tool: "blend"; imageA: WorkerImage; imageB: WorkerImage; weight: number; settings: DecodeSettings }
  | { tool: "animate"; image: WorkerImage; frames: number; settings: DecodeSettings }
  | { tool: "textToImage"; prompt: string; settings: DecodeSettings };

export type ToWorker =
  | { type: "load"; baseUrl: string; preferWasm: boolean }
  | { type: "run"; id: number; job: Job }
  | { type: "cancel"; id: number };

export interface Picture {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  rgba: Uint8ClampedArray;
}

export type FromWorker =
  | { type: "backend"; backend: string; skipped: string[] }
  | { type: "fetch"; model: ModelName; loaded: number; total: number | undefined }
  | { type: "loaded"; models: ModelName[]; missing: ModelName[]; seconds: number }
  | { type: "progress"; id: number; stage: string; step: number; of: number }
  | { type: "scores"; id: number; scores: { label: string; score: number }[] }
  | { type: "image"; id: number; index: number; picture: Picture }
  | { type: "done"; id: number; seconds: number }
  | { type: "cancelled"; id: number }
  | { type: "error"; id?: number; message: string };
