import { describe, expect, it } from "vitest";
import { pretokenize } from "./pretokenize.js";
import { cleanText } from "./text-cleanup.js";

describe("pretokenize (CLIP's pattern)", () => {
  it.each([
    ["a photo of a cat", ["a", "photo", "of", "a", "cat"]],
    ["it's they're we've i'm you'll he'd", ["it", "'s", "they", "'re", "we", "'ve", "i", "'m", "you", "'ll", "he", "'d"]],
    ["year 2024!", ["year", "2", "0", "2", "4", "!"]],
    ["<|startoftext|>hi<|endoftext|>", ["<|startoftext|>", "hi", "<|endoftext|>"]],
    ["c++ == x->y", ["c", "++", "==", "x", "->", "y"]],
    ["हिन्दी", ["ह", "ि", "न", "्", "द", "ी"]], // combining marks are not letters: they fall in the last class
    ["½²", ["½", "²"]], // single numeric characters
    ["😀👍🏽", ["😀👍🏽"]],
    ["'ſ", ["'ſ"]], // case-insensitive like the reference: ſ folds to s
    ["a\ufeffb", ["a", "\ufeff", "b"]], // U+FEFF is not whitespace in Python
  ])("%j", (text, expected) => {
    expect(pretokenize(text)).toEqual(expected);
  });
});

describe("cleanText (the reference's basic_clean + whitespace_clean + lower)", () => {
  it.each([
    ["  A  Photo\tOF\n\na CAT  ", "a photo of a cat"],
    ["a\u1680b\u205fc\u00a0d", "a b c d"], // Unicode spaces that ftfy keeps collapse like ASCII ones
    ["x\x1cy\x1fz\x85w", "xyz…w"], // ftfy 6.3.1 drops U+001C–U+001F and reads U+0085 as Windows-1252 "…"
    ["İSTANBUL", "i̇stanbul"],
    ["ΣΟΦΟΣ", "σοφος"],
    ["&amp;lt;b&amp;gt;", "<b>"], // HTML unescaped twice
    ["", ""],
  ])("%j → %j", (text, expected) => {
    expect(cleanText(text)).toBe(expected);
  });
});
