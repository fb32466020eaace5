/**
 * `ClipTokenizer`: OpenAI CLIP's `SimpleTokenizer` + `clip.tokenize`, id for id.
 *
 *   encode(text)  = BPE ids of cleanText(text), split by CLIP's pattern (no start/end tokens)
 *   tokenize(xs)  = rows [<|startoftext|>, ...encode(x), <|endoftext|>, 0, 0, ...] of length contextLength
 *   decode(ids)   = token bytes joined, UTF-8 decoded with U+FFFD for invalid bytes, `</w>` → " "
 */
import { byteOfCharCode } from "./byte-level.js";
import { BytePairEncoder } from "./bpe.js";
import { clipPretokenizePattern } from "./pretokenize.js";
import { cleanText } from "./text-cleanup.js";
import {
  END_OF_TEXT,
  START_OF_TEXT,
  parseOpenAiBpeGz,
  parseTokenizerFiles,
  toHfMergesTxt,
  toHfTokenizerJson,
  toHfVocabJson,
  toOpenAiBpe,
  type BpeVocabulary,
  type TokenizerFiles,
} from "./vocabulary.js";

export interface ClipTokenizerOptions {
  /** Most words whose ids are remembered (oldest forgotten first); 0 disables the cache. Default 50,000. */
  cacheSize?: number;
}

export interface TokenizeOptions {
  /** Row length including the start and end tokens. Default 77 (CLIP's text context). */
  contextLength?: number;
  /**
   * Overlong text: `true` keeps the first `contextLength - 2` ids and ends the row with `<|endoftext|>`;
   * `false` (the default, as in the reference) throws an error that says how long the text was.
   */
  truncate?: boolean;
}

/** Files of a vocabulary in one of the supported formats, ready to write to disk. */
export type SavedVocabulary =
  | { format: "bpe"; files: { "bpe_simple_vocab.txt": string } }
  | { format: "hf"; files: { "vocab.json": string; "merges.txt": string } }
  | { format: "tokenizer.json"; files: { "tokenizer.json": string } };

export const DEFAULT_CONTEXT_LENGTH = 77;
const DEFAULT_CACHE_SIZE = 50_000;

let defaultVocabulary: Promise<BpeVocabulary> | undefined;

/** The default vocabulary, decompressed once per process (its bytes are a lazily imported chunk). */
function loadDefaultVocabulary(): Promise<BpeVocabulary> {
  defaultVocabulary ??= import("./default-vocab.js").then((m) => parseOpenAiBpeGz(m.BPE_SIMPLE_VOCAB_16E6_GZ));
  return defaultVocabulary;
}

function checkOptions(options: ClipTokenizerOptions): number {
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) {
    throw new RangeError(`cacheSize must be a non-negative integer, got ${String(options.cacheSize)}`);
  }
  return cacheSize;
}

export class ClipTokenizer {
  /** Id of `<|startoftext|>` (49406 in CLIP's vocabulary). */
  readonly startOfTextId: number;
  /** Id of `<|endoftext|>` (49407 in CLIP's vocabulary). */
  readonly endOfTextId: number;
  private readonly bpe: BytePairEncoder;
  private readonly pattern = clipPretokenizePattern();
  private tokenBytes: Uint8Array[] | undefined;
  private readonly decoder = new TextDecoder("utf-8");

  private constructor(
    /** The vocabulary this tokenizer encodes with. */
    readonly vocabulary: BpeVocabulary,
    options: ClipTokenizerOptions = {},
  ) {
    this.bpe = new BytePairEncoder(vocabulary, checkOptions(options));
    const sot = this.bpe.tokenIds.get(START_OF_TEXT);
    const eot = this.bpe.tokenIds.get(END_OF_TEXT);
    if (sot === undefined || eot === undefined) {
      throw new Error(`The vocabulary has no ${sot === undefined ? START_OF_TEXT : END_OF_TEXT} token`);
    }
    this.startOfTextId = sot;
    this.endOfTextId = eot;
  }

  /** CLIP's own vocabulary (`bpe_simple_vocab_16e6.txt.gz`, shipped inside this package). */
  static async load(options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    checkOptions(options);
    return new ClipTokenizer(await loadDefaultVocabulary(), options);
  }

  /**
   * A tokenizer from vocabulary files: `{ bpeGz }` (OpenAI's gzipped merges), `{ bpe }` (uncompressed),
   * `{ vocab, merges }` (Hugging Face `vocab.json` + `merges.txt`) or `{ tokenizerJson }`. File contents may be
   * strings, `Uint8Array`s or `ArrayBuffer`s (JSON files also parsed objects). Synchronous.
   */
  static fromFiles(files: TokenizerFiles, options: ClipTokenizerOptions = {}): ClipTokenizer {
    return new ClipTokenizer(parseTokenizerFiles(files), options);
  }

  /** A tokenizer over an in-memory vocabulary (e.g. one returned by `trainBpe`). */
  static fromVocabulary(vocabulary: BpeVocabulary, options: ClipTokenizerOptions = {}): ClipTokenizer {
    return new ClipTokenizer(vocabulary, options);
  }

  /** Number of tokens, special tokens included (49,408 for CLIP). */
  get vocabSize(): number {
    return this.vocabulary.tokens.length;
  }

  /** BPE ids of `text` after CLIP's cleanup, without start/end tokens. */
  encode(text: string): number[] {
    if (typeof text !== "string") throw new TypeError(`encode() expects a string, got ${typeName(text)}`);
    const ids: number[] = [];
    this.encodeInto(text, ids);
    return ids;
  }

  /** The vocabulary strings of `ids` (byte-level characters, `</w>` on word ends) — for inspection. */
  idsToTokens(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id, i) => this.vocabulary.tokens[this.checkId(id, i)]!);
  }

  /** The id of a vocabulary string, or `undefined`. */
  tokenToId(token: string): number | undefined {
    return this.bpe.tokenIds.get(token);
  }

  /**
   * `clip.tokenize`: one row per text, `[<|startoftext|>, ...ids, <|endoftext|>]` zero-padded to `contextLength`,
   * returned row-major as an `Int32Array` of `texts.length * contextLength` (shape `[N, contextLength]`).
   */
  tokenize(texts: string | readonly string[], options: TokenizeOptions = {}): Int32Array {
    const contextLength = options.contextLength ?? DEFAULT_CONTEXT_LENGTH;
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new RangeError(`contextLength must be an integer ≥ 2 (room for the start and end tokens), got ${String(options.contextLength)}`);
    }
    const list: readonly unknown[] = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list)) throw new TypeError(`tokenize() expects a string or an array of strings, got ${typeName(texts)}`);
    list.forEach((text, i) => {
      if (typeof text !== "string") throw new TypeError(`tokenize(): texts[${i}] is ${typeName(text)}, expected a string`);
    });
    const out = new Int32Array(list.length * contextLength);
    const ids: number[] = [];
    for (let row = 0; row < list.length; row++) {
      ids.length = 0;
      this.encodeInto(list[row] as string, ids);
      const base = row * contextLength;
      if (ids.length + 2 > contextLength) {
        if (!options.truncate) {
          throw new RangeError(`Input ${row} is too long for context length ${contextLength}: ${ids.length + 2} tokens with the start and end tokens (${ids.length} text tokens); pass { truncate: true } to cut it`);
        }
        ids.length = contextLength - 2;
      }
      out[base] = this.startOfTextId;
      for (let i = 0; i < ids.length; i++) out[base + 1 + i] = ids[i]!;
      out[base + 1 + ids.length] = this.endOfTextId;
    }
    return out;
  }

  /**
   * Text of `ids` by the reference's rules: token bytes concatenated and decoded as UTF-8 (invalid sequences become
   * U+FFFD), then every `</w>` becomes a space. Special tokens and padding (id 0 is `!`) decode as their text,
   * as in the reference.
   */
  decode(ids: ArrayLike<number>): string {
    if (ids === null || typeof ids !== "object" || typeof ids.length !== "number") {
      throw new TypeError(`decode() expects an array of ids, got ${typeName(ids)}`);
    }
    const tokenBytes = (this.tokenBytes ??= this.vocabulary.tokens.map(alphabetBytes));
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += tokenBytes[this.checkId(ids[i]!, i)]!.length;
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = tokenBytes[ids[i]!]!;
      bytes.set(b, offset);
      offset += b.length;
    }
    return this.decoder.decode(bytes).replaceAll("</w>", " ");
  }

  /** This vocabulary as files: OpenAI's merges file (`"bpe"`), Hugging Face `"hf"` or `"tokenizer.json"`. */
  save<F extends SavedVocabulary["format"]>(format: F): Extract<SavedVocabulary, { format: F }> {
    const saved = (value: SavedVocabulary) => value as Extract<SavedVocabulary, { format: F }>;
    switch (format) {
      case "bpe":
        return saved({ format: "bpe", files: { "bpe_simple_vocab.txt": toOpenAiBpe(this.vocabulary) } });
      case "hf":
        return saved({ format: "hf", files: { "vocab.json": toHfVocabJson(this.vocabulary), "merges.txt": toHfMergesTxt(this.vocabulary) } });
      case "tokenizer.json":
        return saved({ format: "tokenizer.json", files: { "tokenizer.json": toHfTokenizerJson(this.vocabulary) } });
      default:
        throw new RangeError(`Unknown vocabulary format ${JSON.stringify(format)}: expected "bpe", "hf" or "tokenizer.json"`);
    }
  }

  /** Forgets cached words (memory is bounded by `cacheSize` anyway). */
  clearCache(): void {
    this.bpe.clearCache();
  }

  private encodeInto(text: string, ids: number[]): void {
    const cleaned = cleanText(text);
    const pattern = this.pattern;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(cleaned); m !== null; m = pattern.exec(cleaned)) {
      const wordIds = this.bpe.encodeWord(m[0]);
      for (let i = 0; i < wordIds.length; i++) ids.push(wordIds[i]!);
    }
  }

  private checkId(id: number, position: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabulary.tokens.length) {
      throw new RangeError(`Id ${String(id)} at position ${position} is not in the vocabulary (0 … ${this.vocabulary.tokens.length - 1})`);
    }
    return id;
  }
}

/** Bytes of a token string: alphabet characters map to their bytes; others (special tokens are ASCII) as UTF-8. */
function alphabetBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = byteOfCharCode(token.charCodeAt(i));
    if (b < 0) return new TextEncoder().encode(token);
    out[i] = b;
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? `a ${value.constructor?.name ?? "object"}` : `a ${typeof value}`;
}
