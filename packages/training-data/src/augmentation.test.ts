import { describe, expect, it } from "vitest";
import { NO_AUGMENTATION, STYLE_AUGMENTATION, canFlipHorizontally, sampleAugmentation } from "./augmentation.js";
import { loadEmojiCatalog } from "./emoji-metadata.js";
import { createRandom } from "./random.js";

describe("canFlipHorizontally (the flip rule)", () => {
  it("allows faces, people, animals, food and objects without direction or text", async () => {
    const catalog = await loadEmojiCatalog();
    const byName = (name: string) => catalog.concepts.find((concept) => concept.name === name)!;
    for (const name of ["GRINNING FACE", "RED APPLE", "WAVING HAND SIGN", "DOG FACE", "AUTOMOBILE", "FULL MOON SYMBOL"]) {
      expect(canFlipHorizontally(byName(name)), name).toBe(true);
    }
  });

  it("forbids flags, symbols, directions, moon phases, clocks and text", async () => {
    const catalog = await loadEmojiCatalog();
    const byName = (name: string) => catalog.concepts.find((concept) => concept.name === name)!;
    for (const name of [
      "France Flag",
      "RAINBOW FLAG",
      "LEFT RIGHT ARROW",
      "KEYCAP 1",
      "SQUARED SOS",
      "WHITE LEFT POINTING BACKHAND INDEX",
      "PERSON WALKING FACING RIGHT",
      "LEFT-FACING FIST",
      "WAXING CRESCENT MOON SYMBOL",
      "CLOCK FACE ONE OCLOCK",
      "NEWSPAPER",
      "HUNDRED POINTS SYMBOL",
      "BANKNOTE WITH DOLLAR SIGN",
      "OCTAGONAL SIGN",
    ]) {
      expect(canFlipHorizontally(byName(name)), name).toBe(false);
    }
    const flippable = catalog.concepts.filter(canFlipHorizontally).length;
    expect(flippable).toBe(1300); // pinned: a change to the rule shows up here
  });
});

describe("sampleAugmentation", () => {
  it("draws flips only where allowed, shifts within ±2 px and all four background kinds", () => {
    const random = createRandom(9);
    const kinds = new Set<string>();
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const a = sampleAugmentation({}, true, random);
      expect(Math.abs(a.shiftX)).toBeLessThanOrEqual(2);
      expect(Math.abs(a.shiftY)).toBeLessThanOrEqual(2);
      const [r, g, b] = a.background!;
      for (const value of [r, g, b]) expect(value >= 0 && value <= 1).toBe(true);
      kinds.add(r === 1 && g === 1 && b === 1 ? "white" : r + g + b === 0 ? "black" : r === g && g === b ? "grey" : "colour");
      if (a.flip) flips++;
      expect(sampleAugmentation({}, false, random).flip).toBe(false);
    }
    expect(kinds).toEqual(new Set(["white", "black", "grey", "colour"]));
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
  });

  it("draws only the background kinds asked for", () => {
    const random = createRandom(4);
    for (let i = 0; i < 100; i++) {
      expect(sampleAugmentation({ backgrounds: ["white"] }, true, random).background).toEqual([1, 1, 1]);
    }
  });

  it("switches parts off", () => {
    const a = sampleAugmentation({ flip: false, maxShift: 0, background: false }, true, createRandom(1));
    expect(a).toEqual(NO_AUGMENTATION);
  });

  it("draws style augmentation within its ranges, after (and without changing) the light draws", () => {
    const light = createRandom(21);
    const style = createRandom(21);
    const seen = { zoomIn: false, zoomOut: false, left: false, right: false };
    for (let i = 0; i < 300; i++) {
      const a = sampleAugmentation({}, true, light);
      const b = sampleAugmentation(STYLE_AUGMENTATION, true, style);
      expect({ flip: b.flip, shiftX: b.shiftX, shiftY: b.shiftY, background: b.background }).toEqual({
        flip: a.flip,
        shiftX: a.shiftX,
        shiftY: a.shiftY,
        background: a.background,
      });
      expect(a.scale).toBe(1);
      expect(a.rotation).toBe(0);
      expect(b.scale >= 0.8 && b.scale <= 1.15).toBe(true);
      expect(Math.abs(b.rotation)).toBeLessThanOrEqual((12 * Math.PI) / 180);
      expect(Math.abs(b.brightness - 1)).toBeLessThanOrEqual(0.15);
      expect(Math.abs(b.contrast - 1)).toBeLessThanOrEqual(0.25);
      expect(Math.abs(b.saturation - 1)).toBeLessThanOrEqual(0.35);
      expect(Math.hypot(b.shadingX, b.shadingY)).toBeLessThanOrEqual(0.3 + 1e-12);
      seen.zoomIn ||= b.scale > 1.1;
      seen.zoomOut ||= b.scale < 0.85;
      seen.left ||= b.rotation > 0.15;
      seen.right ||= b.rotation < -0.15;
    }
    expect(seen).toEqual({ zoomIn: true, zoomOut: true, left: true, right: true });
  });

  it("rejects style settings out of range", () => {
    const random = createRandom(0);
    expect(() => sampleAugmentation({ scale: [1.2, 0.9] }, true, random)).toThrow(/scale must be \[min, max\]/);
    expect(() => sampleAugmentation({ scale: [0, 1] }, true, random)).toThrow(/scale/);
    expect(() => sampleAugmentation({ maxRotation: -5 }, true, random)).toThrow(/maxRotation/);
    expect(() => sampleAugmentation({ colour: { saturation: 1.5 } }, true, random)).toThrow(/colour\.saturation/);
    expect(() => sampleAugmentation({ colour: { hue: 0.1 } as never }, true, random)).toThrow(/unknown colour\.hue/);
  });
});
