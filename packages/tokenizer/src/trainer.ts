/**
 * A byte-pair-encoding trainer that learns merges from a corpus and returns a vocabulary in CLIP's layout
 * (`clipVocabularyFromMerges`): the 256 byte symbols, the same with `</w>`, one token per merge, then
 * `<|startoftext|>` and `<|endoftext|>`.
 *
 * Words come from the encoder's own pipeline (`cleanText`, then CLIP's pre-tokeniser; the two special-token strings
 * are skipped), each starting as its UTF-8 bytes in the byte alphabet with `</w>` on the last one, as in
 * `BytePairEncoder`. Training is classic BPE over word counts (Sennrich et al. 2016, §3.1):
 *
 *   repeat: pick the most frequent adjacent pair of symbols; append it to the merges; replace its occurrences
 *           in every word, left to right and non-overlapping (exactly as the encoder applies a merge).
 *
 * Rules, so that results are reproducible and the encoder agrees with training:
 * - A pair's frequency is the number of times merging it would fire: its non-overlapping occurrences in each word
 *   (left to right, so `a a a` holds one `a a`, not two), times the word's count.
 * - Tie-break: the highest frequency wins; among equal frequencies the smallest pair, comparing the left symbols
 *   and then the right symbols as JavaScript strings (UTF-16 code-unit order, e.g. `"a" < "a</w>" < "aa" < "b"`).
 *   Equivalently, the smallest merge line `"left right"`, since the space sorts before every symbol character.
 * - A pair whose concatenation is already a token (`a bc` when `ab c` made `abc`) is never merged: the vocabulary
 *   would hold one string twice, which `vocab.json` cannot express and the encoder could never emit. This is a guard:
 *   we have not seen a corpus make such a pair the best one (thousands of random corpora over 2–4 letters, and
 *   Moby-Dick trained until no pair was left), and CLIP's own merges hold no duplicate either.
 * - Consequently every symbol string comes from one merge only, and a pair that has been merged can never form again
 *   (the merge leaves no occurrence behind; new adjacencies involve the newest symbol). Encoding a training word by
 *   CLIP's rule — lowest-ranked merge first, word by word, as `BytePairEncoder` does — therefore gives exactly the
 *   segmentation training ended with.
 * - Training stops at `vocabSize` tokens, or earlier when no pair occurs at least `minFrequency` times (or no pair
 *   is left at all); the smaller vocabulary is then returned (`tokens.length < vocabSize`).
 *
 * Cost: pair counts are updated incrementally from the words that contain the merged pair (an index from pair to
 * words), and the best pair comes from a binary max-heap with lazy invalidation: an entry whose count is out of date
 * is dropped when it surfaces, and every change of a count pushes a fresh entry. Nothing rescans all pairs.
 */
import { BYTE_TO_CHAR, utf8Encode } from "./byte-level.js";
import { pretokenize } from "./pretokenize.js";
import { cleanText } from "./text-cleanup.js";
import { END_OF_TEXT, END_OF_WORD, START_OF_TEXT, clipVocabularyFromMerges, type BpeVocabulary } from "./vocabulary.js";

export interface TrainBpeOptions {
  /**
   * Total tokens of the result, counting the 512 byte symbols (256 bytes and 256 bytes + `</w>`) and the two special
   * tokens, so at least 514 (514 learns no merge). CLIP's vocabulary has 49,408. A vocabulary saved in OpenAI's
   * merges-file format is read back with at most CLIP's 48,894 merges (`fromFiles({ bpe })`), i.e. 49,408 tokens.
   */
  vocabSize: number;
  /** Stop once the most frequent pair occurs fewer times than this (an integer ≥ 1). Default 2. */
  minFrequency?: number;
  /**
   * Called about every 1% of `targetMerges` and once at the end with the final count (which is below
   * `targetMerges` when the corpus runs out of pairs). `merges` increases from call to call.
   */
  onProgress?: (progress: { merges: number; targetMerges: number }) => void;
  /** Aborting makes `trainBpe` throw `signal.reason` (an `AbortError` `DOMException` by default) at its next check. */
  signal?: AbortSignal;
}

/** Number of byte-level symbols every vocabulary starts with (256 bytes, 256 bytes + `</w>`). */
const BYTE_SYMBOLS = 512;
/** Pair key = left * PAIR_SHIFT + right; symbol ids stay below 2^26, so keys are exact doubles (< 2^52). */
const PAIR_SHIFT = 2 ** 26;
/** `addPairs` indexing modes (not symbol ids). */
const INDEX_ALL = -1;
const INDEX_NONE = -2;

/** Learns BPE merges from `texts` and returns the vocabulary in CLIP's layout. Synchronous. */
export function trainBpe(texts: Iterable<string>, options: TrainBpeOptions): BpeVocabulary {
  const { targetMerges, minFrequency, onProgress, signal } = checkOptions(options);
  signal?.throwIfAborted();
  const wordCounts = countWords(texts, signal);
  if (wordCounts.size === 0) {
    throw new RangeError("trainBpe: the corpus holds no words (after cleanup every text is empty, whitespace or special-token strings)");
  }
  const merges = learnMerges(wordCounts, targetMerges, minFrequency, onProgress, signal);
  return clipVocabularyFromMerges(merges);
}

function checkOptions(options: TrainBpeOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`trainBpe: options must be an object such as { vocabSize: 5000 }, got ${typeName(options)}`);
  }
  const { vocabSize, minFrequency = 2, onProgress, signal } = options;
  const minimum = BYTE_SYMBOLS + 2;
  if (typeof vocabSize !== "number") throw new TypeError(`trainBpe: vocabSize must be a number, got ${typeName(vocabSize)}`);
  if (!Number.isInteger(vocabSize) || vocabSize < minimum) {
    throw new RangeError(`trainBpe: vocabSize must be an integer ≥ ${minimum} (the 512 byte symbols and 2 special tokens, plus one per merge), got ${vocabSize}`);
  }
  if (typeof minFrequency !== "number") {
    throw new TypeError(`trainBpe: minFrequency must be a number, got ${typeName(minFrequency)}`);
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new RangeError(`trainBpe: minFrequency must be an integer ≥ 1, got ${minFrequency}`);
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(`trainBpe: onProgress must be a function, got ${typeName(onProgress)}`);
  }
  if (signal !== undefined && (typeof signal !== "object" || signal === null || typeof signal.throwIfAborted !== "function")) {
    throw new TypeError(`trainBpe: signal must be an AbortSignal, got ${typeName(signal)}`);
  }
  return { targetMerges: vocabSize - minimum, minFrequency, onProgress, signal };
}

/** Pre-token → occurrences over the corpus, by the encoder's pipeline; the special-token strings are left out. */
function countWords(texts: Iterable<string>, signal: AbortSignal | undefined): Map<string, number> {
  if (typeof texts === "string") {
    throw new TypeError("trainBpe: texts must be an iterable of strings, got a single string (wrap it in an array)");
  }
  if (texts === null || typeof texts !== "object" || typeof (texts as Iterable<string>)[Symbol.iterator] !== "function") {
    throw new TypeError(`trainBpe: texts must be an iterable of strings (e.g. an array), got ${typeName(texts)}`);
  }
  const counts = new Map<string, number>();
  let index = 0;
  for (const text of texts) {
    if (typeof text !== "string") throw new TypeError(`trainBpe: texts[${index}] is ${typeName(text)}, expected a string`);
    signal?.throwIfAborted();
    for (const word of pretokenize(cleanText(text))) {
      if (word === START_OF_TEXT || word === END_OF_TEXT) continue;
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
    index++;
  }
  return counts;
}

/** Heap entry: a pair and the count it had when pushed (stale once the pair's count has changed). */
interface PairEntry {
  count: number;
  left: number;
  right: number;
}

function learnMerges(
  wordCounts: Map<string, number>,
  targetMerges: number,
  minFrequency: number,
  onProgress: TrainBpeOptions["onProgress"],
  signal: AbortSignal | undefined,
): [string, string][] {
  // Symbols are vocabulary ids: bytes, bytes + </w>, then 512 + rank for the token of each merge.
  const symbolStrings = clipVocabularyFromMerges([]).tokens.slice(0, BYTE_SYMBOLS);
  const symbolIds = new Map<string, number>(symbolStrings.map((s, id) => [s, id]));
  const byteIds = Int32Array.from({ length: 256 }, (_, b) => symbolIds.get(BYTE_TO_CHAR[b]!)!);
  const byteEndIds = Int32Array.from({ length: 256 }, (_, b) => symbolIds.get(BYTE_TO_CHAR[b]! + END_OF_WORD)!);

  // Words as symbol arrays, with their counts.
  const words: number[][] = [];
  const counts: number[] = [];
  const scratch = { bytes: new Uint8Array(256) };
  for (const [word, count] of wordCounts) {
    const n = utf8Encode(word, scratch);
    const symbols = new Array<number>(n);
    for (let i = 0; i < n - 1; i++) symbols[i] = byteIds[scratch.bytes[i]!]!;
    symbols[n - 1] = byteEndIds[scratch.bytes[n - 1]!]!;
    words.push(symbols);
    counts.push(count);
  }

  const pairCounts = new Map<number, number>();
  /** Pair → indices of words that contain (or once contained) it; may hold repeats and stale entries. */
  const pairWords = new Map<number, number[]>();
  const heap = new PairHeap(symbolStrings);

  // Adds `delta` to the count of every pair `symbols` would merge (non-overlapping, left to right), noting each
  // changed key with its count before this step. The word is also indexed under the pairs that contain the symbol
  // `indexUnder` (the one a merge just made), or under every pair (INDEX_ALL), or none (INDEX_NONE).
  const changed = new Map<number, number>();
  const addPairs = (symbols: readonly number[], delta: number, word: number, indexUnder: number) => {
    let previousKey = -1;
    for (let i = 0; i < symbols.length - 1; i++) {
      const left = symbols[i]!;
      const right = symbols[i + 1]!;
      const key = left * PAIR_SHIFT + right;
      if (key === previousKey) {
        previousKey = -1; // `x x x`: the second `x x` overlaps the first, which the merge would take
        continue;
      }
      previousKey = key;
      const before = pairCounts.get(key) ?? 0;
      if (!changed.has(key)) changed.set(key, before);
      pairCounts.set(key, before + delta);
      if (indexUnder === INDEX_ALL || left === indexUnder || right === indexUnder) {
        const list = pairWords.get(key);
        if (list === undefined) pairWords.set(key, [word]);
        else if (list[list.length - 1] !== word) list.push(word);
      }
    }
  };
  const pushChanged = () => {
    for (const [key, before] of changed) {
      const count = pairCounts.get(key)!;
      if (count === before) continue; // a pair of a rewritten word that the merge left alone
      if (count > 0) {
        heap.push({ count, left: Math.floor(key / PAIR_SHIFT), right: key % PAIR_SHIFT });
      } else {
        pairCounts.delete(key);
        pairWords.delete(key);
      }
    }
    changed.clear();
  };

  for (let w = 0; w < words.length; w++) addPairs(words[w]!, counts[w]!, w, INDEX_ALL);
  pushChanged();

  const merges: [string, string][] = [];
  const visited = new Int32Array(words.length).fill(-1); // merge rank that last rewrote each word
  const progressEvery = Math.max(1, Math.ceil(targetMerges / 100));
  let reported = -1;
  const report = () => {
    if (onProgress !== undefined && merges.length !== reported) {
      reported = merges.length;
      onProgress({ merges: merges.length, targetMerges });
    }
  };

  while (merges.length < targetMerges) {
    signal?.throwIfAborted();
    const best = popBest(heap, pairCounts, symbolStrings, symbolIds);
    if (best === undefined || best.count < minFrequency) break;
    const { left, right } = best;
    const key = left * PAIR_SHIFT + right;
    const rank = merges.length;
    const merged = symbolStrings.length;
    if (merged >= PAIR_SHIFT) throw new RangeError(`trainBpe: more than ${PAIR_SHIFT} symbols are not supported`);
    const mergedString = symbolStrings[left]! + symbolStrings[right]!;
    symbolStrings.push(mergedString);
    symbolIds.set(mergedString, merged);
    merges.push([symbolStrings[left]!, symbolStrings[right]!]);

    for (const w of pairWords.get(key) ?? []) {
      if (visited[w] === rank) continue;
      visited[w] = rank;
      const symbols = words[w]!;
      const rewritten = applyMerge(symbols, left, right, merged);
      if (rewritten === undefined) continue; // stale index entry: the word no longer holds the pair
      const count = counts[w]!;
      addPairs(symbols, -count, w, INDEX_NONE);
      addPairs(rewritten, count, w, merged);
      words[w] = rewritten;
    }
    pairWords.delete(key);
    pushChanged(); // the merged pair's count is now 0, so this also drops it

    if (merges.length % progressEvery === 0) report();
  }
  report();
  return merges;
}

/** `symbols` with every non-overlapping `left right` (left to right) replaced by `merged`, or undefined if none. */
function applyMerge(symbols: readonly number[], left: number, right: number, merged: number): number[] | undefined {
  let out: number[] | undefined;
  for (let i = 0; i < symbols.length; i++) {
    if (i < symbols.length - 1 && symbols[i] === left && symbols[i + 1] === right) {
      out ??= symbols.slice(0, i);
      out.push(merged);
      i++;
    } else if (out !== undefined) {
      out.push(symbols[i]!);
    }
  }
  return out;
}

/** The most frequent mergeable pair by the tie-break rule, dropping stale heap entries; undefined when none. */
function popBest(
  heap: PairHeap,
  pairCounts: ReadonlyMap<number, number>,
  symbolStrings: readonly string[],
  symbolIds: ReadonlyMap<string, number>,
): PairEntry | undefined {
  for (let entry = heap.pop(); entry !== undefined; entry = heap.pop()) {
    // Each count change pushed an entry with the new count, so an entry that disagrees is out of date.
    if (pairCounts.get(entry.left * PAIR_SHIFT + entry.right) !== entry.count) continue;
    // Its token exists already (made by another pair): never merged, see the module comment.
    if (symbolIds.has(symbolStrings[entry.left]! + symbolStrings[entry.right]!)) continue;
    return entry;
  }
  return undefined;
}

/** Binary max-heap of pairs: higher count first, then smaller (left, right) by their strings. */
class PairHeap {
  private readonly items: PairEntry[] = [];

  constructor(private readonly symbolStrings: readonly string[]) {}

  push(entry: PairEntry): void {
    const items = this.items;
    let i = items.length;
    items.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(entry, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): PairEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      const child = r < items.length && this.before(items[r]!, items[l]!) ? r : l;
      if (!this.before(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Whether `a` comes out before `b`. */
  private before(a: PairEntry, b: PairEntry): boolean {
    if (a.count !== b.count) return a.count > b.count;
    const strings = this.symbolStrings;
    if (a.left !== b.left) return strings[a.left]! < strings[b.left]!;
    return strings[a.right]! < strings[b.right]!;
  }
}

function typeName(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? `a ${value.constructor?.name ?? "object"}` : `a ${typeof value}`;
}
