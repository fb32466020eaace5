/**
 * Captions from emoji metadata: a lower-case natural name, optional skin-tone phrase, and one of several templates.
 *
 *   naturalName    "GRINNING FACE" → "grinning face"; "France Flag" → "flag of France"; "WAVING HAND SIGN" → "waving hand"
 *   skinTonePhrase ["1F3FD"] → "medium skin tone"; ["1F3FB", "1F3FF"] → "light skin tone and dark skin tone"
 *   templates      "a grinning face", "an emoji of a red apple", "a red apple, food", "flag of France",
 *                  "a waving hand, medium skin tone", … (see CAPTION_TEMPLATES)
 *
 * Template 0 (`canonicalCaption`) is the one evaluation uses; training samples a template, or sometimes a short-name
 * alias in one of ALIAS_TEMPLATES ("facepunch emoji"), from a seeded generator.
 */
import type { EmojiConcept } from "./emoji-metadata.js";
import type { Random } from "./random.js";

/** Fitzpatrick modifiers → the CLDR skin-tone names. */
export const SKIN_TONE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  "1F3FB": "light skin tone",
  "1F3FC": "medium-light skin tone",
  "1F3FD": "medium skin tone",
  "1F3FE": "medium-dark skin tone",
  "1F3FF": "dark skin tone",
});

/** `emoji.json` categories → the short phrase templates append ("a red apple, food"). */
export const CATEGORY_PHRASES: Readonly<Record<string, string>> = Object.freeze({
  "Smileys & Emotion": "smiley",
  "People & Body": "people",
  "Animals & Nature": "nature",
  "Food & Drink": "food",
  "Travel & Places": "travel",
  Activities: "activity",
  Objects: "object",
  Symbols: "symbol",
  Flags: "flag",
});

/**
 * Subcategories whose hyphenated id does not read as a phrase. Any other id reads with hyphens as spaces
 * ("sky & weather", "musical-instrument" → "musical instrument").
 */
export const SUBCATEGORY_PHRASES: Readonly<Record<string, string>> = Object.freeze({
  "face-smiling": "smiling face",
  "face-affection": "face with affection",
  "face-tongue": "face with tongue",
  "face-hand": "face with hand",
  "face-neutral-skeptical": "neutral face",
  "face-sleepy": "sleepy face",
  "face-unwell": "unwell face",
  "face-hat": "face with hat",
  "face-glasses": "face with glasses",
  "face-concerned": "concerned face",
  "face-negative": "angry face",
  "face-costume": "costume face",
  "hand-fingers-open": "open hand",
  "hand-fingers-partial": "hand gesture",
  "hand-single-finger": "pointing hand",
  "hand-fingers-closed": "closed hand",
  "hand-prop": "hand holding something",
  "body-parts": "body part",
  "person-gesture": "person gesturing",
  "person-role": "person at work",
  "person-fantasy": "fantasy person",
  "person-activity": "person doing something",
  "person-sport": "person doing sport",
  "person-resting": "person resting",
  "person-symbol": "people symbol",
  "animal-mammal": "mammal",
  "animal-bird": "bird",
  "animal-amphibian": "amphibian",
  "animal-reptile": "reptile",
  "animal-marine": "sea animal",
  "animal-bug": "bug",
  "plant-flower": "flower",
  "plant-other": "plant",
  "food-fruit": "fruit",
  "food-vegetable": "vegetable",
  "food-prepared": "prepared food",
  "food-asian": "asian food",
  "food-sweet": "sweet",
  "place-map": "map",
  "place-geographic": "landscape",
  "place-building": "building",
  "place-religious": "religious building",
  "place-other": "place",
  "transport-ground": "ground transport",
  "transport-water": "boat",
  "transport-air": "aircraft",
  "transport-sign": "transport sign",
  "award-medal": "award",
  "light & video": "light and video",
  "book-paper": "book or paper",
  "arts & crafts": "arts and crafts",
  "sky & weather": "sky and weather",
  "av-symbol": "media symbol",
  "other-symbol": "symbol",
  "other-object": "object",
  alphanum: "letters and numbers",
  "country-flag": "country flag",
  "subdivision-flag": "regional flag",
});

/** Unicode-name suffixes that are not part of the thing pictured ("WAVING HAND SIGN" is a waving hand). */
const DROPPED_SUFFIXES: readonly RegExp[] = [/(?<=\bhands?|\bthumbs up|\bthumbs down) sign$/, /(?<=\bmoon) symbol$/];

/**
 * The concept's name as lower-case natural text (country and region names keep their capitals):
 * - "<Place> Flag" (country/subdivision flags) → "flag of <Place>";
 * - "MAN: RED HAIR" → "man with red hair", "PERSON: BALD" → "bald person", "KEYCAP: *" → "keycap *";
 *   other "X: Y" names ("FAMILY: MAN, BOY", "KISS: WOMAN, MAN") keep the colon;
 * - " SIGN"/" SYMBOL" are dropped only where they are not the thing pictured (DROPPED_SUFFIXES).
 */
export function naturalName(concept: Pick<EmojiConcept, "name" | "subcategory">): string {
  const { name, subcategory } = concept;
  if ((subcategory === "country-flag" || subcategory === "subdivision-flag") && name.endsWith(" Flag")) {
    return `flag of ${name.slice(0, -" Flag".length)}`;
  }
  let text = name.toLowerCase();
  const attribute = /^(man|woman|person): (.+)$/.exec(text);
  if (attribute) {
    const [, who, what] = attribute as unknown as [string, string, string];
    text = what === "bald" ? `bald ${who}` : `${who} with ${what}`;
  }
  text = text.replace(/^keycap: /, "keycap ");
  for (const suffix of DROPPED_SUFFIXES) text = text.replace(suffix, "");
  return text;
}

/**
 * Short-name aliases usable in place of the name: underscores/hyphens → spaces, letters and spaces only, at least 3
 * letters, not the natural name itself and not a flag code ("flag-fr"). "fisted hand" gets "facepunch" and "punch".
 */
export function aliasNames(concept: Pick<EmojiConcept, "name" | "subcategory" | "shortNames">): string[] {
  const natural = naturalName(concept);
  const aliases: string[] = [];
  for (const shortName of concept.shortNames) {
    if (shortName.startsWith("flag-")) continue;
    const text = shortName.replace(/[_-]+/g, " ").trim();
    if (!/^[a-z ]{3,}$/.test(text) || text === natural || aliases.includes(text)) continue;
    aliases.push(text);
  }
  return aliases;
}

/** The phrase for skin-tone modifiers; two equal tones read once. Empty for none. */
export function skinTonePhrase(skinTones: readonly string[]): string {
  const names = [...new Set(skinTones)].map((code) => {
    const toneName = SKIN_TONE_NAMES[code];
    if (toneName === undefined) throw new Error(`skinTonePhrase: unknown skin-tone modifier ${code}`);
    return toneName;
  });
  return names.join(" and ");
}

/** Plural nouns that do not end in "s". */
const IRREGULAR_PLURALS: readonly string[] = ["people", "men", "women", "children", "feet", "teeth", "mice", "geese"];

/**
 * "a"/"an" for a noun phrase, nothing when its head word is plural ("clapping hands", "two women holding hands"), and
 * "the" for "flag of …". The head is the last word before a preposition, a comma/colon or a participle ("a woman with
 * bunny ears", "a person lifting weights"). The vowel rule knows the common exceptions ("a unicorn", "an hourglass").
 */
export function withArticle(phrase: string): string {
  if (phrase.startsWith("flag of ")) return `the ${phrase}`;
  const beforeModifier = phrase.split(/ (?:with|of|in|on|for|over|and) |[,:]| (?=\w+ing\b)/)[0]!;
  const head = beforeModifier.trim().split(" ").at(-1) ?? phrase;
  const plural = IRREGULAR_PLURALS.includes(head) || (/s$/.test(head) && !/(ss|us|is|os|wards)$/.test(head));
  if (plural) return phrase;
  const vowelSound = /^(hour|honest|heir)/.test(phrase) || (/^[aeiou]/.test(phrase) && !/^(uni|use|usu|eu|one)/.test(phrase));
  return `${vowelSound ? "an" : "a"} ${phrase}`;
}

/** What a template receives: the name phrase (with skin tone when present) and the context phrases. */
export interface CaptionParts {
  /** The natural name or an alias. */
  name: string;
  /** "medium skin tone", or "" for none. */
  skinTone: string;
  category: string;
  subcategory: string;
}

/**
 * `name` with its article, a suffix and the skin tone: "a waving hand, medium skin tone",
 * "a waving hand emoji, medium skin tone"; `bareFlag` leaves "flag of France" without "the".
 */
function subject(parts: CaptionParts, bareFlag: boolean, suffix = ""): string {
  const named = (bareFlag && parts.name.startsWith("flag of ") ? parts.name : withArticle(parts.name)) + suffix;
  return parts.skinTone === "" ? named : `${named}, ${parts.skinTone}`;
}

/** The caption templates, in a fixed order (index 0 is the canonical one). */
export const CAPTION_TEMPLATES: readonly ((parts: CaptionParts) => string)[] = Object.freeze([
  (p) => subject(p, true), //                                   "a grinning face", "flag of France"
  (p) => `an emoji of ${subject(p, false)}`, //                 "an emoji of a red apple"
  (p) => `${subject(p, true)}, ${p.category}`, //               "a red apple, food"
  (p) => `${subject(p, true)}, ${p.subcategory}`, //            "a red apple, fruit"
  (p) => `an icon of ${subject(p, false)}`, //                  "an icon of a red apple"
  (p) => `a picture of ${subject(p, false)}`, //                "a picture of a waving hand, medium skin tone"
  (p) => subject(p, true, " emoji"), //                         "a grinning face emoji"
  (p) => {
    const named = p.skinTone === "" ? p.name : `${p.name}, ${p.skinTone}`;
    const redundant = p.name.startsWith(p.subcategory) || p.name.includes(":"); // "family: family: …", "x: kiss: …"
    return redundant ? named : `${p.subcategory}: ${named}`; // "fruit: red apple"
  },
]);

/** Probability that a sampled caption uses a short-name alias (when the concept has one) instead of the name. */
export const ALIAS_PROBABILITY = 0.2;

/** The parts of a caption for one concept and skin tone, with the natural name. */
export function captionParts(concept: EmojiConcept, skinTones: readonly string[] = []): CaptionParts {
  return {
    name: naturalName(concept),
    skinTone: skinTonePhrase(skinTones),
    category: CATEGORY_PHRASES[concept.category] ?? concept.category.toLowerCase(),
    subcategory: SUBCATEGORY_PHRASES[concept.subcategory] ?? concept.subcategory.replace(/-/g, " "),
  };
}

/** Template `templateIndex` for a concept (and skin tone). */
export function captionFromTemplate(
  concept: EmojiConcept,
  skinTones: readonly string[],
  templateIndex: number,
  name?: string,
): string {
  const template = CAPTION_TEMPLATES[templateIndex];
  if (template === undefined) throw new Error(`captionFromTemplate: no template ${templateIndex}`);
  const parts = captionParts(concept, skinTones);
  return template(name === undefined ? parts : { ...parts, name });
}

/** The evaluation caption: template 0 with the natural name ("a grinning face", "flag of France"). */
export function canonicalCaption(concept: EmojiConcept, skinTones: readonly string[] = []): string {
  return captionFromTemplate(concept, skinTones, 0);
}

/** Every template with the natural name (for prompt ensembling in evaluation). */
export function allCaptions(concept: EmojiConcept, skinTones: readonly string[] = []): string[] {
  return CAPTION_TEMPLATES.map((_, index) => captionFromTemplate(concept, skinTones, index));
}

/**
 * Templates for a short-name alias, which is often not a noun ("running", "grinning", "joy"), so it gets no article:
 * "running", "running emoji", "person doing sport: running" (each followed by the skin tone, if any).
 */
export const ALIAS_TEMPLATES: readonly ((parts: CaptionParts) => string)[] = Object.freeze([
  (p) => p.name,
  (p) => `${p.name} emoji`,
  (p) => `${p.subcategory}: ${p.name}`,
]);

/**
 * A training caption: with ALIAS_PROBABILITY (when the concept has aliases) a uniformly chosen alias in a uniformly
 * chosen ALIAS_TEMPLATES entry, otherwise the natural name in a uniformly chosen CAPTION_TEMPLATES entry.
 */
export function sampleCaption(concept: EmojiConcept, skinTones: readonly string[], random: Random): string {
  const templateDraw = random();
  const aliasDraw = random();
  const aliasIndexDraw = random();
  const aliases = aliasNames(concept);
  if (aliasDraw < ALIAS_PROBABILITY && aliases.length > 0) {
    const parts = { ...captionParts(concept, skinTones), name: aliases[Math.floor(aliasIndexDraw * aliases.length)]! };
    const caption = ALIAS_TEMPLATES[Math.floor(templateDraw * ALIAS_TEMPLATES.length)]!(parts);
    return parts.skinTone === "" ? caption : `${caption}, ${parts.skinTone}`;
  }
  return captionFromTemplate(concept, skinTones, Math.floor(templateDraw * CAPTION_TEMPLATES.length));
}
