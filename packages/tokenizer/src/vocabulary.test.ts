import { gzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import reference from "./__fixtures__/clip-reference-tokenizer.json" with { type: "json" };
import { ClipTokenizer } from "./clip-tokenizer.js";
import {
  CLIP_MERGE_COUNT,
  VocabularyFormatError,
  clipVocabularyFromMerges,
  parseHfTokenizerJson,
  parseTokenizerFiles,
} from "./vocabulary.js";

const clip = await ClipTokenizer.load();
const texts = reference.map((c) => c.text);
const encodeAll = (tok: ClipTokenizer) => texts.map((t) => tok.encode(t));

describe("CLIP's default vocabulary", () => {
  it("has the reference layout: 256 bytes, 256 bytes</w>, 48,894 merges, 2 specials", () => {
    const { tokens, merges } = clip.vocabulary;
    expect(tokens.length).toBe(49408);
    expect(merges.length).toBe(CLIP_MERGE_COUNT);
    expect(tokens[0]).toBe("!");
    expect(tokens[256]).toBe("!</w>");
    expect(tokens[512]).toBe("in");
    expect(tokens[49406]).toBe("<|startoftext|>");
    expect(tokens[49407]).toBe("<|endoftext|>");
    expect(clipVocabularyFromMerges(merges).tokens).toEqual(tokens);
  });
});

describe("formats round-trip CLIP's vocabulary", () => {
  const hf = clip.save("hf").files;
  const tj = clip.save("tokenizer.json").files["tokenizer.json"];
  const bpe = clip.save("bpe").files["bpe_simple_vocab.txt"];
  const enc = new TextEncoder();

  it.each([
    ["vocab.json + merges.txt (strings)", { vocab: hf["vocab.json"], merges: hf["merges.txt"] }],
    ["vocab.json + merges.txt (bytes, parsed vocab object)", { vocab: JSON.parse(hf["vocab.json"]) as Record<string, number>, merges: enc.encode(hf["merges.txt"]).buffer }],
    ["tokenizer.json (string)", { tokenizerJson: tj }],
    ["tokenizer.json (object, merges as pairs)", { tokenizerJson: withPairMerges(JSON.parse(tj)) }],
    ["OpenAI merges file", { bpe }],
    ["OpenAI merges file, gzipped", { bpeGz: gzipSync(enc.encode(bpe)) }],
  ] as const)("%s", (_name, files) => {
    const tok = ClipTokenizer.fromFiles(files);
    expect(tok.vocabulary.tokens).toEqual(clip.vocabulary.tokens);
    expect(tok.startOfTextId).toBe(49406);
    expect(encodeAll(tok)).toEqual(reference.map((c) => c.ids));
  });

  it("reads added tokens that sit outside model.vocab", () => {
    const json = JSON.parse(tj) as { model: { vocab: Record<string, number> } };
    delete json.model.vocab["<|endoftext|>"];
    delete json.model.vocab["<|startoftext|>"];
    expect(parseHfTokenizerJson(json).tokens).toEqual(clip.vocabulary.tokens);
  });
});

function withPairMerges(json: { model: { merges: string[] } }): object {
  return { ...json, model: { ...json.model, merges: json.model.merges.map((m) => m.split(" ")) } };
}

describe("malformed vocabularies give errors that name the problem", () => {
  const cases: [string, unknown, string | RegExp][] = [
    ["not an object", "bpe.txt", "must be an object"],
    ["unknown keys", { spm: "x" }, 'Unknown tokenizer files ["spm"]'],
    ["merges without vocab", { merges: "a b" }, "`merges` was given without `vocab`"],
    ["vocab without merges", { vocab: "{}" }, "`vocab` was given without `merges`"],
    ["gzip signature", { bpeGz: new Uint8Array(100) }, "bpeGz is not a gzip file"],
    ["truncated gzip", { bpeGz: gzipSync(new TextEncoder().encode("#v\na b\n".repeat(100))).subarray(0, 30) }, "bpeGz could not be decompressed"],
    ["bpeGz wrong type", { bpeGz: "text" }, "bpeGz must be a Uint8Array or ArrayBuffer"],
    ["bad merge line", { bpe: "#version: 0.2\ni n\nthree parts here\n" }, "BPE merges file line 3: expected two symbols"],
    ["no merges", { bpe: "#version: 0.2\n" }, "holds no merges"],
    ["invalid UTF-8", { bpe: new Uint8Array([0x23, 0x0a, 0xff, 0xfe]) }, "not valid UTF-8"],
    ["vocab.json not JSON", { vocab: "{oops", merges: "a b" }, "vocab.json is not valid JSON"],
    ["vocab.json an array", { vocab: "[1,2]", merges: "a b" }, "vocab.json must be a JSON object"],
    ["vocab id out of range", { vocab: '{"a": 0, "b": 5}', merges: "a b" }, 'token "b" has id 5'],
    ["vocab duplicate id", { vocab: '{"a": 0, "b": 0}', merges: "a b" }, "id 0 is used by both"],
    ["tokenizer.json without model", { tokenizerJson: "{}" }, "has no `model` object"],
    ["tokenizer.json WordPiece", { tokenizerJson: { model: { type: "WordPiece" } } }, 'model type "WordPiece" is not supported'],
    ["tokenizer.json without </w>", { tokenizerJson: { model: { type: "BPE", vocab: {}, merges: [] } } }, "end_of_word_suffix is undefined"],
    ["tokenizer.json bad merge", { tokenizerJson: { model: { type: "BPE", end_of_word_suffix: "</w>", vocab: { a: 0 }, merges: [3] } } }, "merge 0 must be"],
  ];
  it.each(cases)("%s", (_name, files, message) => {
    expect(() => parseTokenizerFiles(files as never)).toThrow(VocabularyFormatError);
    expect(() => parseTokenizerFiles(files as never)).toThrow(message);
  });

  it("a vocabulary without the byte symbols or specials is rejected when the tokenizer is built", () => {
    const hf = clip.save("hf").files;
    const vocab = JSON.parse(hf["vocab.json"]) as Record<string, number>;
    const dropByte = Object.fromEntries(Object.entries(vocab).filter(([t]) => t !== "a").map(([t], i) => [t, i]));
    expect(() => ClipTokenizer.fromFiles({ vocab: dropByte, merges: "a b" })).toThrow('lacks the byte symbol "a" (byte 97)');
    const merges = "#version: 0.2\nq qqqqqqqqq\n";
    expect(() => ClipTokenizer.fromFiles({ vocab, merges })).toThrow('Merge 0 ("q qqqqqqqqq") uses "qqqqqqqqq", which is not in the vocabulary');
    const noSpecials = { ...vocab };
    delete noSpecials["<|startoftext|>"];
    delete noSpecials["<|endoftext|>"];
    expect(() => ClipTokenizer.fromFiles({ vocab: noSpecials, merges: hf["merges.txt"] })).toThrow("has no <|startoftext|> token");
  });

  it("save('bpe') refuses a vocabulary whose layout a merges file cannot describe", () => {
    const hf = clip.save("hf").files;
    const vocab = JSON.parse(hf["vocab.json"]) as Record<string, number>;
    const swapped = { ...vocab, "!": 1, '"': 0 };
    const tok = ClipTokenizer.fromFiles({ vocab: swapped, merges: hf["merges.txt"] });
    expect(() => tok.save("bpe")).toThrow("does not have CLIP's layout");
    expect(() => tok.save("xml" as never)).toThrow('Unknown vocabulary format "xml"');
  });
});
