import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { parseSafetensors, serializeSafetensors } from "./safetensors.js";
import { CheckpointError, CheckpointWeights } from "./weights.js";

const file = parseSafetensors(
  serializeSafetensors({
    "a.weight": { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    "a.bias": { dtype: "F16", shape: [3], data: new Float32Array([1, 2, -2]) }, // stored as half floats
    "bn.num_batches_tracked": { dtype: "I64", shape: [], data: new BigInt64Array([7n]) },
    "extra.weight": { dtype: "F32", shape: [1], data: new Float32Array([0]) },
  }),
);

describe("CheckpointWeights", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("returns float32 tensors of the stored values (F16 converted)", async () => {
    const w = new CheckpointWeights(file, (k) => k.endsWith("num_batches_tracked") || k.startsWith("extra."));
    const a = w.take("a.weight", [2, 3]);
    const b = w.take("a.bias", [3]);
    expect(Array.from(await a.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(await b.data())).toEqual([1, 2, -2]);
    expect(a.dtype).toBe("float32");
    expect(() => w.finish()).not.toThrow();
    tf.dispose([a, b]);
  });

  it("reports every missing key, shape mismatch and unused key in one error", () => {
    const w = new CheckpointWeights(file, (k) => k.endsWith("num_batches_tracked"));
    const taken = [w.take("a.weight", [3, 2]), w.take("b.weight", [4]), w.take("c.bias", [1])];
    expect(taken.map((t) => t.shape)).toEqual([[3, 2], [4], [1]]);
    expect(() => w.finish()).toThrow(CheckpointError);
    expect(() => w.finish()).toThrow(
      "The checkpoint does not fit the model: missing keys (2): b.weight, c.bias. " +
        "shape mismatches (1): a.weight: checkpoint [2, 3], model [3, 2]. unused keys (2): a.bias, extra.weight",
    );
    tf.dispose(taken);
  });
});
