/**
 * A byte-level BPE vocabulary (tokens by id, merges by rank, the two special tokens) and the file formats it is
 * read from and written to:
 * - OpenAI's `bpe_simple_vocab_16e6.txt(.gz)`: a `#version` line, then one merge per line. The vocabulary is
 *   implied, as the reference builds it: the 256 byte symbols, the same with `</w>`, one token per merge, then
 *   `<|startoftext|>` and `<|endoftext|>`. The reference keeps only the first 48,894 merges of its file.
 * - Hugging Face `vocab.json` + `merges.txt` (the `CLIPTokenizer` files).
 * - Hugging Face `tokenizer.json` (a `BPE` model with `end_of_word_suffix: "</w>"`).
 */
import { gunzipSync } from "fflate";
import { BYTE_ALPHABET } from "./byte-level.js";
import { CLIP_PRETOKENIZE_SOURCE } from "./pretokenize.js";

export const END_OF_WORD = "</w>";
export const START_OF_TEXT = "<|startoftext|>";
export const END_OF_TEXT = "<|endoftext|>";
/** Merges the reference reads from its file: `merges[1 : 49152 - 256 - 2 + 1]`. */
export const CLIP_MERGE_COUNT = 49152 - 256 - 2;

export interface BpeVocabulary {
  /** Token strings by id, in the byte-level alphabet; `</w>` ends a word-final token. */
  readonly tokens: readonly string[];
  /** Merge rules by rank (lower merges first); each pair's concatenation is a token. */
  readonly merges: readonly (readonly [string, string])[];
}

/** Raw file contents: text, bytes, or (for JSON files) an already parsed object. */
export type FileData = string | Uint8Array | ArrayBuffer;

/** The tokenizer files `ClipTokenizer.fromFiles` accepts: one of these shapes. */
export type TokenizerFiles =
  | { /** OpenAI's gzipped merges file, e.g. `bpe_simple_vocab_16e6.txt.gz`. */ bpeGz: Uint8Array | ArrayBuffer }
  | { /** OpenAI's merges file, uncompressed. */ bpe: FileData }
  | { /** Hugging Face `vocab.json`. */ vocab: FileData | Record<string, number>; /** `merges.txt`. */ merges: FileData }
  | { /** Hugging Face `tokenizer.json`. */ tokenizerJson: FileData | object };

export class VocabularyFormatError extends Error {
  override name = "VocabularyFormatError";
}

function asText(data: FileData, what: string): string {
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(data);
    } catch {
      throw new VocabularyFormatError(`${what} is not valid UTF-8 text`);
    }
  }
  throw new VocabularyFormatError(`${what} must be a string, Uint8Array or ArrayBuffer, got ${describe(data)}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? (value.constructor?.name ?? "an object") : typeof value;
}

function parseJson(data: FileData | object, what: string): unknown {
  if (typeof data === "object" && !(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) return data;
  const text = asText(data, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new VocabularyFormatError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

/** The vocabulary CLIP derives from a merge list: byte symbols, byte symbols with `</w>`, merges, specials. */
export function clipVocabularyFromMerges(merges: readonly (readonly [string, string])[]): BpeVocabulary {
  const tokens = [...BYTE_ALPHABET, ...BYTE_ALPHABET.map((c) => c + END_OF_WORD)];
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  return { tokens, merges };
}

/**
 * Merge lines `a b`. OpenAI's file starts with a header line that the reference always drops (in the published
 * file it reads `"bpe_simple_vocab_16e6.txt#version: 0.2`); Hugging Face's `merges.txt` may start with `#version`.
 */
function parseMergeLines(text: string, what: string, maxMerges: number, header: "always" | "if-version"): [string, string][] {
  const lines = text.split("\n");
  const merges: [string, string][] = [];
  const first = header === "always" || lines[0]?.startsWith("#version") ? 1 : 0;
  for (let i = first; i < lines.length && merges.length < maxMerges; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line === "" && i >= lines.length - 1) break; // trailing newline
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new VocabularyFormatError(`${what} line ${i + 1}: expected two symbols separated by one space, got ${JSON.stringify(line.slice(0, 80))}`);
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  if (merges.length === 0) throw new VocabularyFormatError(`${what} holds no merges`);
  return merges;
}

/** OpenAI's merges file (text). At most `maxMerges` merges are used, CLIP's 48,894 by default. */
export function parseOpenAiBpe(data: FileData, maxMerges = CLIP_MERGE_COUNT): BpeVocabulary {
  return clipVocabularyFromMerges(parseMergeLines(asText(data, "BPE merges file"), "BPE merges file", maxMerges, "always"));
}

/** OpenAI's gzipped merges file. */
export function parseOpenAiBpeGz(data: Uint8Array | ArrayBuffer, maxMerges = CLIP_MERGE_COUNT): BpeVocabulary {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  if (!(bytes instanceof Uint8Array)) {
    throw new VocabularyFormatError(`bpeGz must be a Uint8Array or ArrayBuffer, got ${describe(data)}`);
  }
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new VocabularyFormatError("bpeGz is not a gzip file (missing the 1f 8b signature)");
  }
  let text: Uint8Array;
  try {
    text = gunzipSync(bytes);
  } catch (error) {
    throw new VocabularyFormatError(`bpeGz could not be decompressed: ${(error as Error).message}`);
  }
  return parseOpenAiBpe(text, maxMerges);
}

function tokensFromVocabObject(vocab: unknown, what: string): string[] {
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
    throw new VocabularyFormatError(`${what} must be a JSON object of token → id, got ${describe(vocab)}`);
  }
  const entries = Object.entries(vocab as Record<string, unknown>);
  const tokens = new Array<string>(entries.length);
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= entries.length) {
      throw new VocabularyFormatError(`${what}: token ${JSON.stringify(token)} has id ${String(id)}, expected an integer in [0, ${entries.length})`);
    }
    if (tokens[id as number] !== undefined) {
      throw new VocabularyFormatError(`${what}: id ${String(id)} is used by both ${JSON.stringify(tokens[id as number])} and ${JSON.stringify(token)}`);
    }
    tokens[id as number] = token;
  }
  return tokens;
}

/** Hugging Face `vocab.json` + `merges.txt`. */
export function parseHfVocabAndMerges(vocab: FileData | Record<string, number>, merges: FileData): BpeVocabulary {
  const vocabObject = parseJson(vocab, "vocab.json");
  return {
    tokens: tokensFromVocabObject(vocabObject, "vocab.json"),
    merges: parseMergeLines(asText(merges, "merges.txt"), "merges.txt", Infinity, "if-version"),
  };
}

/** Hugging Face `tokenizer.json` with a byte-level BPE model that marks word ends with `</w>` (as CLIP's does). */
export function parseHfTokenizerJson(data: FileData | object): BpeVocabulary {
  const json = parseJson(data, "tokenizer.json") as { model?: Record<string, unknown>; added_tokens?: unknown };
  const model = json?.model;
  if (typeof model !== "object" || model === null) throw new VocabularyFormatError("tokenizer.json has no `model` object");
  if (model.type !== undefined && model.type !== "BPE") {
    throw new VocabularyFormatError(`tokenizer.json: model type ${JSON.stringify(model.type)} is not supported, expected "BPE"`);
  }
  if (model.end_of_word_suffix !== END_OF_WORD) {
    throw new VocabularyFormatError(`tokenizer.json: end_of_word_suffix is ${JSON.stringify(model.end_of_word_suffix)}, expected "</w>" (CLIP's BPE)`);
  }
  const tokens = tokensFromVocabObject(model.vocab, "tokenizer.json model.vocab");
  if (!Array.isArray(model.merges)) throw new VocabularyFormatError("tokenizer.json: model.merges must be an array");
  const merges = (model.merges as unknown[]).map((m, i): [string, string] => {
    const parts = typeof m === "string" ? m.split(" ") : m;
    if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== "string" || typeof parts[1] !== "string") {
      throw new VocabularyFormatError(`tokenizer.json: merge ${i} must be "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
    }
    return [parts[0], parts[1]];
  });
  // Added tokens (the specials) may sit outside model.vocab.
  if (Array.isArray(json.added_tokens)) {
    for (const added of json.added_tokens as { id?: unknown; content?: unknown }[]) {
      if (typeof added?.content !== "string" || !Number.isInteger(added.id)) continue;
      const id = added.id as number;
      if (tokens[id] !== undefined && tokens[id] !== added.content) {
        throw new VocabularyFormatError(`tokenizer.json: added token ${JSON.stringify(added.content)} has id ${id}, which the vocab gives to ${JSON.stringify(tokens[id])}`);
      }
      tokens[id] = added.content;
    }
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === undefined) throw new VocabularyFormatError(`tokenizer.json: no token has id ${i}`);
  }
  return { tokens, merges };
}

/** Reads any of the accepted file shapes. */
export function parseTokenizerFiles(files: TokenizerFiles): BpeVocabulary {
  if (typeof files !== "object" || files === null) {
    throw new VocabularyFormatError(`Tokenizer files must be an object such as { bpeGz }, { bpe }, { vocab, merges } or { tokenizerJson }, got ${describe(files)}`);
  }
  if ("bpeGz" in files) return parseOpenAiBpeGz(files.bpeGz);
  if ("bpe" in files) return parseOpenAiBpe(files.bpe);
  if ("tokenizerJson" in files) return parseHfTokenizerJson(files.tokenizerJson);
  if ("vocab" in files || "merges" in files) {
    const { vocab, merges } = files as { vocab?: FileData; merges?: FileData };
    if (vocab === undefined) throw new VocabularyFormatError("`merges` was given without `vocab` (vocab.json)");
    if (merges === undefined) throw new VocabularyFormatError("`vocab` was given without `merges` (merges.txt)");
    return parseHfVocabAndMerges(vocab, merges);
  }
  throw new VocabularyFormatError(`Unknown tokenizer files ${JSON.stringify(Object.keys(files))}: expected { bpeGz }, { bpe }, { vocab, merges } or { tokenizerJson }`);
}

// ---------------------------------------------------------------------------------------------------- writers

/** True when `vocab` has exactly the layout CLIP derives from its merges (so the merges file alone describes it). */
export function hasClipLayout(vocab: BpeVocabulary): boolean {
  const derived = clipVocabularyFromMerges(vocab.merges).tokens;
  return derived.length === vocab.tokens.length && derived.every((t, i) => t === vocab.tokens[i]);
}

/** OpenAI's merges-file text (`#version: 0.2` then one merge per line). Requires the CLIP layout. */
export function toOpenAiBpe(vocab: BpeVocabulary): string {
  if (!hasClipLayout(vocab)) {
    throw new VocabularyFormatError("This vocabulary does not have CLIP's layout (bytes, bytes</w>, merges, specials), so a merges file alone cannot describe it; save it as vocab.json + merges.txt or tokenizer.json");
  }
  return `#version: 0.2\n${vocab.merges.map(([a, b]) => `${a} ${b}`).join("\n")}\n`;
}

/** Hugging Face `vocab.json` text. */
export function toHfVocabJson(vocab: BpeVocabulary): string {
  const object: Record<string, number> = {};
  vocab.tokens.forEach((token, id) => (object[token] = id));
  return JSON.stringify(object);
}

/** Hugging Face `merges.txt` text. */
export function toHfMergesTxt(vocab: BpeVocabulary): string {
  return `#version: 0.2\n${vocab.merges.map(([a, b]) => `${a} ${b}`).join("\n")}\n`;
}

/**
 * A Hugging Face `tokenizer.json` configured as CLIP's tokenizer (the pipeline of `openai/clip-vit-base-patch32`:
 * NFC + whitespace collapse + lower-case normaliser, CLIP's split pattern + byte-level pre-tokeniser, BPE with
 * `</w>`, start/end tokens added around each sequence).
 */
export function toHfTokenizerJson(vocab: BpeVocabulary): string {
  const id = (token: string) => {
    const i = vocab.tokens.indexOf(token);
    if (i < 0) throw new VocabularyFormatError(`The vocabulary has no ${token} token`);
    return i;
  };
  const special = (content: string) => ({
    id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
  });
  const vocabObject: Record<string, number> = {};
  vocab.tokens.forEach((token, i) => (vocabObject[token] = i));
  return JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(START_OF_TEXT), special(END_OF_TEXT)],
    normalizer: {
      type: "Sequence",
      normalizers: [{ type: "NFC" }, { type: "Replace", pattern: { Regex: "\\s+" }, content: " " }, { type: "Lowercase" }],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: CLIP_PRETOKENIZE_SOURCE }, behavior: "Removed", invert: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "RobertaProcessing",
      sep: [END_OF_TEXT, id(END_OF_TEXT)],
      cls: [START_OF_TEXT, id(START_OF_TEXT)],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: END_OF_TEXT,
      continuing_subword_prefix: "",
      end_of_word_suffix: END_OF_WORD,
      fuse_unk: false,
      byte_fallback: false,
      vocab: vocabObject,
      merges: vocab.merges.map(([a, b]) => `${a} ${b}`),
    },
  });
}
