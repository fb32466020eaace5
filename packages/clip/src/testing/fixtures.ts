/** Test helpers shared by the parity tests (not part of the package). */
import type { SafetensorsFile, SafetensorsTensor } from "../safetensors.js";

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
