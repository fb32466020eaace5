/**
 * The model inside a training checkpoint (`trainDecoder` / `trainUpsampler` / `trainPrior` write them, see trainer.ts):
 * a `UNet` or `DiffusionPrior` with the checkpoint's EMA weights (what sampling should use) or its raw weights, e.g.
 * to look at samples while a run is still going.
 */
import { CheckpointError, parseSafetensors, type SafetensorsFile, type SafetensorsTensor } from "@proj/clip";
import { DiffusionPrior, PRIOR_FORMAT } from "./diffusion-prior.js";
import { TRAINING_FORMAT } from "./trainer.js";
import { UNET_FORMAT, UNet } from "./unet.js";

export interface ModelFromTrainingCheckpointOptions {
  /** "ema" (default): the exponential moving average of the weights; "raw": the optimiser's current weights. */
  weights?: "ema" | "raw";
}

/** Builds the checkpoint's model (its kind and config come from `__metadata__`) with every key and shape checked. */
export function modelFromTrainingCheckpoint(source: Uint8Array | SafetensorsFile, options: ModelFromTrainingCheckpointOptions = {}): UNet | DiffusionPrior {
  const what = "modelFromTrainingCheckpoint";
  const file = source instanceof Uint8Array ? parseSafetensors(source) : source;
  const { format, kind, config, step } = file.metadata;
  if (format !== TRAINING_FORMAT) throw new CheckpointError(`${what}: not a training checkpoint (format ${JSON.stringify(format)}, expected "${TRAINING_FORMAT}")`);
  if (config === undefined) throw new CheckpointError(`${what}: the checkpoint has no __metadata__.config`);
  const weights = options.weights ?? "ema";
  if (weights !== "ema" && weights !== "raw") throw new RangeError(`${what}: weights must be "ema" or "raw", got ${JSON.stringify(weights)}`);
  const prefix = weights === "ema" ? "ema.ema/" : "model.";
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, tensor] of file.tensors) if (name.startsWith(prefix)) tensors.set(name.slice(prefix.length), tensor);
  if (tensors.size === 0) throw new CheckpointError(`${what}: the checkpoint has no ${weights} weights (no tensor named ${prefix}…)`);
  const metadata = { config, trainedSteps: step ?? "" };
  if (kind === "prior") return DiffusionPrior.fromSafetensors({ ...file, tensors, metadata: { ...metadata, format: PRIOR_FORMAT } });
  if (kind === "decoder" || kind === "upsampler") return UNet.fromSafetensors({ ...file, tensors, metadata: { ...metadata, format: UNET_FORMAT } });
  throw new CheckpointError(`${what}: unknown checkpoint kind ${JSON.stringify(kind)} (expected decoder, upsampler or prior)`);
}
