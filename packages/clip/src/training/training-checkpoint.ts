/**
 * A training checkpoint: everything needed to continue CLIP training exactly where it stopped, in one safetensors file.
 *
 *   <checkpoint key>         the weights in OpenAI's layout, F32 (as `saveClip` writes them)
 *   optimizer/m/<key>        AdamW's first moment, in the model layout (as the variables hold it)
 *   optimizer/v/<key>        AdamW's second moment
 *   __metadata__.config      the model config (the reference's keyword arguments as JSON)
 *   __metadata__.training    JSON { version, step, seed, optimizerSteps }
 *
 * `weightsOfTrainingCheckpoint` drops the optimizer state, leaving a plain CLIP checkpoint for `clipFromSafetensors`.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { AdamW } from "@proj/tensor-kernels";
import { CHECKPOINT_TRANSFORMS, takeInModelLayout, type ClipModel } from "../clip-model.js";
import { clipConfigDifferences, clipConfigFromJson, clipConfigToJson } from "../config.js";
import { parseSafetensors, serializeSafetensors, toFloat32, type SafetensorsFile } from "../safetensors.js";
import { CheckpointError, CheckpointWeights } from "../weights.js";
import { trainableParameters } from "./grad-cache.js";

const OPTIMIZER_PREFIX = "optimizer/";
const VERSION = 1;

/** Where training stands, besides the tensors. */
export interface TrainingPosition {
  /** Optimizer steps taken. */
  step: number;
  /** The data seed (handed to a batch factory with the step, so the stream resumes where it stopped). */
  seed: number;
}

/** Model-layout tensor → checkpoint layout (the inverse of its `CHECKPOINT_TRANSFORMS` permutation); owned by the caller. */
function toCheckpointLayout(key: string, t: tf.Tensor): tf.Tensor {
  const rule = CHECKPOINT_TRANSFORMS.find((r) => r.keys.test(key));
  if (rule === undefined) return tf.clone(t);
  const inverse = new Array<number>(rule.permutation.length);
  rule.permutation.forEach((from, to) => (inverse[from] = to));
  return tf.transpose(t, inverse);
}

type StateDict = Parameters<typeof serializeSafetensors>[0];

/** A trainable model's weights in OpenAI's layout, F32, by checkpoint key (downloads asynchronously; leaves no tensors). */
async function checkpointLayoutWeights(model: ClipModel, caller: string): Promise<StateDict> {
  const state: StateDict = {};
  for (const [key, variable] of trainableParameters(model, caller)) {
    const stored = toCheckpointLayout(key, variable);
    try {
      state[key] = { dtype: "F32", shape: [...stored.shape], data: (await stored.data()) as Float32Array };
    } finally {
      stored.dispose();
    }
  }
  return state;
}

/** A trainable model's weights as a plain CLIP checkpoint (F32, OpenAI layout, config in the metadata), exact. */
export async function serializeTrainableClip(model: ClipModel): Promise<Uint8Array> {
  const state = await checkpointLayoutWeights(model, "serializeTrainableClip");
  return serializeSafetensors(state, { format: "pt", config: JSON.stringify(clipConfigToJson(model.config)) });
}

/** Weights, optimizer state and position as safetensors bytes (downloads asynchronously; leaves no tensors). */
export async function serializeTrainingCheckpoint(model: ClipModel, optimizer: AdamW, position: TrainingPosition): Promise<Uint8Array> {
  const state = await checkpointLayoutWeights(model, "serializeTrainingCheckpoint");
  const optimizerState = optimizer.exportState();
  try {
    for (const [name, tensor] of optimizerState) {
      if (name === "step") continue;
      state[`${OPTIMIZER_PREFIX}${name}`] = { dtype: "F32", shape: [...tensor.shape], data: (await tensor.data()) as Float32Array };
    }
  } finally {
    tf.dispose([...optimizerState.values()]);
  }
  const training = { version: VERSION, step: position.step, seed: position.seed, optimizerSteps: optimizer.stepCount };
  return serializeSafetensors(state, { format: "pt", config: JSON.stringify(clipConfigToJson(model.config)), training: JSON.stringify(training) });
}

/**
 * Restores weights and optimizer state from a training checkpoint into `model` and `optimizer`; returns the position.
 * Checks the config and every key and shape first: a checkpoint that does not fit changes nothing.
 */
export function restoreTrainingCheckpoint(source: Uint8Array | SafetensorsFile, model: ClipModel, optimizer: AdamW): TrainingPosition {
  const file = source instanceof Uint8Array ? parseSafetensors(source) : source;
  const parameters = trainableParameters(model, "restoreTrainingCheckpoint");
  const training = parseTrainingMetadata(file);
  const storedConfig = file.metadata.config;
  if (storedConfig !== undefined) {
    const differences = clipConfigDifferences(clipConfigFromJson(storedConfig), model.config);
    if (differences.length > 0) throw new CheckpointError(`restoreTrainingCheckpoint: the checkpoint's config differs from the model's on ${differences.join(", ")}`);
  }
  const weights = new CheckpointWeights(weightsOfTrainingCheckpoint(file));
  const take = takeInModelLayout(weights.take);
  const values = new Map<string, tf.Tensor>();
  const optimizerState = new Map<string, tf.Tensor>();
  try {
    for (const [key, variable] of parameters) values.set(key, take(key, variable.shape));
    weights.finish();
    for (const [key, stored] of file.tensors) {
      if (key.startsWith(OPTIMIZER_PREFIX)) optimizerState.set(key.slice(OPTIMIZER_PREFIX.length), tf.tensor(toFloat32(stored), stored.shape, "float32"));
    }
    optimizerState.set("step", tf.scalar(training.optimizerSteps, "int32"));
    optimizer.importState(optimizerState); // checks names and shapes before changing anything
    for (const [key, value] of values) parameters.get(key)!.assign(value);
  } finally {
    tf.dispose([...values.values(), ...optimizerState.values()]);
  }
  return { step: training.step, seed: training.seed };
}

function parseTrainingMetadata(file: SafetensorsFile): { step: number; seed: number; optimizerSteps: number } {
  const text = file.metadata.training;
  if (text === undefined) throw new CheckpointError("restoreTrainingCheckpoint: no __metadata__.training (is this a plain CLIP checkpoint rather than a training checkpoint?)");
  const value = JSON.parse(text) as { version?: unknown; step?: unknown; seed?: unknown; optimizerSteps?: unknown };
  const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (value.version !== VERSION || !isCount(value.step) || typeof value.seed !== "number" || !isCount(value.optimizerSteps)) {
    throw new CheckpointError(`restoreTrainingCheckpoint: malformed __metadata__.training ${text}`);
  }
  return { step: value.step, seed: value.seed, optimizerSteps: value.optimizerSteps };
}

/** The plain CLIP checkpoint inside a training checkpoint (optimizer state and training metadata dropped). */
export function weightsOfTrainingCheckpoint(file: SafetensorsFile): SafetensorsFile {
  const tensors = new Map([...file.tensors].filter(([key]) => !key.startsWith(OPTIMIZER_PREFIX)));
  const metadata = Object.fromEntries(Object.entries(file.metadata).filter(([key]) => key !== "training"));
  return { tensors, metadata };
}
