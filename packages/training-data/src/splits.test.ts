import { describe, expect, it } from "vitest";
import { loadEmojiCatalog } from "./emoji-metadata.js";
import { naturalName } from "./captions.js";
import {
  EVALUATION_STYLES,
  heldOutConcepts,
  isHeldOutConcept,
  SPLIT_NAMES,
  splitCounts,
  splitImages,
  TRAINING_STYLES,
} from "./splits.js";

describe("splits", () => {
  it("pins the counts of every split", async () => {
    const catalog = await loadEmojiCatalog();
    expect(splitCounts(catalog)).toEqual({
      train: { concepts: 1702, images: 9739, baseImages: 4839, byStyle: { google: 3452, twitter: 3452, fluent: 2835 } },
      "unseen-style": { concepts: 1702, images: 6776, baseImages: 3361, byStyle: { apple: 3450, facebook: 3326 } },
      "unseen-concept": {
        concepts: 204,
        images: 1592,
        baseImages: 977,
        byStyle: { google: 329, twitter: 329, apple: 328, facebook: 314, fluent: 292 },
      },
    });
  });

  it("holds out about 10% of concepts by a stable hash of the name", async () => {
    const catalog = await loadEmojiCatalog();
    const heldOut = heldOutConcepts(catalog);
    expect(heldOut.length).toBe(204);
    expect(heldOut.length / catalog.concepts.length).toBeCloseTo(0.107, 2);
    expect(heldOut.slice(0, 5).map(naturalName)).toEqual([
      "melting face",
      "grinning face with star eyes",
      "face with stuck-out tongue and winking eye",
      "saluting face",
      "face with one eyebrow raised",
    ]);
    expect(isHeldOutConcept({ name: "MELTING FACE" })).toBe(true);
    expect(isHeldOutConcept({ name: "GRINNING FACE" })).toBe(false);
  });

  it("never trains on an Apple or Facebook image or on a held-out concept", async () => {
    const catalog = await loadEmojiCatalog();
    const train = splitImages(catalog, "train");
    expect(train.length).toBeGreaterThan(0);
    for (const ref of train) {
      expect(TRAINING_STYLES).toContain(ref.style);
      expect(EVALUATION_STYLES).not.toContain(ref.style);
      expect(isHeldOutConcept(catalog.concepts[ref.conceptId]!)).toBe(false);
    }
  });

  it("is disjoint: no image in two splits, and held-out concepts only in unseen-concept", async () => {
    const catalog = await loadEmojiCatalog();
    const key = (ref: { style: string; image: string }) => `${ref.style}/${ref.image}`;
    const seen = new Map<string, string>();
    for (const split of SPLIT_NAMES) {
      for (const ref of splitImages(catalog, split)) {
        expect(seen.get(key(ref)), key(ref)).toBeUndefined();
        seen.set(key(ref), split);
      }
    }
    expect(seen.size).toBe(catalog.images.length); // every image is in exactly one split
    const trainConcepts = new Set(splitImages(catalog, "train").map((ref) => ref.conceptId));
    const unseenStyleConcepts = new Set(splitImages(catalog, "unseen-style").map((ref) => ref.conceptId));
    for (const ref of splitImages(catalog, "unseen-concept")) {
      expect(trainConcepts.has(ref.conceptId)).toBe(false);
      expect(unseenStyleConcepts.has(ref.conceptId)).toBe(false);
    }
    for (const id of unseenStyleConcepts) expect(trainConcepts.has(id)).toBe(true);
  });
});
