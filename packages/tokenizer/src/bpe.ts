/**
 * The byte-pair encoder: turns one pre-token into ids by CLIP's rule — start from the word's UTF-8 bytes as
 * byte-alphabet symbols (the last one carrying `</w>`), then repeatedly apply the lowest-ranked merge present,
 * to every non-overlapping occurrence from left to right, until no adjacent pair has a merge.
 *
 * Symbols are ids rather than strings, and a merge is found by a numeric pair key, so a word costs no string
 * building. Results are kept in a bounded cache (oldest entries evicted first).
 */
import { BYTE_TO_CHAR, utf8Encode } from "./byte-level.js";
import { END_OF_WORD, VocabularyFormatError, type BpeVocabulary } from "./vocabulary.js";

export class BytePairEncoder {
  /** token string → id */
  readonly tokenIds: ReadonlyMap<string, number>;
  /** id of the symbol for byte b, and of the same symbol with `</w>` */
  private readonly byteIds = new Int32Array(256);
  private readonly byteEndIds = new Int32Array(256);
  /** (left * vocabSize + right) → merge rank */
  private readonly pairRanks = new Map<number, number>();
  /** rank → ids of the merge's left and right symbols and of the merged token */
  private readonly leftIds: Int32Array;
  private readonly rightIds: Int32Array;
  private readonly mergedIds: Int32Array;
  private readonly vocabSize: number;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly cacheSize: number;
  private readonly scratch = { bytes: new Uint8Array(256) };

  constructor(vocab: BpeVocabulary, cacheSize: number) {
    const ids = new Map<string, number>();
    vocab.tokens.forEach((token, id) => {
      if (!ids.has(token)) ids.set(token, id);
    });
    this.tokenIds = ids;
    this.vocabSize = vocab.tokens.length;
    this.cacheSize = cacheSize;

    for (let b = 0; b < 256; b++) {
      const symbol = BYTE_TO_CHAR[b]!;
      const id = ids.get(symbol);
      const endId = ids.get(symbol + END_OF_WORD);
      if (id === undefined || endId === undefined) {
        throw new VocabularyFormatError(`The vocabulary lacks the byte symbol ${JSON.stringify(id === undefined ? symbol : symbol + END_OF_WORD)} (byte ${b}); a byte-level BPE vocabulary needs all 512`);
      }
      this.byteIds[b] = id;
      this.byteEndIds[b] = endId;
    }

    this.leftIds = new Int32Array(vocab.merges.length);
    this.rightIds = new Int32Array(vocab.merges.length);
    this.mergedIds = new Int32Array(vocab.merges.length);
    vocab.merges.forEach(([a, b], rank) => {
      const left = ids.get(a);
      const right = ids.get(b);
      const merged = ids.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        const missing = left === undefined ? a : right === undefined ? b : a + b;
        throw new VocabularyFormatError(`Merge ${rank} (${JSON.stringify(`${a} ${b}`)}) uses ${JSON.stringify(missing)}, which is not in the vocabulary`);
      }
      const key = left * this.vocabSize + right;
      if (!this.pairRanks.has(key)) this.pairRanks.set(key, rank); // a repeated merge never fires twice
      this.leftIds[rank] = left;
      this.rightIds[rank] = right;
      this.mergedIds[rank] = merged;
    });
  }

  /** Number of cached words. */
  get cachedWords(): number {
    return this.cache.size;
  }

  clearCache(): void {
    this.cache.clear();
  }

  /** Ids of one pre-token (a word, not yet byte-encoded). The returned array is shared: do not modify it. */
  encodeWord(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const special = this.specialId(word);
    const ids = special !== undefined ? [special] : this.merge(word);
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** The reference seeds its cache with the two special tokens, so they map to their ids directly. */
  private specialId(word: string): number | undefined {
    return word.charCodeAt(0) === 0x3c /* < */ && (word === "<|startoftext|>" || word === "<|endoftext|>")
      ? this.tokenIds.get(word)
      : undefined;
  }

  private merge(word: string): number[] {
    const n = utf8Encode(word, this.scratch);
    if (n === 0) return [];
    const bytes = this.scratch.bytes;
    const symbols = new Array<number>(n);
    for (let i = 0; i < n - 1; i++) symbols[i] = this.byteIds[bytes[i]!]!;
    symbols[n - 1] = this.byteEndIds[bytes[n - 1]!]!;

    const { pairRanks, vocabSize } = this;
    let length = n;
    while (length > 1) {
      let bestRank = -1;
      for (let i = 0; i < length - 1; i++) {
        const rank = pairRanks.get(symbols[i]! * vocabSize + symbols[i + 1]!);
        if (rank !== undefined && (bestRank < 0 || rank < bestRank)) bestRank = rank;
      }
      if (bestRank < 0) break;
      const left = this.leftIds[bestRank]!;
      const right = this.rightIds[bestRank]!;
      const merged = this.mergedIds[bestRank]!;
      let out = 0;
      for (let i = 0; i < length; ) {
        if (i < length - 1 && symbols[i] === left && symbols[i + 1] === right) {
          symbols[out++] = merged;
          i += 2;
        } else {
          symbols[out++] = symbols[i++]!;
        }
      }
      length = out;
    }
    symbols.length = length;
    return symbols;
  }
}
