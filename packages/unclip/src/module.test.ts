import * as tf from "@tensorflow/tfjs";
import { CheckpointError, parseSafetensors, serializeSafetensors, toFloat32 } from "@proj/clip";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Conv2d, GroupNorm, Linear } from "./layers.js";
import { loadModuleWeights, Module, moduleToSafetensors, parameter, seedFor } from "./module.js";

/** A small tree: a leaf variable, a child module, an array with a hole (a parameter-free PyTorch layer). */
class Toy extends Module {
  readonly scale = parameter([3], { kind: "ones" });
  readonly proj = new Linear(3, 4);
  readonly layers: [GroupNorm, undefined, Conv2d] = [new GroupNorm(2, 4), undefined, new Conv2d(4, 2, { zeroOutput: true })];
  readonly notAParameter = { weight: 1 };
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterAll(() => tf.disposeVariables());

describe("Module", () => {
  it("lists parameters by PyTorch-style key in definition order, with their tfjs layouts", () => {
    const toy = new Toy();
    const params = toy.namedParameters();
    expect([...params.keys()]).toEqual([
      "scale",
      "proj.weight",
      "proj.bias",
      "layers.0.weight",
      "layers.0.bias",
      "layers.2.weight",
      "layers.2.bias",
    ]);
    expect(params.get("proj.weight")!.shape).toEqual([3, 4]); // [in, out]
    expect(params.get("layers.2.weight")!.shape).toEqual([3, 3, 4, 2]); // [kh, kw, in, out]
    expect(toy.parameterCount()).toBe(3 + 12 + 4 + 4 + 4 + 72 + 2);
    toy.dispose();
  });

  it("initialises deterministically per seed, per key, and honours the init rules", () => {
    const a = new Toy().initialise(7);
    const b = new Toy().initialise(7);
    const c = new Toy().initialise(8);
    const values = (m: Toy, key: string) => Array.from(m.namedParameters().get(key)!.dataSync());
    expect(values(a, "proj.weight")).toEqual(values(b, "proj.weight"));
    expect(values(a, "proj.weight")).not.toEqual(values(c, "proj.weight"));
    expect(values(a, "scale")).toEqual([1, 1, 1]);
    expect(values(a, "layers.0.bias")).toEqual([0, 0, 0, 0]);
    expect(values(a, "layers.2.weight").every((v) => v === 0)).toBe(true); // zero_module
    const bound = 1 / Math.sqrt(3);
    expect(values(a, "proj.weight").every((v) => Math.abs(v) <= bound)).toBe(true);
    const noZero = new Toy().initialise(7, { zeroOutputs: false });
    expect(values(noZero, "layers.2.weight").some((v) => v !== 0)).toBe(true);
    expect(seedFor(7, "proj.weight")).not.toBe(seedFor(7, "proj.bias"));
    for (const m of [a, b, c, noZero]) m.dispose();
  });

  it("dispose releases every variable", () => {
    const before = tf.memory().numTensors;
    const toy = new Toy().initialise(1);
    expect(tf.memory().numTensors).toBe(before + 7);
    toy.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("round-trips through safetensors bit-exactly (F32) and to within f16 rounding (F16)", () => {
    const a = new Toy().initialise(3);
    const b = new Toy().initialise(4);
    const bytes = moduleToSafetensors(a, { metadata: { note: "x" } });
    expect(parseSafetensors(bytes).metadata).toEqual({ note: "x" });
    loadModuleWeights(b, bytes);
    for (const [key, v] of a.namedParameters()) expect(b.namedParameters().get(key)!.dataSync(), key).toEqual(v.dataSync());
    const half = parseSafetensors(moduleToSafetensors(a, { dtype: "F16" }));
    expect(half.tensors.get("proj.weight")!.dtype).toBe("F16");
    const w = a.namedParameters().get("proj.weight")!.dataSync();
    toFloat32(half.tensors.get("proj.weight")!).forEach((v, i) => expect(Math.abs(v - w[i]!)).toBeLessThan(1e-3));
    a.dispose();
    b.dispose();
  });

  it("rejects a checkpoint that does not fit with one error listing every bad key, leaving the module unchanged", () => {
    const toy = new Toy().initialise(3);
    const file = parseSafetensors(moduleToSafetensors(toy));
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [key, t] of file.tensors) tensors[key] = { dtype: "F32", shape: t.shape, data: toFloat32(t) };
    delete tensors["proj.bias"];
    tensors["layers.0.weight"] = { dtype: "F32", shape: [5], data: new Float32Array(5) };
    tensors["extra.weight"] = { dtype: "F32", shape: [1], data: new Float32Array(1) };
    const before = Array.from(toy.namedParameters().get("scale")!.dataSync());
    const bad = serializeSafetensors({ ...tensors, scale: { dtype: "F32", shape: [3], data: new Float32Array([9, 9, 9]) } });
    const numTensors = tf.memory().numTensors;
    let error: unknown;
    try {
      loadModuleWeights(toy, bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    const message = (error as Error).message;
    expect(message).toMatch(/missing keys \(1\): proj\.bias/);
    expect(message).toMatch(/layers\.0\.weight: checkpoint \[5\], model \[4\]/);
    expect(message).toMatch(/unused keys \(1\): extra\.weight/);
    expect(Array.from(toy.namedParameters().get("scale")!.dataSync())).toEqual(before);
    expect(tf.memory().numTensors).toBe(numTensors);
    toy.dispose();
  });
});
