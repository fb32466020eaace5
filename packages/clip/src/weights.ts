/**
 * Checkpoint tensors handed to model components. Components ask for each tensor by its checkpoint key and the
 * shape they expect; the source checks the shape and records what was used, so the loader can report every
 * missing key, unused key and shape mismatch together in one error.
 */
import { tensor, variable } from "@tensorflow/tfjs-core";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import { toFloat32, type SafetensorsFile } from "./safetensors.js";

/** Returns the float32 tensor stored under `key` (OpenAI layout, e.g. `visual.conv1.weight`), of shape `shape`. */
export type TakeWeight = (key: string, shape: readonly number[]) => Tensor;

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/**
 * Weights read from a safetensors file. `take` never throws: a missing key or wrong shape is recorded and a
 * zero tensor of the expected shape returned, so one pass over a model collects every problem; `finish()` then
 * throws one `CheckpointError` listing them all (and every checkpoint key nobody took), or returns normally.
 * Tensors returned by `take` belong to the caller.
 */
export class CheckpointWeights {
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly mismatched: string[] = [];

  constructor(
    private readonly file: SafetensorsFile,
    /** Keys that may be present but are not needed (e.g. BatchNorm `num_batches_tracked`). */
    private readonly ignorable: (key: string) => boolean = () => false,
  ) {}

  readonly take: TakeWeight = (key, shape) => {
    const stored = this.file.tensors.get(key);
    if (stored === undefined) {
      this.missing.push(key);
      return tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape.slice(), "float32");
    }
    this.used.add(key);
    if (stored.shape.length !== shape.length || stored.shape.some((d, i) => d !== shape[i])) {
      this.mismatched.push(`${key}: checkpoint [${stored.shape.join(", ")}], model [${shape.join(", ")}]`);
      return tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape.slice(), "float32");
    }
    return tensor(toFloat32(stored), shape.slice(), "float32");
  };

  /** Throws one error naming every missing key, shape mismatch and unused key; else returns. */
  finish(): void {
    const unused = [...this.file.tensors.keys()].filter((k) => !this.used.has(k) && !this.ignorable(k));
    if (this.missing.length === 0 && this.mismatched.length === 0 && unused.length === 0) return;
    const parts: string[] = [];
    if (this.missing.length > 0) parts.push(`missing keys (${this.missing.length}): ${this.missing.join(", ")}`);
    if (this.mismatched.length > 0) parts.push(`shape mismatches (${this.mismatched.length}): ${this.mismatched.join("; ")}`);
    if (unused.length > 0) parts.push(`unused keys (${unused.length}): ${unused.join(", ")}`);
    throw new CheckpointError(`The checkpoint does not fit the model: ${parts.join(". ")}`);
  }
}

let variableCount = 0;

/**
 * Wraps `take` so that every tensor it returns becomes a trainable `tf.Variable` (named `clip/<n>/<key>`, unique in
 * the process), also recorded in `into` under its key. For training (`clipFromSafetensors(file, { trainable: true })`).
 */
export function takeAsVariables(take: TakeWeight, into: Map<string, Variable>): TakeWeight {
  return (key, shape) => {
    const value = take(key, shape);
    const trainable = variable(value, true, `clip/${variableCount++}/${key}`);
    value.dispose(); // the variable holds its own reference to the data
    into.set(key, trainable);
    return trainable;
  };
}
