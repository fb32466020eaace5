/**
 * The emoji catalogue of the `emoji-datasource-*` packages (iamcal/emoji-data 16.0.0): one concept per `emoji.json`
 * row, one image per (concept, skin tone, art style) that the style's package ships.
 *
 * All four packages carry the same `emoji.json` (checked in a test), so metadata comes from the Google one; images come
 * from `node_modules/emoji-datasource-<style>/img/<style>/64/<image>` (64×64 PNGs).
 *
 * A fifth style, Microsoft's Fluent Emoji in their 3D look (MIT), comes from `@lobehub/fluent-emoji-3d`: 256×256 WebP
 * files named like `emoji.json`'s `image` (`1f44b-1f3fd.webp` for `1f44b-1f3fd.png`), shrunk to 64×64 when read. A
 * Fluent image exists for a concept and tone exactly when that file does, except country and subdivision flags:
 * Microsoft's set has none, so the package's flags come from elsewhere under no stated licence, and we leave them out.
 */
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The art styles. Only Google, Twitter and Fluent may train shipped models (see `splits.ts`). */
export const EMOJI_STYLES = ["google", "twitter", "apple", "facebook", "fluent"] as const;
export type EmojiStyle = (typeof EMOJI_STYLES)[number];
/** The styles of the `emoji-datasource-<style>` packages (availability from `emoji.json`'s `has_img_<style>`). */
export const DATASOURCE_STYLES = ["google", "twitter", "apple", "facebook"] as const satisfies readonly EmojiStyle[];
type DatasourceStyle = (typeof DATASOURCE_STYLES)[number];
/** The npm package of the Fluent Emoji 3D images (`assets/<code points>.webp`). */
export const FLUENT_PACKAGE = "@lobehub/fluent-emoji-3d";
/** Subcategories whose Fluent files are not Microsoft's (so not under its MIT licence): never catalogued. */
export const FLUENT_EXCLUDED_SUBCATEGORIES: readonly string[] = Object.freeze(["country-flag", "subdivision-flag"]);

/** Side length of the PNGs we read (the packages also ship 16, 20 and 32; 64 is the largest). */
const EMOJI_IMAGE_SIZE = 64;

/** The fields of an `emoji.json` row (or of one of its `skin_variations`) that we use. */
export interface EmojiImageFlags {
  image: string;
  unified: string;
  has_img_google: boolean;
  has_img_twitter: boolean;
  has_img_apple: boolean;
  has_img_facebook: boolean;
}
export interface EmojiRecord extends EmojiImageFlags {
  /** Unicode name: upper case (`"GRINNING FACE"`), except country/subdivision flags (`"France Flag"`). */
  name: string;
  short_name: string;
  /** Slack/GitHub-style aliases with underscores or hyphens (`"waving_white_flag"`, `"flag-fr"`). */
  short_names: string[];
  category: string;
  subcategory: string;
  sort_order: number;
  /** Keyed by modifier code points: `"1F3FB"` (one person) or `"1F3FB-1F3FF"` (two people, left then right). */
  skin_variations?: Record<string, EmojiImageFlags>;
}

/** Categories that are not pictures of a concept: the five skin-tone swatches. */
export const EXCLUDED_CATEGORIES: readonly string[] = Object.freeze(["Component"]);

/** One emoji (all its skin tones and art styles share it). `id` is its index in `EmojiCatalog.concepts`. */
export interface EmojiConcept {
  id: number;
  /** `emoji.json` `name`, verbatim: the key of the held-out hash. */
  name: string;
  unified: string;
  shortNames: readonly string[];
  category: string;
  subcategory: string;
}

/** One image: a concept in one art style, optionally with skin-tone modifiers. */
export interface EmojiImageRef {
  conceptId: number;
  style: EmojiStyle;
  /** Modifier code points (`["1F3FD"]`, or two for two-person emoji); empty for the default (yellow / no tone). */
  skinTones: readonly string[];
  /** The image's file name inside `styleImageDirectory(style)` (a PNG, or a WebP for Fluent). */
  image: string;
}

export interface EmojiCatalog {
  concepts: readonly EmojiConcept[];
  /** Every image of every style, in `emoji.json` order, then skin-tone order, then style order. */
  images: readonly EmojiImageRef[];
}

const require = createRequire(import.meta.url);

/** Absolute directory of a style's images (resolved from this workspace's dev dependencies). */
export function styleImageDirectory(style: EmojiStyle): string {
  if (style === "fluent") return join(dirname(require.resolve(`${FLUENT_PACKAGE}/package.json`)), "assets");
  const packageJson = require.resolve(`emoji-datasource-${style}/package.json`);
  return join(dirname(packageJson), "img", style, String(EMOJI_IMAGE_SIZE));
}

/** The Fluent file name for an `emoji.json` image name: `1f600.png` → `1f600.webp`. */
export function fluentImageName(image: string): string {
  return image.replace(/\.png$/, ".webp");
}

/** The file names of the installed Fluent images. */
export async function listFluentImages(): Promise<Set<string>> {
  const names = await readdir(styleImageDirectory("fluent"));
  return new Set(names.filter((name) => name.endsWith(".webp")));
}

export interface BuildCatalogOptions {
  /** The Fluent files that exist (`listFluentImages()`); without it the catalogue has no Fluent images. */
  fluentImages?: ReadonlySet<string>;
}

/** Absolute path of one image's file (PNG, or WebP for Fluent). */
export function imagePath(ref: EmojiImageRef): string {
  return join(styleImageDirectory(ref.style), ref.image);
}

/** Reads `emoji.json` of one style package (all four are identical). */
export async function readEmojiRecords(style: DatasourceStyle = "google"): Promise<EmojiRecord[]> {
  const path = require.resolve(`emoji-datasource-${style}/emoji.json`);
  return JSON.parse(await readFile(path, "utf8")) as EmojiRecord[];
}

/** Builds concepts and image references from `emoji.json` rows (sorted by `sort_order`; Component rows dropped). */
export function buildCatalog(records: readonly EmojiRecord[], options: BuildCatalogOptions = {}): EmojiCatalog {
  const { fluentImages } = options;
  const sorted = records
    .filter((record) => !EXCLUDED_CATEGORIES.includes(record.category))
    .sort((a, b) => a.sort_order - b.sort_order);
  const concepts: EmojiConcept[] = [];
  const images: EmojiImageRef[] = [];
  for (const record of sorted) {
    const conceptId = concepts.length;
    concepts.push(
      Object.freeze({
        id: conceptId,
        name: record.name,
        unified: record.unified,
        shortNames: Object.freeze([...record.short_names]),
        category: record.category,
        subcategory: record.subcategory,
      }),
    );
    const fluentAllowed = fluentImages !== undefined && !FLUENT_EXCLUDED_SUBCATEGORIES.includes(record.subcategory);
    const variants: [string[], EmojiImageFlags][] = [[[], record]];
    for (const [key, variant] of Object.entries(record.skin_variations ?? {})) variants.push([key.split("-"), variant]);
    for (const [skinTones, variant] of variants) {
      for (const style of EMOJI_STYLES) {
        let image: string | undefined;
        if (style === "fluent") {
          const name = fluentImageName(variant.image);
          if (fluentAllowed && fluentImages.has(name)) image = name;
        } else if (variant[`has_img_${style satisfies DatasourceStyle}`]) {
          image = variant.image;
        }
        if (image !== undefined) images.push(Object.freeze({ conceptId, style, skinTones: Object.freeze(skinTones), image }));
      }
    }
  }
  return { concepts: Object.freeze(concepts), images: Object.freeze(images) };
}

let catalogPromise: Promise<EmojiCatalog> | undefined;

/** The catalogue of the installed packages (read once per process). */
export function loadEmojiCatalog(): Promise<EmojiCatalog> {
  catalogPromise ??= Promise.all([readEmojiRecords(), listFluentImages()]).then(([records, fluentImages]) =>
    buildCatalog(records, { fluentImages }),
  );
  return catalogPromise;
}
