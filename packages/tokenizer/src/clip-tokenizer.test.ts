import { describe, expect, it } from "vitest";
import reference from "./__fixtures__/clip-reference-tokenizer.json" with { type: "json" };
import extra from "./__fixtures__/tokenizer-extra.json" with { type: "json" };
import { ClipTokenizer } from "./clip-tokenizer.js";

// Fixtures: clip-reference-tokenizer.json is the shared set from OpenAI's reference (see its README);
// tokenizer-extra.json holds our own hard cases run through the same reference by tools/make_tokenizer_fixtures.py.
const tok = await ClipTokenizer.load();

interface Case {
  text: string;
  ids: number[];
  tokenize: number[];
  truncated: boolean;
  decoded: string;
  bpe?: string[];
}

const cases: [string, Case[]][] = [
  ["shared reference fixture", reference as Case[]],
  ["own hard cases (emoji, CJK, accents, HTML, long text, empty)", extra.cases as Case[]],
];

describe.each(cases)("parity with the reference: %s", (_name, list) => {
  it("has cases", () => expect(list.length).toBeGreaterThan(50));

  it.each(list.map((c) => [c.text.slice(0, 60), c] as const))("encode %j", (_t, c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    if (c.bpe) expect(tok.idsToTokens(c.ids)).toEqual(c.bpe);
  });

  it.each(list.map((c) => [c.text.slice(0, 60), c] as const))("tokenize and decode %j", (_t, c) => {
    expect(Array.from(tok.tokenize([c.text], { truncate: true }))).toEqual(c.tokenize);
    expect(tok.decode(c.ids)).toBe(c.decoded);
  });

  it("tokenizes the whole list as one batch, row-major [N, 77]", () => {
    const rows = tok.tokenize(list.map((c) => c.text), { truncate: true });
    expect(rows).toBeInstanceOf(Int32Array);
    expect(Array.from(rows)).toEqual(list.flatMap((c) => c.tokenize));
  });

  it("without truncate, overlong texts are an error that says how long they were", () => {
    for (const c of list.filter((x) => x.truncated)) {
      expect(() => tok.tokenize([c.text])).toThrow(`${c.ids.length + 2} tokens`);
    }
    const fitting = list.filter((c) => !c.truncated);
    expect(Array.from(tok.tokenize(fitting.map((c) => c.text)))).toEqual(fitting.flatMap((c) => c.tokenize));
  });
});

describe("decode", () => {
  it.each(extra.decode.map((c) => [c.ids, c] as const))("%j like the reference", (_ids, c) => {
    expect(tok.decode(c.ids)).toBe(c.decoded);
  });

  it("accepts typed arrays (a tokenize row)", () => {
    expect(tok.decode(tok.tokenize("a cat").subarray(0, 4))).toBe("<|startoftext|>a cat <|endoftext|>");
  });

  it("rejects ids outside the vocabulary, naming the id and its position", () => {
    expect(() => tok.decode([320, 49408])).toThrow("Id 49408 at position 1");
    expect(() => tok.decode([-1])).toThrow("Id -1 at position 0");
    expect(() => tok.decode([1.5])).toThrow("Id 1.5");
  });
});

describe("tokenize options and bad input", () => {
  it("uses CLIP's special ids and context length", () => {
    expect(tok.startOfTextId).toBe(49406);
    expect(tok.endOfTextId).toBe(49407);
    expect(tok.vocabSize).toBe(49408);
    expect(tok.tokenize("a cat").length).toBe(77);
  });

  it("honours contextLength, padding with zeros, and truncation at the boundary", () => {
    expect(Array.from(tok.tokenize(["a photo of a cat"], { contextLength: 8 }))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect(Array.from(tok.tokenize(["a photo of a cat"], { contextLength: 7 }))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(() => tok.tokenize(["a photo of a cat"], { contextLength: 6 })).toThrow("Input 0 is too long for context length 6: 7 tokens");
    expect(Array.from(tok.tokenize(["a photo of a cat"], { contextLength: 6, truncate: true }))).toEqual([49406, 320, 1125, 539, 320, 49407]);
    expect(Array.from(tok.tokenize(["a photo of a cat"], { contextLength: 2, truncate: true }))).toEqual([49406, 49407]);
  });

  it("returns an empty array for an empty batch", () => {
    expect(tok.tokenize([]).length).toBe(0);
  });

  it("rejects non-string items, naming their index and type", () => {
    expect(() => tok.tokenize(["ok", 3 as unknown as string])).toThrow("texts[1] is a number");
    expect(() => tok.tokenize([null as unknown as string])).toThrow("texts[0] is null");
    expect(() => tok.tokenize(42 as unknown as string)).toThrow("expects a string or an array of strings");
    expect(() => tok.encode(undefined as unknown as string)).toThrow("encode() expects a string, got a undefined");
  });

  it("rejects contextLength below 2 or not an integer", () => {
    for (const contextLength of [1, 0, -5, 2.5, Number.NaN]) {
      expect(() => tok.tokenize("a", { contextLength })).toThrow("contextLength must be an integer ≥ 2");
    }
  });
});

describe("word cache", () => {
  it("is bounded by cacheSize and gives the same ids with or without it", async () => {
    const small = await ClipTokenizer.load({ cacheSize: 3 });
    const none = await ClipTokenizer.load({ cacheSize: 0 });
    const text = reference.map((c) => c.text).join(" ");
    expect(small.encode(text)).toEqual(tok.encode(text));
    expect(none.encode(text)).toEqual(tok.encode(text));
    expect((small as unknown as { bpe: { cachedWords: number } }).bpe.cachedWords).toBeLessThanOrEqual(3);
    expect((none as unknown as { bpe: { cachedWords: number } }).bpe.cachedWords).toBe(0);
  });

  it("rejects a bad cacheSize", async () => {
    await expect(ClipTokenizer.load({ cacheSize: -1 })).rejects.toThrow("cacheSize must be a non-negative integer");
  });
});
