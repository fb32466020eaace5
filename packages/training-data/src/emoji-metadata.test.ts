import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { DATASOURCE_STYLES, FLUENT_EXCLUDED_SUBCATEGORIES, buildCatalog, fluentImageName, imagePath, loadEmojiCatalog, readEmojiRecords } from "./emoji-metadata.js";
import { loadRgbaImage } from "./emoji-dataset.js";

const require = createRequire(import.meta.url);

describe("emoji catalogue", () => {
  it("reads the same emoji.json from all four style packages (16.0.0)", () => {
    const texts = DATASOURCE_STYLES.map((style) => readFileSync(require.resolve(`emoji-datasource-${style}/emoji.json`), "utf8"));
    for (const text of texts) expect(text).toBe(texts[0]);
    for (const style of DATASOURCE_STYLES) {
      expect((require(`emoji-datasource-${style}/package.json`) as { version: string }).version).toBe("16.0.0");
    }
  });

  it("has one concept per emoji.json row except the skin-tone swatches, and one image per has_img flag or Fluent file", async () => {
    const records = await readEmojiRecords();
    const catalog = await loadEmojiCatalog();
    expect(records.length).toBe(1911);
    expect(catalog.concepts.length).toBe(1906);
    expect(catalog.concepts.some((concept) => concept.category === "Component")).toBe(false);
    expect(catalog.images.filter((ref) => ref.style !== "fluent").length).toBe(14980);
    // @lobehub/fluent-emoji-3d 1.1.0 has files for 1,852 of the 1,906 concepts and 1,520 tones; its 245 country and
    // subdivision flags are not Microsoft's and are left out.
    const fluent = catalog.images.filter((ref) => ref.style === "fluent");
    expect(fluent.length).toBe(3127);
    expect(fluent.some((ref) => FLUENT_EXCLUDED_SUBCATEGORIES.includes(catalog.concepts[ref.conceptId]!.subcategory))).toBe(false);
    expect(fluent.some((ref) => catalog.concepts[ref.conceptId]!.name === "CHEQUERED FLAG")).toBe(true); // Microsoft's
    expect(buildCatalog(records).images.length).toBe(14980); // no Fluent listing → no Fluent images
    catalog.concepts.forEach((concept, index) => expect(concept.id).toBe(index));
  });

  it("names Fluent files after emoji.json's image names", async () => {
    const records = await readEmojiRecords();
    expect(fluentImageName("1f44b-1f3fd.png")).toBe("1f44b-1f3fd.webp");
    const catalog = buildCatalog(records, { fluentImages: new Set(["1f600.webp", "1f44b-1f3fd.webp", "unrelated.webp"]) });
    const fluent = catalog.images.filter((ref) => ref.style === "fluent");
    expect(fluent.map((ref) => [catalog.concepts[ref.conceptId]!.name, ref.skinTones.join("-"), ref.image])).toEqual([
      ["GRINNING FACE", "", "1f600.webp"],
      ["WAVING HAND SIGN", "1F3FD", "1f44b-1f3fd.webp"],
    ]);
  });

  it("reads a Fluent WebP as 64×64 RGBA: transparent corners, an opaque yellow-orange face", async () => {
    const catalog = await loadEmojiCatalog();
    const ref = catalog.images.find((r) => r.style === "fluent" && r.image === "1f600.webp")!;
    const image = await loadRgbaImage(ref);
    expect([image.width, image.height, image.data.length]).toEqual([64, 64, 64 * 64 * 4]);
    expect(image.data[3]).toBe(0); // top-left corner
    const centre = (32 * 64 + 32) * 4;
    expect(image.data[centre + 3]).toBe(255);
    const mean = [0, 0, 0];
    let opaque = 0;
    for (let i = 0; i < 64 * 64; i++) {
      if (image.data[4 * i + 3]! < 255) continue;
      opaque++;
      for (let c = 0; c < 3; c++) mean[c]! += image.data[4 * i + c]! / 255;
    }
    expect(opaque / (64 * 64)).toBeGreaterThan(0.5); // a round face fills most of the square
    const [r, g, b] = mean.map((sum) => sum / opaque) as [number, number, number];
    expect(r).toBeGreaterThan(0.7); // yellow-orange: red > green > blue
    expect(g).toBeLessThan(r);
    expect(b).toBeLessThan(g - 0.05);
  });

  it("finds every referenced image on disk", async () => {
    const catalog = await loadEmojiCatalog();
    const missing = catalog.images.filter((ref) => !existsSync(imagePath(ref)));
    expect(missing).toEqual([]);
  });

  it("keeps skin-tone variants with their modifiers", async () => {
    const catalog = await loadEmojiCatalog();
    const wave = catalog.concepts.find((concept) => concept.name === "WAVING HAND SIGN")!;
    const waves = catalog.images.filter((ref) => ref.conceptId === wave.id && ref.style === "google");
    expect(waves.map((ref) => ref.skinTones.join("-"))).toEqual(["", "1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"]);
    expect(waves[3]!.image).toBe("1f44b-1f3fd.png");
  });
});
