import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { RandomGenerator, randomNormal } from "./random.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("RandomGenerator", () => {
  it("gives the same stream for the same seed and different streams for different seeds", () => {
    const a = new RandomGenerator(42);
    const b = new RandomGenerator(42);
    const c = new RandomGenerator(43);
    const seqA = [a.nextSeed(), a.nextSeed(), a.nextSeed()];
    expect([b.nextSeed(), b.nextSeed(), b.nextSeed()]).toEqual(seqA);
    expect([c.nextSeed(), c.nextSeed(), c.nextSeed()]).not.toEqual(seqA);
    expect(new Set(seqA).size).toBe(3);
    for (const s of seqA) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(new RandomGenerator(2 ** 40).nextSeed()).not.toBe(new RandomGenerator(0).nextSeed());
  });

  it("draws standard-normal tensors, deterministic per seed and call order", () => {
    const before = tf.memory().numTensors;
    const g1 = new RandomGenerator(5);
    const g2 = new RandomGenerator(5);
    const [a1, a2] = [g1.normal([4000]), g1.normal([4000])];
    const b1 = g2.normal([4000]);
    expect(Array.from(b1.dataSync())).toEqual(Array.from(a1.dataSync()));
    expect(Array.from(a2.dataSync())).not.toEqual(Array.from(a1.dataSync()));
    const values = Array.from(a1.dataSync());
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
    const s1 = randomNormal([3, 2], 9);
    const s2 = randomNormal([3, 2], 9);
    expect(s1.shape).toEqual([3, 2]);
    expect(s1.dtype).toBe("float32");
    expect(Array.from(s1.dataSync())).toEqual(Array.from(s2.dataSync()));
    tf.dispose([a1, a2, b1, s1, s2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses seeds that are not safe integers", () => {
    expect(() => new RandomGenerator(1.5)).toThrow(/seed must be a safe integer, got 1.5/);
    expect(() => new RandomGenerator(Number.NaN)).toThrow(/safe integer/);
  });
});
