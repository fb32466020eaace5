/**
 * The fixed splits. Defined here, in code, and pinned by `splits.test.ts`:
 *
 *   held-out concepts   stableHash(emoji.json name) % 1000 < 100, i.e. ~10% of concepts, every style and skin tone
 *   train               Google + Twitter + Fluent images of the other concepts (all skin tones)
 *   unseen-style        Apple + Facebook images of the training concepts: two art styles never trained on
 *   unseen-concept      the held-out concepts in all five styles: zero-shot on names never trained on
 *
 * The Apple and Facebook images are not licensed for redistribution, so nothing trained for shipping may see them; they
 * only ever appear in the evaluation splits.
 */
import { EMOJI_STYLES, type EmojiCatalog, type EmojiConcept, type EmojiImageRef, type EmojiStyle } from "./emoji-metadata.js";
import { stableHash } from "./random.js";

/** Styles whose images may train shipped models (Google: Apache-2.0; Twitter/Twemoji: CC-BY 4.0; Fluent: MIT). */
export const TRAINING_STYLES: readonly EmojiStyle[] = Object.freeze(["google", "twitter", "fluent"]);
/** Styles used for evaluation only (not licensed for redistribution; never in `train`). */
export const EVALUATION_STYLES: readonly EmojiStyle[] = Object.freeze(["apple", "facebook"]);

/** Held-out concepts: those whose name hashes below this many per mille. */
export const HELD_OUT_PER_MILLE = 100;

/** Whether a concept is held out of training (by its `emoji.json` name; stable across runs and machines). */
export function isHeldOutConcept(concept: Pick<EmojiConcept, "name">): boolean {
  return stableHash(concept.name) % 1000 < HELD_OUT_PER_MILLE;
}

export type SplitName = "train" | "unseen-style" | "unseen-concept";
export const SPLIT_NAMES: readonly SplitName[] = Object.freeze(["train", "unseen-style", "unseen-concept"]);

export interface SplitDefinition {
  /** Art styles whose images belong to the split. */
  styles: readonly EmojiStyle[];
  /** Which concepts: the training concepts or the held-out ones. */
  concepts: "training" | "held-out";
  description: string;
}

export const SPLITS: Readonly<Record<SplitName, SplitDefinition>> = Object.freeze({
  train: Object.freeze({
    styles: TRAINING_STYLES,
    concepts: "training",
    description: "Google, Twitter and Fluent images of the training concepts (all skin tones)",
  }),
  "unseen-style": Object.freeze({
    styles: EVALUATION_STYLES,
    concepts: "training",
    description: "Apple and Facebook images of the training concepts: art styles never trained on",
  }),
  "unseen-concept": Object.freeze({
    styles: Object.freeze([...EMOJI_STYLES]),
    concepts: "held-out",
    description: "held-out concepts (~10% of emoji names, by a stable hash) in all five styles",
  }),
} satisfies Record<SplitName, SplitDefinition>);

/** The concepts held out of training, in catalogue order. */
export function heldOutConcepts(catalog: EmojiCatalog): EmojiConcept[] {
  return catalog.concepts.filter(isHeldOutConcept);
}

/** Whether one image belongs to a split. */
export function inSplit(catalog: EmojiCatalog, ref: EmojiImageRef, split: SplitName): boolean {
  const definition = SPLITS[split];
  const concept = catalog.concepts[ref.conceptId]!;
  const wantHeldOut = definition.concepts === "held-out";
  return definition.styles.includes(ref.style) && isHeldOutConcept(concept) === wantHeldOut;
}

/** The images of a split, in catalogue order. */
export function splitImages(catalog: EmojiCatalog, split: SplitName): EmojiImageRef[] {
  return catalog.images.filter((ref) => inSplit(catalog, ref, split));
}

export interface SplitCounts {
  /** Distinct concepts with at least one image in the split. */
  concepts: number;
  /** All images, skin-tone variants included. */
  images: number;
  /** Images without skin-tone modifiers (one per concept and style). */
  baseImages: number;
  /** Images per style. */
  byStyle: Partial<Record<EmojiStyle, number>>;
}

/** Counts of every split (pinned in `splits.test.ts`; the model card quotes them). */
export function splitCounts(catalog: EmojiCatalog): Record<SplitName, SplitCounts> {
  const result = {} as Record<SplitName, SplitCounts>;
  for (const split of SPLIT_NAMES) {
    const images = splitImages(catalog, split);
    const byStyle: Partial<Record<EmojiStyle, number>> = {};
    for (const ref of images) byStyle[ref.style] = (byStyle[ref.style] ?? 0) + 1;
    result[split] = {
      concepts: new Set(images.map((ref) => ref.conceptId)).size,
      images: images.length,
      baseImages: images.filter((ref) => ref.skinTones.length === 0).length,
      byStyle,
    };
  }
  return result;
}
