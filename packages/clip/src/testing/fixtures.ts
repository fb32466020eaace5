/** Test helpers shared by the parity tests (not part of the package). */
import * as tf from "@tensorflow/tfjs";
import { toFloat32, toInt32, type SafetensorsFile, type SafetensorsTensor } from "../safetensors.js";

/** The tensor `name` of a fixture file; an error naming it when absent. */
export function stored(file: SafetensorsFile, name: string): SafetensorsTensor {
  const found = file.tensors.get(name);
  if (found === undefined) throw new Error(`no tensor ${name}`);
  return found;
}

/** ‖ours − ref‖ / ‖ref‖ (the parity measure); sizes must agree. */
export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`size ${ours.length} ≠ ${ref.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (ours[i]! - ref[i]!) ** 2;
    norm += ref[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** The fixture's token ids (`tokens`, I32 [N, 77]) as an int32 tensor. */
export function fixtureTokens(file: SafetensorsFile): tf.Tensor2D {
  const t = stored(file, "tokens");
  return tf.tensor2d(toInt32(t), t.shape as [number, number], "int32");
}

/** A fixture image batch (NCHW, as the reference stores it) as an NHWC tensor. */
export function fixtureImagesNhwc(file: SafetensorsFile, name: string): tf.Tensor4D {
  const t = stored(file, name);
  return tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(t), t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}
