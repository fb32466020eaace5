import { existsSync, readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { appendLog, axisTicks, resumeBytes, runPaths, writeAtomically, writeLossPlot } from "./run.js";

const name = `test-${process.pid}`;
const paths = runPaths(name);

describe("training runs: checkpoint, log and plot files", () => {
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("resumes only from an existing checkpoint, unless fresh; writes atomically", () => {
    expect(resumeBytes(paths, false)).toBeUndefined();
    writeAtomically(paths.checkpoint, new Uint8Array([1, 2, 3]));
    expect(existsSync(`${paths.checkpoint}.tmp`)).toBe(false);
    expect(Array.from(resumeBytes(paths, false) ?? [])).toEqual([1, 2, 3]);
    expect(resumeBytes(paths, true)).toBeUndefined();
  });

  it("logs every step as a JSON line and plots the whole log as a PNG", async () => {
    for (let step = 1; step <= 50; step++) appendLog(paths, { step, loss: 2 / step, accuracy: step / 50 });
    const lines = readFileSync(paths.log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, number>);
    expect(lines).toHaveLength(50);
    expect(lines[9]).toMatchObject({ step: 10, loss: 0.2, accuracy: 0.2 });
    expect(typeof lines[0]!.time).toBe("number");
    await writeLossPlot(paths, "test");
    const png = readFileSync(paths.plot);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBe(800); // width from the IHDR chunk
  });
});

describe("axisTicks (the loss plot's step labels)", () => {
  it("picks the largest 1/2/5 × 10^k spacing with at least five ticks inside the range", () => {
    expect(axisTicks(1, 6000)).toEqual([1000, 2000, 3000, 4000, 5000, 6000]);
    expect(axisTicks(1376, 6000)).toEqual([2000, 3000, 4000, 5000, 6000]);
    expect(axisTicks(1, 1200)).toEqual([200, 400, 600, 800, 1000, 1200]);
    expect(axisTicks(1, 30)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(axisTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(axisTicks(1, 9500, 8)).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
  });

  it("degenerate ranges give the one value (or nothing)", () => {
    expect(axisTicks(5, 5)).toEqual([5]);
    expect(axisTicks(7, 3)).toEqual([7]);
    expect(axisTicks(Number.NaN, 3)).toEqual([]);
  });
});
