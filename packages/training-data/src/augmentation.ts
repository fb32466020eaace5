/**
 * Light, seeded augmentation (off unless asked for; evaluation never uses it):
 * - horizontal flip with probability 1/2, only where the caption stays true (`canFlipHorizontally`);
 * - a shift of up to ±2 px in x and y (at 64×64; revealed pixels are transparent);
 * - a background colour, one of four kinds with equal odds: white, black, grey (level 0.25–0.75), any colour.
 */
import type { EmojiConcept } from "./emoji-metadata.js";
import { randomInt, type Random } from "./random.js";

/**
 * The flip rule. A mirrored emoji keeps its caption unless it carries text, a direction or a fixed layout, so flips
 * are disallowed for:
 * 1. whole categories: Flags (mirrored flags are different or wrong flags) and Symbols (letters, digits, keycaps,
 *    arrows, zodiac and religious glyphs, media buttons, warning and transport signs);
 * 2. names or short names with a direction word: left, right, leftwards, rightwards, clockwise, anticlockwise,
 *    counterclockwise, arrow(s), facing, pointing, backhand, play, reverse, rewind, and the moon phases (waxing,
 *    waning, quarter, crescent: a mirrored waxing moon is a waning one);
 * 3. names with a word for text, digits or a dial outside Symbols: clock/o'clock, calendar, newspaper, banknote,
 *    chart, ticket(s), hundred, input, squared, circled, letter(s), number(s), label, "abc"/"1234", post office,
 *    octagonal (STOP), e-mail, memo, page, receipt, scroll, ledger, notebook, card index, name badge, cheque, zzz.
 * Everything else (faces, people, hands without a direction, animals, food, vehicles, objects) may flip.
 */
export function canFlipHorizontally(concept: Pick<EmojiConcept, "name" | "shortNames" | "category">): boolean {
  if (NO_FLIP_CATEGORIES.includes(concept.category)) return false;
  const words = [concept.name.toLowerCase(), ...concept.shortNames.map((s) => s.replace(/[_-]+/g, " "))].join(" | ");
  return !DIRECTION_WORDS.test(words) && !TEXT_WORDS.test(words);
}

export const NO_FLIP_CATEGORIES: readonly string[] = Object.freeze(["Flags", "Symbols"]);
const DIRECTION_WORDS =
  /\b(left|right|leftwards|rightwards|clockwise|anticlockwise|counterclockwise|arrows?|facing|pointing|backhand|play|reverse|rewind|waxing|waning|quarter|crescent)\b/;
const TEXT_WORDS =
  /\b(clock|o ?clock|oclock|calendar|newspaper|banknote|chart|tickets?|hundred|100|input|squared|circled|letters?|numbers?|label|abc|abcd|1234|post office|octagonal|e mail|memo|page|receipt|scroll|ledger|notebook|card index|name badge|cheque|zzz|sleeping symbol)\b/;

/** The background colour kinds augmentation draws from. */
export type BackgroundKind = "white" | "black" | "grey" | "colour";
export const BACKGROUND_KINDS: readonly BackgroundKind[] = Object.freeze(["white", "black", "grey", "colour"]);

/** What to augment; `true` in `BatchOptions.augment` means all of these with their defaults. */
export interface AugmentOptions {
  /** Mirror with probability 1/2 where `canFlipHorizontally` allows (default true). */
  flip?: boolean;
  /** Largest shift in source pixels (at 64×64), each axis uniform in [-maxShift, maxShift] (default 2; 0 = off). */
  maxShift?: number;
  /** Draw a random background (default true; ignored for RGBA output). */
  background?: boolean;
  /** Kinds to draw from, with equal odds (default all four). Black line art (clip art) wants `["white", "grey", "colour"]`. */
  backgrounds?: readonly BackgroundKind[];
}

/** One example's augmentation, drawn once from its own seeded generator. */
export interface Augmentation {
  flip: boolean;
  /** Shift in source pixels: the output pixel (x, y) shows the source pixel (x - shiftX, y - shiftY). */
  shiftX: number;
  shiftY: number;
  /** RGB in [0, 1], or undefined for the batch's default background. */
  background: readonly [number, number, number] | undefined;
}

export const NO_AUGMENTATION: Augmentation = Object.freeze({ flip: false, shiftX: 0, shiftY: 0, background: undefined });

/** Draws one augmentation (always consuming the same number of draws, so each choice is independent of the others). */
export function sampleAugmentation(options: AugmentOptions, flippable: boolean, random: Random): Augmentation {
  const maxShift = options.maxShift ?? 2;
  const flipDraw = random();
  const shiftX = randomInt(random, 2 * maxShift + 1) - maxShift;
  const shiftY = randomInt(random, 2 * maxShift + 1) - maxShift;
  const kinds = options.backgrounds ?? BACKGROUND_KINDS;
  if (kinds.length === 0) throw new Error("sampleAugmentation: backgrounds must name at least one kind");
  const kind = kinds[randomInt(random, kinds.length)]!;
  const grey = 0.25 + 0.5 * random();
  const colour = [random(), random(), random()] as const;
  const backgrounds: Record<BackgroundKind, readonly [number, number, number]> = {
    white: [1, 1, 1],
    black: [0, 0, 0],
    grey: [grey, grey, grey],
    colour,
  };
  return {
    flip: (options.flip ?? true) && flippable && flipDraw < 0.5,
    shiftX,
    shiftY,
    background: (options.background ?? true) ? backgrounds[kind] : undefined,
  };
}
