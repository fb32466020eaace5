import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("@proj/tokenizer public surface", () => {
  it("exports exactly these names", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "CLIP_MERGE_COUNT",
        "ClipTokenizer",
        "DEFAULT_CONTEXT_LENGTH",
        "END_OF_TEXT",
        "END_OF_WORD",
        "START_OF_TEXT",
        "VocabularyFormatError",
        "cleanText",
        "clipVocabularyFromMerges",
        "fixText",
        "parseTokenizerFiles",
        "pretokenize",
        "trainBpe",
        "unescapeHtml",
      ].sort(),
    );
  });

  it("has the documented API shape", async () => {
    const tok = await api.ClipTokenizer.load();
    expect(tok.encode("a photo of a cat")).toEqual([320, 1125, 539, 320, 2368]);
    expect(tok.tokenize(["a cat", "a dog"], { contextLength: 77, truncate: true })).toBeInstanceOf(Int32Array);
    expect(tok.decode([320, 2368])).toBe("a cat ");
    expect(typeof api.ClipTokenizer.fromFiles).toBe("function");
  });
});
