/**
 * Seeded augmentation (off unless asked for; evaluation never uses it). The light default:
 * - horizontal flip with probability 1/2, only where the caption stays true (`canFlipHorizontally`);
 * - a shift of up to ±2 px in x and y (at 64×64; revealed pixels are transparent);
 * - a background colour, one of four kinds with equal odds: white, black, grey (level 0.25–0.75), any colour.
 * Opt-in style augmentation (`STYLE_AUGMENTATION`), for a model that must recognise art styles it never saw (the
 * held-out emoji styles differ from the training ones in framing, tilt, shading and colour grading):
 * - zoom about the centre and a small rotation (bilinear resampling of the 64×64 source);
 * - colour jitter that keeps hue (colour words are in the captions): brightness, contrast, saturation, and a linear
 *   light gradient across the image in a random direction (a stand-in for glossy or flat shading).
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
  /** Zoom factor range about the image centre, uniform in [min, max] (default [1, 1]: off). */
  scale?: readonly [number, number];
  /** Largest rotation in degrees, uniform in ±maxRotation (default 0: off). */
  maxRotation?: number;
  /** Colour jitter strengths, each uniform in ±strength (default all 0: off); see `ColourJitter`. */
  colour?: ColourJitter;
}

/**
 * Hue-preserving colour jitter strengths: brightness multiplies colour by 1 ± b; saturation scales the distance from
 * the pixel's luma by 1 ± s; contrast scales the distance from mid-grey by 1 ± c; shading multiplies colour by
 * 1 + g·(direction · position), position in [-1, 1]² across the image, |g| ≤ shading.
 */
export interface ColourJitter {
  brightness?: number;
  contrast?: number;
  saturation?: number;
  shading?: number;
}

const COLOUR_JITTERS: readonly string[] = ["brightness", "contrast", "saturation", "shading"] satisfies (keyof ColourJitter)[];

/**
 * The style augmentation the CLIP trainer uses on top of the light default: zoom 0.8–1.15, ±12°, brightness ±0.15,
 * contrast ±0.25, saturation ±0.35, shading ±0.3.
 */
export const STYLE_AUGMENTATION: Readonly<AugmentOptions> = Object.freeze({
  scale: Object.freeze([0.8, 1.15]) as readonly [number, number],
  maxRotation: 12,
  colour: Object.freeze({ brightness: 0.15, contrast: 0.25, saturation: 0.35, shading: 0.3 }),
});

/** One example's augmentation, drawn once from its own seeded generator. */
export interface Augmentation {
  flip: boolean;
  /** Shift in source pixels: the output pixel (x, y) shows the source pixel (x - shiftX, y - shiftY). */
  shiftX: number;
  shiftY: number;
  /** RGB in [0, 1], or undefined for the batch's default background. */
  background: readonly [number, number, number] | undefined;
  /** Zoom about the centre (1 = none). */
  scale: number;
  /** Rotation in radians, counter-clockwise on screen (0 = none). */
  rotation: number;
  /** Colour multipliers (1 = none) and the shading gradient (0, 0 = none): see `ColourJitter`. */
  brightness: number;
  contrast: number;
  saturation: number;
  shadingX: number;
  shadingY: number;
}

export const NO_AUGMENTATION: Augmentation = Object.freeze({
  flip: false,
  shiftX: 0,
  shiftY: 0,
  background: undefined,
  scale: 1,
  rotation: 0,
  brightness: 1,
  contrast: 1,
  saturation: 1,
  shadingX: 0,
  shadingY: 0,
});

/** Whether `augmentation` moves pixels other than by whole-pixel shifts and flips (zoom or rotation). */
export function resamples(augmentation: Augmentation): boolean {
  return augmentation.scale !== 1 || augmentation.rotation !== 0;
}

/** Whether `augmentation` changes colours (brightness, contrast, saturation or shading). */
export function jittersColour(augmentation: Augmentation): boolean {
  const { brightness, contrast, saturation, shadingX, shadingY } = augmentation;
  return brightness !== 1 || contrast !== 1 || saturation !== 1 || shadingX !== 0 || shadingY !== 0;
}

/**
 * Draws one augmentation (always consuming the same number of draws, so each choice is independent of the others;
 * the style draws come after the light ones, so turning style augmentation on leaves flips, shifts and backgrounds
 * as they were).
 */
export function sampleAugmentation(options: AugmentOptions, flippable: boolean, random: Random): Augmentation {
  const maxShift = options.maxShift ?? 2;
  const [minScale, maxScale] = options.scale ?? [1, 1];
  const maxRotation = options.maxRotation ?? 0;
  const jitter = options.colour ?? {};
  if (!(minScale > 0 && maxScale >= minScale)) throw new Error(`sampleAugmentation: scale must be [min, max] with 0 < min ≤ max (got [${minScale}, ${maxScale}])`);
  if (!(maxRotation >= 0 && maxRotation <= 180)) throw new Error(`sampleAugmentation: maxRotation must be in [0, 180] degrees (got ${maxRotation})`);
  for (const [name, value] of Object.entries(jitter)) {
    if (!COLOUR_JITTERS.includes(name)) throw new Error(`sampleAugmentation: unknown colour.${name} (known: ${COLOUR_JITTERS.join(", ")})`);
    if (!(typeof value === "number" && value >= 0 && value < 1)) throw new Error(`sampleAugmentation: colour.${name} must be in [0, 1) (got ${String(value)})`);
  }
  const flipDraw = random();
  const shiftX = randomInt(random, 2 * maxShift + 1) - maxShift;
  const shiftY = randomInt(random, 2 * maxShift + 1) - maxShift;
  const kinds = options.backgrounds ?? BACKGROUND_KINDS;
  if (kinds.length === 0) throw new Error("sampleAugmentation: backgrounds must name at least one kind");
  const kind = kinds[randomInt(random, kinds.length)]!;
  const grey = 0.25 + 0.5 * random();
  const colour = [random(), random(), random()] as const;
  const symmetric = (strength: number) => strength * (2 * random() - 1) + 0; // uniform in ±strength (+ 0: never -0)
  const scale = minScale + (maxScale - minScale) * random();
  const rotation = (symmetric(maxRotation) * Math.PI) / 180;
  const brightness = 1 + symmetric(jitter.brightness ?? 0);
  const contrast = 1 + symmetric(jitter.contrast ?? 0);
  const saturation = 1 + symmetric(jitter.saturation ?? 0);
  const shading = symmetric(jitter.shading ?? 0);
  const direction = 2 * Math.PI * random();
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
    scale,
    rotation,
    brightness,
    contrast,
    saturation,
    // `+ 0`: a zero strength times a negative cosine is -0; "off" then compares equal to NO_AUGMENTATION.
    shadingX: shading * Math.cos(direction) + 0,
    shadingY: shading * Math.sin(direction) + 0,
  };
}
