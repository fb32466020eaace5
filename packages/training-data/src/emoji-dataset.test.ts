import { describe, expect, it } from "vitest";
import { canonicalCaption } from "./captions.js";
import { createEmojiDataset, type EmojiBatch, type EmojiDataset } from "./emoji-dataset.js";
import { isHeldOutConcept } from "./splits.js";

async function collect(iterator: AsyncIterable<EmojiBatch>, limit = Infinity): Promise<EmojiBatch[]> {
  const batches: EmojiBatch[] = [];
  for await (const batch of iterator) {
    batches.push(batch);
    if (batches.length >= limit) break;
  }
  return batches;
}

function range(values: Float32Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return [min, max];
}

describe("createEmojiDataset", () => {
  it("yields NHWC float batches in [0, 1] with captions, concept ids and styles", async () => {
    const data = await createEmojiDataset({ split: "train" });
    expect(data.examples.length).toBe(9739);
    const [batch] = await collect(data.batches({ batchSize: 16, seed: 1 }), 1);
    expect(batch!.shape).toEqual([16, 64, 64, 3]);
    expect(batch!.images.length).toBe(16 * 64 * 64 * 3);
    const [min, max] = range(batch!.images);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBe(1); // white background
    expect(batch!.captions).toHaveLength(16);
    expect(batch!.conceptIds).toHaveLength(16);
    for (let i = 0; i < 16; i++) {
      const example = data.examples[batch!.exampleIndices[i]!]!;
      expect(batch!.conceptIds[i]).toBe(example.conceptId);
      expect(batch!.styles[i]).toBe(example.style);
      expect(["google", "twitter", "fluent"]).toContain(batch!.styles[i]);
      expect(batch!.flipped[i]).toBe(false);
    }
  });

  it("gives the same batches for the same seed and another order for another seed", async () => {
    const data = await createEmojiDataset({ split: "train" });
    const options = { batchSize: 8, augment: true, size: 32 } as const;
    const a = await collect(data.batches({ ...options, seed: 5 }), 3);
    const b = await collect(data.batches({ ...options, seed: 5, prefetch: 0 }), 3);
    const c = await collect(data.batches({ ...options, seed: 6 }), 3);
    for (let k = 0; k < 3; k++) {
      expect(b[k]!.exampleIndices).toEqual(a[k]!.exampleIndices);
      expect(b[k]!.captions).toEqual(a[k]!.captions);
      expect(b[k]!.images).toEqual(a[k]!.images);
    }
    expect(c[0]!.exampleIndices).not.toEqual(a[0]!.exampleIndices);
  });

  it("visits every example once per epoch, reshuffles per epoch, and resumes with skipBatches", async () => {
    const data = await createEmojiDataset({ split: "unseen-concept", styles: ["apple"], skinTones: false });
    const n = data.examples.length;
    expect(n).toBe(203);
    const batches = await collect(data.batches({ batchSize: 64, seed: 3, epochs: 2 }));
    expect(batches.length).toBe(2 * data.batchesPerEpoch(64));
    expect(batches.map((batch) => batch.shape[0])).toEqual([64, 64, 64, 11, 64, 64, 64, 11]);
    for (const epoch of [0, 1]) {
      const seen = batches.filter((batch) => batch.epoch === epoch).flatMap((batch) => [...batch.exampleIndices]);
      expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    expect(batches[4]!.exampleIndices).not.toEqual(batches[0]!.exampleIndices);
    const resumed = await collect(data.batches({ batchSize: 64, seed: 3, epochs: 2, skipBatches: 5 }));
    expect(resumed.map((batch) => batch.step)).toEqual([5, 6, 7]);
    expect(resumed[0]!.images).toEqual(batches[5]!.images);
    expect(resumed[0]!.captions).toEqual(batches[5]!.captions);
    const dropped = await collect(data.batches({ batchSize: 64, seed: 3, dropLast: true }));
    expect(dropped.map((batch) => batch.shape[0])).toEqual([64, 64, 64]);
  });

  it("filters styles and skin tones, and refuses a style outside the split", async () => {
    const facebook = await createEmojiDataset({ split: "unseen-style", styles: ["facebook"] });
    expect(facebook.examples.length).toBe(3326);
    expect(facebook.examples.every((example) => example.style === "facebook")).toBe(true);
    const heldOut = await createEmojiDataset({ split: "unseen-concept" });
    expect(heldOut.examples.every((example) => isHeldOutConcept(example.concept))).toBe(true);
    await expect(createEmojiDataset({ split: "train", styles: ["apple"] })).rejects.toThrow(/not in split "train"/);
  });

  it("writes canonical captions for evaluation, and sampled ones that vary by epoch", async () => {
    const data = await createEmojiDataset({ split: "unseen-style", styles: ["apple"] });
    const [canonical] = await collect(data.batches({ batchSize: 32, shuffle: false, captions: "canonical" }), 1);
    canonical!.captions.forEach((caption, i) => {
      const example = data.examples[i]!;
      expect(caption).toBe(canonicalCaption(example.concept, example.skinTones));
    });
    const sampled = { batchSize: 32, shuffle: false, epochs: 2 } as const;
    const [epoch0] = await collect(data.batches(sampled), 1);
    const [epoch1] = await collect(data.batches({ ...sampled, skipBatches: data.batchesPerEpoch(32) }), 1);
    expect(epoch1!.epoch).toBe(1);
    expect(epoch1!.exampleIndices).toEqual(epoch0!.exampleIndices);
    expect(epoch1!.captions).not.toEqual(epoch0!.captions);
  });

  it("downsamples to 32 by 2×2 box means of the 64 image and emits RGBA on request", async () => {
    const data: EmojiDataset = await createEmojiDataset({ split: "train", styles: ["twitter"] });
    const options = { batchSize: 4, seed: 2, captions: "canonical" } as const;
    const [full] = await collect(data.batches({ ...options, size: 64 }), 1);
    const [half] = await collect(data.batches({ ...options, size: 32 }), 1);
    expect(half!.shape).toEqual([4, 32, 32, 3]);
    for (const [b, y, x, c] of [[0, 10, 12, 0], [3, 31, 0, 2], [2, 16, 16, 1]] as const) {
      const at = (yy: number, xx: number) => full!.images[((b * 64 + yy) * 64 + xx) * 3 + c]!;
      const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      expect(half!.images[((b * 32 + y) * 32 + x) * 3 + c]).toBeCloseTo(mean, 5);
    }
    const [rgba] = await collect(data.batches({ ...options, format: "rgba" }), 1);
    expect(rgba!.shape).toEqual([4, 64, 64, 4]);
    const [min, max] = range(rgba!.images);
    expect(min).toBe(0); // transparent corners
    expect(max).toBeLessThanOrEqual(1);
  });

  it("flips only flippable examples, about half of them", async () => {
    const data = await createEmojiDataset({ split: "train" });
    const batches = await collect(data.batches({ batchSize: 512, seed: 11, augment: true, size: 16 }), 4);
    let flippable = 0;
    let flipped = 0;
    for (const batch of batches) {
      batch.flipped.forEach((flip, i) => {
        const example = data.examples[batch.exampleIndices[i]!]!;
        if (flip) expect(example.flippable, example.concept.name).toBe(true);
        if (example.flippable) flippable++;
        if (flip) flipped++;
      });
    }
    expect(flipped / flippable).toBeGreaterThan(0.4);
    expect(flipped / flippable).toBeLessThan(0.6);
    const twoTones = data.examples.filter((example) => example.skinTones.length === 2 && example.skinTones[0] !== example.skinTones[1]);
    expect(twoTones.length).toBeGreaterThan(0);
    expect(twoTones.every((example) => !example.flippable)).toBe(true);
  });

  it("stops on an aborted signal", async () => {
    const data = await createEmojiDataset({ split: "train" });
    const controller = new AbortController();
    controller.abort();
    await expect(collect(data.batches({ batchSize: 4, signal: controller.signal }))).rejects.toThrow();
  });

  it("decodes every image of every split to 64×64 RGBA", async () => {
    for (const split of ["train", "unseen-style", "unseen-concept"] as const) {
      const data = await createEmojiDataset({ split });
      await data.preload();
      for (let i = 0; i < data.examples.length; i += 97) {
        const image = await data.readImage(i);
        expect([image.width, image.height, image.data.length]).toEqual([64, 64, 64 * 64 * 4]);
      }
    }
  }, 300_000); // ~15k PNG decodes: ~15 s idle, more on a busy machine
});
