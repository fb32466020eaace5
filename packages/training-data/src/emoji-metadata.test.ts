import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { EMOJI_STYLES, imagePath, loadEmojiCatalog, readEmojiRecords } from "./emoji-metadata.js";

const require = createRequire(import.meta.url);

describe("emoji catalogue", () => {
  it("reads the same emoji.json from all four style packages (16.0.0)", () => {
    const texts = EMOJI_STYLES.map((style) => readFileSync(require.resolve(`emoji-datasource-${style}/emoji.json`), "utf8"));
    for (const text of texts) expect(text).toBe(texts[0]);
    for (const style of EMOJI_STYLES) {
      expect((require(`emoji-datasource-${style}/package.json`) as { version: string }).version).toBe("16.0.0");
    }
  });

  it("has one concept per emoji.json row except the skin-tone swatches, and one image per has_img flag", async () => {
    const records = await readEmojiRecords();
    const catalog = await loadEmojiCatalog();
    expect(records.length).toBe(1911);
    expect(catalog.concepts.length).toBe(1906);
    expect(catalog.concepts.some((concept) => concept.category === "Component")).toBe(false);
    expect(catalog.images.length).toBe(14980);
    catalog.concepts.forEach((concept, index) => expect(concept.id).toBe(index));
  });

  it("finds every referenced PNG on disk", async () => {
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
