import { describe, expect, it } from "vitest";
import {
  aliasNames,
  allCaptions,
  canonicalCaption,
  CAPTION_TEMPLATES,
  captionFromTemplate,
  naturalName,
  sampleCaption,
  skinTonePhrase,
  withArticle,
} from "./captions.js";
import { loadEmojiCatalog, type EmojiConcept } from "./emoji-metadata.js";
import { createRandom } from "./random.js";

async function concept(name: string): Promise<EmojiConcept> {
  const catalog = await loadEmojiCatalog();
  const found = catalog.concepts.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no concept ${name}`);
  return found;
}

describe("naturalName", () => {
  it("lower-cases Unicode names and reads flags and attributes naturally", async () => {
    expect(naturalName(await concept("GRINNING FACE"))).toBe("grinning face");
    expect(naturalName(await concept("France Flag"))).toBe("flag of France");
    expect(naturalName(await concept("WAVING HAND SIGN"))).toBe("waving hand");
    expect(naturalName(await concept("THUMBS UP SIGN"))).toBe("thumbs up");
    expect(naturalName(await concept("FULL MOON SYMBOL"))).toBe("full moon");
    expect(naturalName(await concept("WARNING SIGN"))).toBe("warning sign");
    expect(naturalName(await concept("MAN: RED HAIR"))).toBe("man with red hair");
    expect(naturalName(await concept("PERSON: BALD"))).toBe("bald person");
    expect(naturalName(await concept("KEYCAP: *"))).toBe("keycap *");
    expect(naturalName(await concept("RAINBOW FLAG"))).toBe("rainbow flag");
  });

  it("offers short names as aliases, with spaces, without flag codes or the name itself", async () => {
    expect(aliasNames(await concept("FISTED HAND SIGN"))).toEqual(["facepunch", "punch"]);
    expect(aliasNames(await concept("France Flag"))).toEqual([]);
    expect(aliasNames(await concept("RED APPLE"))).toEqual(["apple"]);
    expect(aliasNames(await concept("THUMBS UP SIGN"))).toEqual(["thumbsup"]);
  });
});

describe("articles and skin tones", () => {
  it("chooses a / an / none / the", () => {
    expect(withArticle("grinning face")).toBe("a grinning face");
    expect(withArticle("red apple")).toBe("a red apple");
    expect(withArticle("ear of maize")).toBe("an ear of maize");
    expect(withArticle("unicorn face")).toBe("a unicorn face");
    expect(withArticle("hourglass")).toBe("an hourglass");
    expect(withArticle("clapping hands")).toBe("clapping hands");
    expect(withArticle("woman with bunny ears")).toBe("a woman with bunny ears");
    expect(withArticle("person lifting weights")).toBe("a person lifting weights");
    expect(withArticle("two women holding hands")).toBe("two women holding hands");
    expect(withArticle("bus")).toBe("a bus");
    expect(withArticle("flag of France")).toBe("the flag of France");
  });

  it("names one or two skin tones", () => {
    expect(skinTonePhrase([])).toBe("");
    expect(skinTonePhrase(["1F3FD"])).toBe("medium skin tone");
    expect(skinTonePhrase(["1F3FB", "1F3FF"])).toBe("light skin tone and dark skin tone");
    expect(skinTonePhrase(["1F3FC", "1F3FC"])).toBe("medium-light skin tone");
    expect(() => skinTonePhrase(["1F600"])).toThrow(/unknown skin-tone/);
  });
});

describe("caption templates", () => {
  it("write the documented examples", async () => {
    const apple = await concept("RED APPLE");
    const wave = await concept("WAVING HAND SIGN");
    expect(canonicalCaption(await concept("GRINNING FACE"))).toBe("a grinning face");
    expect(canonicalCaption(await concept("France Flag"))).toBe("flag of France");
    expect(canonicalCaption(wave, ["1F3FD"])).toBe("a waving hand, medium skin tone");
    expect(allCaptions(apple)).toEqual([
      "a red apple",
      "an emoji of a red apple",
      "a red apple, food",
      "a red apple, fruit",
      "an icon of a red apple",
      "a picture of a red apple",
      "a red apple emoji",
      "fruit: red apple",
    ]);
    expect(allCaptions(wave, ["1F3FD"])).toEqual([
      "a waving hand, medium skin tone",
      "an emoji of a waving hand, medium skin tone",
      "a waving hand, medium skin tone, people",
      "a waving hand, medium skin tone, open hand",
      "an icon of a waving hand, medium skin tone",
      "a picture of a waving hand, medium skin tone",
      "a waving hand emoji, medium skin tone",
      "open hand: waving hand, medium skin tone",
    ]);
    expect(allCaptions(await concept("France Flag")).slice(0, 3)).toEqual([
      "flag of France",
      "an emoji of the flag of France",
      "flag of France, flag",
    ]);
    expect(captionFromTemplate(apple, [], 1, "apple")).toBe("an emoji of an apple");
  });

  it("are lower-case apart from place names, and never doubled or empty", async () => {
    const catalog = await loadEmojiCatalog();
    for (const concept of catalog.concepts) {
      for (const caption of allCaptions(concept)) {
        expect(caption.length).toBeGreaterThanOrEqual(3);
        expect(caption).not.toMatch(/ {2}|,,|: .*: |^\s|\s$/);
        if (concept.category !== "Flags") expect(caption).toBe(caption.toLowerCase());
      }
    }
  });

  it("samples templates and aliases deterministically per seed", async () => {
    const fist = await concept("FISTED HAND SIGN");
    const sample = (seed: number) => Array.from({ length: 50 }, (_, i) => sampleCaption(fist, [], createRandom(seed * 1000 + i)));
    expect(sample(1)).toEqual(sample(1));
    expect(sample(1)).not.toEqual(sample(2));
    const captions = new Set(sample(1).concat(sample(2), sample(3)));
    expect(captions.size).toBeGreaterThan(CAPTION_TEMPLATES.length);
    const aliased = [...captions].filter((caption) => caption.includes("punch"));
    expect(aliased.length).toBeGreaterThan(0);
    for (const caption of aliased) expect(caption).toMatch(/^(face)?punch( emoji)?$|^closed hand: (face)?punch$/);
    expect([...captions].some((caption) => caption.includes("fisted hand"))).toBe(true);
  });
});
