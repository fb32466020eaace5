/**
 * Optional extra training data: Debian's `openclipart-svg` (Open Clip Art Library 0.18, ~7.5k public-domain SVGs with
 * titles and keyword tags), rasterised to 64×64 RGBA with `@resvg/resvg-js`.
 *
 * resvg aborts the whole process (a Rust panic) on a few of these files, so rasterising happens once, in child
 * processes, in `scripts/rasterize-openclipart.ts` (`npm run rasterize:openclipart -w @proj/training-data`), which
 * writes a cache: `images.bin` (N × 64×64×4 bytes) and `index.json` (metadata). The dataset reads that cache; without
 * it (no Debian package, or not rasterised yet) `createClipartDataset` says how to make it.
 *
 * Splits: `train` and a 5% `validation` (stable hash of the file path). Items that name a held-out emoji concept
 * (title, or a whole keyword, equal to its natural name) are dropped from both, so the unseen-concept evaluation stays
 * unseen, and at most CLIPART_MAX_PER_NAME items share a name. Clip art is training data only; the emoji held-out
 * sets remain the evaluation.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as ResvgModule from "@resvg/resvg-js";
import { streamBatches, type BatchOptions, type CaptionMode, type ImageCaptionBatch } from "./batch-stream.js";
import { withArticle, naturalName } from "./captions.js";
import { loadEmojiCatalog } from "./emoji-metadata.js";
import type { RgbaImage } from "./image-ops.js";
import { randomInt, stableHash, type Random } from "./random.js";
import { heldOutConcepts } from "./splits.js";

/** Where Debian installs the SVGs. */
export const OPENCLIPART_DIRECTORY = "/usr/share/openclipart/svg";
/** The rasterised cache (git-ignored). */
export const CLIPART_CACHE_DIRECTORY = join(dirname(fileURLToPath(import.meta.url)), "..", ".cache", "openclipart-64");
export const CLIPART_IMAGE_SIZE = 64;
/** Items kept per name (in path order): generated series ("gramastar" ×100) would otherwise dominate. */
export const CLIPART_MAX_PER_NAME = 3;
/** Validation items: stableHash(path) % 100 below this. */
export const CLIPART_VALIDATION_PERCENT = 5;

/** Title, keywords and author from an SVG's RDF metadata (`<cc:Work>`'s `dc:title`, `dc:subject`, `dc:creator`). */
export interface ClipartMetadata {
  title: string;
  keywords: string[];
  creator: string;
}

const XML_ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => XML_ENTITIES[name]!).trim();
}

export function parseClipartMetadata(svg: string): ClipartMetadata {
  const work = /<cc:Work[\s\S]*?<\/cc:Work>/.exec(svg)?.[0] ?? "";
  const withoutAgents = work.replace(/<cc:Agent[\s\S]*?<\/cc:Agent>/g, "");
  const title = unescapeXml(/<dc:title>([^<]*)<\/dc:title>/.exec(withoutAgents)?.[1] ?? "");
  const subject = /<dc:subject>([\s\S]*?)<\/dc:subject>/.exec(work)?.[1] ?? "";
  const keywords = [...subject.matchAll(/<rdf:li>([^<]*)<\/rdf:li>/g)].map((match) => unescapeXml(match[1]!));
  const creatorBlock = /<dc:creator>([\s\S]*?)<\/dc:creator>/.exec(work)?.[1] ?? "";
  const creator = unescapeXml(/<dc:title>([^<]*)<\/dc:title>/.exec(creatorBlock)?.[1] ?? "");
  return { title, keywords, creator };
}

/** Keywords that say nothing about the picture. */
const STOP_KEYWORDS: readonly string[] = [
  "clip art", "clipart", "image", "media", "public domain", "svg", "png", "externalsource", "openclipart", "drawing",
  "picture", "icon", "illustration", "unsorted", "remix", "cartoon", "colour", "color", "black and white", "outline",
]

function cleanPhrase(text: string): string {
  return text
    .replace(/^clip ?art[ _]by[ _].*?[ _]?[-:–][ _]?/i, "") // "Clipart by Nicu Buculei - bee"
    .toLowerCase()
    .replace(/[_-]+/g, " ")
    .replace(/\.svg$/, "")
    .replace(/\([^)]*\)/g, "")
    .replace(/\b\d+\b|(?<=[a-z])\d+[a-z]*\d*\b/g, "") // "clock05" → "clock", "star 49pt13step" → "star"
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * A caption name from the title, or else from the file name: lower case, underscores/hyphens as spaces, numbers and
 * file-name tails ("-md", "_01") dropped ("digital-camera" → "digital camera", "bee.svg" → "bee"). Undefined when
 * nothing usable is left: under 3 letters, the author's name (many files are named after their author), or a
 * placeholder ("untitled").
 */
export function clipartName(metadata: ClipartMetadata, fileName = ""): string | undefined {
  const creator = cleanPhrase(metadata.creator);
  const usable = (name: string) =>
    /[a-z].*[a-z].*[a-z]/.test(name) &&
    name !== creator &&
    !(creator !== "" && name.startsWith(creator.split(" ")[0]!)) &&
    !/^(untitled|new document|image|drawing|layer|svg|clip ?art)\b/.test(name) &&
    !/\b(collection|part of the)\b/.test(name);
  const fromTitle = cleanPhrase(metadata.title);
  if (usable(fromTitle)) return fromTitle;
  const fromFile = nameFromFileName(fileName);
  return fromFile !== undefined && usable(fromFile) && metadata.title === "" ? fromFile : undefined;
}

/** "jigsaw_blue_01.svg" → "jigsaw blue", "cormorant-md.svg" → "cormorant"; undefined under 3 letters. */
export function nameFromFileName(fileName: string): string | undefined {
  const name = cleanPhrase(fileName.replace(/\.svg$/, "").replace(/([_-](md|\d+))+_?$/, "").replace(/_$/, ""));
  return /[a-z].*[a-z].*[a-z]/.test(name) ? name : undefined;
}

/**
 * Titles shared by at least this many files name a series ("lemon svg theme", "etiquette icons"); their items are
 * named by file name instead ("browser", "dolphin").
 */
export const CLIPART_SERIES_MIN = 5;

/** Usable keywords: cleaned, letters only, not the author, not the name, not a stop word; at most 8, in order. */
export function clipartKeywords(metadata: ClipartMetadata, name: string): string[] {
  const creator = cleanPhrase(metadata.creator);
  const keywords: string[] = [];
  for (const raw of metadata.keywords) {
    const keyword = cleanPhrase(raw);
    if (!/^[a-z][a-z ]{2,}$/.test(keyword) || keyword === creator || keyword === name) continue;
    if (STOP_KEYWORDS.includes(keyword) || keywords.includes(keyword) || creator.includes(keyword)) continue;
    keywords.push(keyword);
    if (keywords.length === 8) break;
  }
  return keywords;
}

/**
 * Rasterises an SVG to size×size RGBA: rendered at 4× with its longer side fitted, cropped to the square around its
 * visible pixels (plus a 4% margin), then box-averaged (premultiplied) down to `size`. Returns undefined when nothing
 * is visible. May abort the process on malformed files (resvg panics): call it from an isolated process.
 */
export function rasterizeSvg(source: string, size = CLIPART_IMAGE_SIZE): RgbaImage | undefined {
  // Loaded on first use, so importing this package does not need resvg's native binary.
  const { Resvg } = createRequire(import.meta.url)("@resvg/resvg-js") as typeof ResvgModule;
  const svg = withSvgNamespace(source);
  const probe = new Resvg(svg, { font: { loadSystemFonts: false } });
  const fit = size * 4;
  const fitTo = probe.width >= probe.height ? ({ mode: "width", value: fit } as const) : ({ mode: "height", value: fit } as const);
  const rendered = new Resvg(svg, { fitTo, font: { loadSystemFonts: false } }).render();
  const { width, height } = rendered;
  const pixels = rendered.pixels; // [H, W, 4], premultiplied alpha (tiny-skia)
  // Visible bounding box.
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixels[4 * (y * width + x) + 3]! > 8) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return undefined;
  const side = Math.ceil(Math.max(x1 - x0 + 1, y1 - y0 + 1) * 1.08);
  const left = Math.floor((x0 + x1 + 1 - side) / 2);
  const top = Math.floor((y0 + y1 + 1 - side) / 2);
  // Box-average the square [left, left + side) × [top, top + side) down to size × size.
  const out = new Uint8Array(size * size * 4);
  for (let oy = 0; oy < size; oy++) {
    const sy0 = top + Math.floor((oy * side) / size);
    const sy1 = Math.max(sy0 + 1, top + Math.floor(((oy + 1) * side) / size));
    for (let ox = 0; ox < size; ox++) {
      const sx0 = left + Math.floor((ox * side) / size);
      const sx1 = Math.max(sx0 + 1, left + Math.floor(((ox + 1) * side) / size));
      let r = 0, g = 0, b = 0, a = 0;
      const area = (sy1 - sy0) * (sx1 - sx0);
      for (let sy = sy0; sy < sy1; sy++) {
        if (sy < 0 || sy >= height) continue;
        for (let sx = sx0; sx < sx1; sx++) {
          if (sx < 0 || sx >= width) continue;
          const s = 4 * (sy * width + sx);
          r += pixels[s]!;
          g += pixels[s + 1]!;
          b += pixels[s + 2]!;
          a += pixels[s + 3]!;
        }
      }
      const o = 4 * (oy * size + ox);
      if (a > 0) {
        out[o] = Math.min(255, Math.round((255 * r) / a)); // un-premultiply the box mean
        out[o + 1] = Math.min(255, Math.round((255 * g) / a));
        out[o + 2] = Math.min(255, Math.round((255 * b) / a));
      }
      out[o + 3] = Math.round(a / area);
    }
  }
  return { data: out, width: size, height: size };
}

/** Old Sodipodi/Adobe exports omit the SVG namespace on the root, which resvg then does not see as SVG: add it. */
export function withSvgNamespace(svg: string): string {
  return svg.replace(/<svg\b([^>]*)>/, (tag, attributes: string) => {
    let added = attributes;
    if (!/\sxmlns=/.test(added)) added += ' xmlns="http://www.w3.org/2000/svg"';
    if (!/\sxmlns:xlink=/.test(added) && svg.includes("xlink:")) added += ' xmlns:xlink="http://www.w3.org/1999/xlink"';
    return added === attributes ? tag : `<svg${added}>`;
  });
}

/** SVG bytes as text, honouring an ISO-8859-1 XML declaration (UTF-8 otherwise). */
export function decodeSvgBytes(bytes: Uint8Array): string {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 100));
  const latin1 = /encoding=["'](iso-8859-1|latin-?1|windows-1252)["']/i.test(head);
  return new TextDecoder(latin1 ? "latin1" : "utf-8").decode(bytes);
}

/** One rasterised SVG in the cache. */
export interface ClipartItem {
  /** Path below OPENCLIPART_DIRECTORY ("animals/armadillo_architetto_fra_01.svg"). */
  path: string;
  /** Top-level folder as a phrase ("animals", "signs and symbols"). */
  category: string;
  /** Cleaned title ("armadillo"). */
  name: string;
  keywords: string[];
  /** Index of its 64×64×4 block in images.bin. */
  slot: number;
}

/** `index.json` of the cache. */
export interface ClipartCacheIndex {
  source: string;
  size: number;
  items: ClipartItem[];
  /** Files that were skipped, with the reason (no usable title, nothing visible, render error, resvg panic). */
  skipped: { path: string; reason: string }[];
}

export type ClipartSplitName = "train" | "validation";

export function clipartSplit(item: Pick<ClipartItem, "path">): ClipartSplitName {
  return stableHash(item.path) % 100 < CLIPART_VALIDATION_PERCENT ? "validation" : "train";
}

/** The clip-art caption templates (index 0 is canonical). `{a name}` as for emoji ("a drawing of an armadillo"). */
export const CLIPART_TEMPLATES: readonly ((name: string, category: string, keywords: readonly string[]) => string)[] =
  Object.freeze([
    (name) => withArticle(name),
    (name) => `a drawing of ${withArticle(name)}`,
    (name) => `clip art of ${withArticle(name)}`,
    (name) => `an illustration of ${withArticle(name)}`,
    (name, category) => `${withArticle(name)}, ${category}`,
    (name, _, keywords) => (keywords.length === 0 ? `${name} clip art` : `${withArticle(name)}, ${keywords.join(", ")}`),
  ]);

/** A training caption for a clip-art item: a uniform template; the keyword template takes up to 2 random keywords. */
export function sampleClipartCaption(item: ClipartItem, random: Random): string {
  const template = CLIPART_TEMPLATES[randomInt(random, CLIPART_TEMPLATES.length)]!;
  const keywords = [...item.keywords];
  const picked: string[] = [];
  for (let k = 0; k < 2 && keywords.length > 0; k++) picked.push(keywords.splice(randomInt(random, keywords.length), 1)[0]!);
  return template(item.name, item.category, picked);
}

export interface ClipartExample extends ClipartItem {
  /** Index in the dataset (clip-art items are their own concepts). */
  conceptId: number;
  style: "openclipart";
  skinTones: readonly string[];
  flippable: boolean;
}

export interface ClipartDataset {
  split: ClipartSplitName;
  examples: readonly ClipartExample[];
  batchesPerEpoch(batchSize: number, dropLast?: boolean): number;
  batches(options: BatchOptions): AsyncGenerator<ImageCaptionBatch<"openclipart">>;
}

/** Reads the cache index, or undefined when there is none. */
export async function readClipartCacheIndex(directory = CLIPART_CACHE_DIRECTORY): Promise<ClipartCacheIndex | undefined> {
  try {
    return JSON.parse(await readFile(join(directory, "index.json"), "utf8")) as ClipartCacheIndex;
  } catch {
    return undefined;
  }
}

/** Words that make a mirrored drawing wrong (text, direction), as in the emoji flip rule. */
const NO_FLIP_WORDS =
  /\b(left|right|arrow|arrows|text|letter|letters|alphabet|number|numbers|digit|sign|signs|map|maps|flag|flags|clock|logo|logos|word|words|font|moon|moonphases|phases|card|cards)\b/;

/**
 * The clip-art dataset from the rasterised cache (throws with the command to run when the cache is missing). The
 * whole cache is read into memory (16 KiB an item, ~110 MB).
 */
export async function createClipartDataset(
  options: { split: ClipartSplitName; cacheDirectory?: string } = { split: "train" },
): Promise<ClipartDataset> {
  const directory = options.cacheDirectory ?? CLIPART_CACHE_DIRECTORY;
  const index = await readClipartCacheIndex(directory);
  if (index === undefined) {
    throw new Error(
      `createClipartDataset: no clip-art cache in ${directory}. Install Debian's openclipart-svg ` +
        `(apt-get install openclipart-svg), then run: npm run rasterize:openclipart -w @proj/training-data`,
    );
  }
  const images = await readFile(join(directory, "images.bin"));
  const blockBytes = index.size * index.size * 4;
  const heldOut = new Set((heldOutConcepts(await loadEmojiCatalog())).map(naturalName));
  const perName = new Map<string, number>();
  const examples: ClipartExample[] = index.items
    .filter((item) => clipartSplit(item) === options.split)
    .filter((item) => !heldOut.has(item.name) && !item.keywords.some((keyword) => heldOut.has(keyword)))
    .filter((item) => {
      const seen = perName.get(item.name) ?? 0;
      perName.set(item.name, seen + 1);
      return seen < CLIPART_MAX_PER_NAME;
    })
    .map((item, conceptId) => ({
      ...item,
      // A flag titled by its country reads "flag of sweden".
      name: item.keywords.includes("flag") && !/\bflag\b/.test(item.name) ? `flag of ${item.name}` : item.name,
      conceptId,
      style: "openclipart" as const,
      skinTones: [],
      flippable: !NO_FLIP_WORDS.test(`${item.path} ${item.name} ${item.keywords.join(" ")}`),
    }));
  const loadImage = async (example: ClipartExample): Promise<RgbaImage> => ({
    data: new Uint8Array(images.buffer, images.byteOffset + example.slot * blockBytes, blockBytes),
    width: index.size,
    height: index.size,
  });
  const caption = (example: ClipartExample, mode: CaptionMode, random: Random) =>
    mode === "canonical" ? CLIPART_TEMPLATES[0]!(example.name, example.category, []) : sampleClipartCaption(example, random);
  return {
    split: options.split,
    examples,
    batchesPerEpoch: (batchSize, dropLast = false) =>
      dropLast ? Math.floor(examples.length / batchSize) : Math.ceil(examples.length / batchSize),
    batches: (batchOptions) => streamBatches<ClipartExample>({ examples, loadImage, caption }, batchOptions),
  };
}
