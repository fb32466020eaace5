/**
 * The embedded default models and loading a whole pipeline from files.
 *
 *   const pipeline = await loadPipeline();                 // the defaults shipped in this package (models/)
 *   const pipeline = await loadPipeline("path/to/models");  // clip, prior, decoder, upsampler .safetensors in a folder
 *   const pipeline = await loadPipeline({ clip: url1, decoder: url2, prior: null, upsampler: null });
 *   ...
 *   pipeline.dispose();
 *
 * The defaults are small models trained by this project's `npm run train:*` on emoji art (models/MODEL_CARD.md):
 * a 32×32 ViT CLIP (in `@proj/clip`), a prior, a 32×32 decoder and a 32 → 64 upsampler.
 */
import { DEFAULT_CLIP_URL, clipFromSafetensors, readSafetensors, type ClipModel, type LoadClipOptions, type SafetensorsFile } from "@proj/clip";
import { DiffusionPrior } from "./diffusion-prior.js";
import { clipEmbedder, createPipeline, type Pipeline } from "./pipeline.js";
import { UNet } from "./unet.js";

/** Where the embedded default models are (inside the installed packages). */
// (The module URL goes through a variable so that Vite does not copy the weights into an app's assets as it does
// for the literal `new URL("…", import.meta.url)` pattern: web apps serve the files and pass their URLs.)
const MODULE_URL = import.meta.url;
export const DEFAULT_MODEL_URLS: Readonly<Record<PipelineModelName, URL>> = Object.freeze({
  clip: DEFAULT_CLIP_URL,
  prior: new URL("../models/prior.safetensors", MODULE_URL),
  decoder: new URL("../models/decoder.safetensors", MODULE_URL),
  upsampler: new URL("../models/upsampler.safetensors", MODULE_URL),
});

export type PipelineModelName = "clip" | "prior" | "decoder" | "upsampler";

/** A model file: a path (Node), a URL, the bytes, or a Blob. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob;

/**
 * Where each model comes from. A missing entry takes the embedded default; `null` leaves an optional component out
 * (no prior: no text-to-image; no upsampler: images at the decoder's size).
 */
export interface PipelineSources {
  clip?: ModelSource;
  prior?: ModelSource | null;
  decoder?: ModelSource;
  upsampler?: ModelSource | null;
}

export interface LoadPipelineOptions {
  /** Options for the CLIP (e.g. its tokenizer). */
  clip?: LoadClipOptions;
  /** Called after each model has been read and built. */
  onProgress?: (progress: { model: PipelineModelName; loaded: number; total: number }) => void;
}

/** A pipeline that owns its models: `clipModel` is the CLIP itself (for zero-shot classification); `dispose()` frees all. */
export interface LoadedPipeline extends Pipeline {
  readonly clipModel: ClipModel;
  dispose(): void;
}

function inFolder(folder: string | URL, name: PipelineModelName): string | URL {
  const file = `${name}.safetensors`;
  if (folder instanceof URL) return new URL(file, folder.href.endsWith("/") ? folder : new URL(`${folder.href}/`));
  return folder.endsWith("/") ? `${folder}${file}` : `${folder}/${file}`;
}

function describe(source: ModelSource): string {
  if (typeof source === "string") return source;
  if (source instanceof URL) return source.href;
  return `the given ${source instanceof Blob ? "Blob" : "bytes"}`;
}

async function read(name: PipelineModelName, source: ModelSource): Promise<SafetensorsFile> {
  try {
    return await readSafetensors(source);
  } catch (error) {
    const hint = source === DEFAULT_MODEL_URLS[name] ? " (the embedded default; in a bundled web app serve the file and pass its URL)" : "";
    throw new Error(`loadPipeline: cannot read the ${name} model from ${describe(source)}${hint}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Loads CLIP, prior, decoder and upsampler and checks that they fit together (`createPipeline`). With no argument:
 * the embedded defaults; with a folder (path or URL): `clip.safetensors`, `prior.safetensors`,
 * `decoder.safetensors` and `upsampler.safetensors` in it (all four required); with an object: per-model sources.
 */
export async function loadPipeline(sources: PipelineSources | string | URL = {}, options: LoadPipelineOptions = {}): Promise<LoadedPipeline> {
  const names: readonly PipelineModelName[] = ["clip", "prior", "decoder", "upsampler"];
  const chosen: Record<PipelineModelName, ModelSource | null> =
    typeof sources === "string" || sources instanceof URL
      ? { clip: inFolder(sources, "clip"), prior: inFolder(sources, "prior"), decoder: inFolder(sources, "decoder"), upsampler: inFolder(sources, "upsampler") }
      : {
          clip: sources.clip ?? DEFAULT_MODEL_URLS.clip,
          prior: sources.prior === null ? null : (sources.prior ?? DEFAULT_MODEL_URLS.prior),
          decoder: sources.decoder ?? DEFAULT_MODEL_URLS.decoder,
          upsampler: sources.upsampler === null ? null : (sources.upsampler ?? DEFAULT_MODEL_URLS.upsampler),
        };
  const wanted = names.filter((name) => chosen[name] !== null);
  // Read every file first (in parallel), so that a missing one fails before any tensor exists; the error names the
  // first failing model in pipeline order (not whichever read happened to fail first).
  const reads = await Promise.allSettled(wanted.map((name) => read(name, chosen[name]!)));
  const failed = reads.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  const files = reads.map((r) => (r as PromiseFulfilledResult<SafetensorsFile>).value);
  const built: { clip?: ClipModel; prior?: DiffusionPrior; decoder?: UNet; upsampler?: UNet } = {};
  const disposeBuilt = () => {
    built.clip?.dispose();
    built.prior?.dispose();
    built.decoder?.dispose();
    built.upsampler?.dispose();
  };
  try {
    for (const [i, name] of wanted.entries()) {
      const file = files[i]!;
      try {
        if (name === "clip") built.clip = clipFromSafetensors(file, options.clip);
        else if (name === "prior") built.prior = DiffusionPrior.fromSafetensors(file);
        else built[name] = UNet.fromSafetensors(file);
      } catch (error) {
        throw new Error(`loadPipeline: the ${name} model from ${describe(chosen[name]!)}: ${(error as Error).message}`, { cause: error });
      }
      options.onProgress?.({ model: name, loaded: i + 1, total: wanted.length });
    }
    const clipModel = built.clip!;
    const pipeline = createPipeline({ clip: clipEmbedder(clipModel), prior: built.prior, decoder: built.decoder!, upsampler: built.upsampler });
    return Object.freeze({ ...pipeline, clipModel, dispose: disposeBuilt });
  } catch (error) {
    disposeBuilt();
    throw error;
  }
}
