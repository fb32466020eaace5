/** Input checks shared by the ops: every message names the op, the argument and what was expected. */
import type { Tensor } from "@tensorflow/tfjs-core";

export function assertTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (t === null || typeof t !== "object" || !("shape" in t) || !("dtype" in t) || !("dataId" in t)) {
    throw new TypeError(`${op}: ${name} must be a tf.Tensor, got ${t === null ? "null" : typeof t}`);
  }
}

export function assertFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype !== "float32") throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
}

export function assertRank(op: string, name: string, t: Tensor, rank: number | { min: number }): void {
  const ok = typeof rank === "number" ? t.rank === rank : t.rank >= rank.min;
  if (!ok) {
    const want = typeof rank === "number" ? `rank ${rank}` : `rank ≥ ${rank.min}`;
    throw new RangeError(`${op}: ${name} must have ${want}, got shape [${t.shape.join(", ")}]`);
  }
}

export function assertShape(op: string, name: string, t: Tensor, shape: readonly number[], what = ""): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(`${op}: ${name} must have shape [${shape.join(", ")}]${what}, got [${t.shape.join(", ")}]`);
  }
}

export function assertPositiveFinite(op: string, name: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${op}: ${name} must be a positive finite number, got ${String(value)}`);
  }
}
