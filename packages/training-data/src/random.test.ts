import { describe, expect, it } from "vitest";
import { createRandom, mixSeed, randomInt, shuffledIndices, stableHash } from "./random.js";

describe("stableHash", () => {
  it("is 32-bit FNV-1a (published test vectors)", () => {
    expect(stableHash("")).toBe(0x811c9dc5);
    expect(stableHash("a")).toBe(0xe40c292c);
    expect(stableHash("foobar")).toBe(0xbf9cf968);
  });
});

describe("createRandom", () => {
  it("repeats a sequence for a seed and differs between seeds", () => {
    const draw = (seed: number) => Array.from({ length: 5 }, createRandom(seed));
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    for (const value of draw(123)) expect(value >= 0 && value < 1).toBe(true);
  });

  it("mixSeed separates its words", () => {
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(mixSeed(0, 0)).not.toBe(mixSeed(0));
    expect(mixSeed(5, 6, 7)).toBe(mixSeed(5, 6, 7));
  });

  it("randomInt stays in range and hits every value", () => {
    const random = createRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(randomInt(random, 5));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("shuffledIndices", () => {
  it("is a permutation, fixed by the seed", () => {
    const order = shuffledIndices(100, createRandom(42));
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(shuffledIndices(100, createRandom(42))).toEqual(order);
    expect(shuffledIndices(100, createRandom(43))).not.toEqual(order);
  });
});
