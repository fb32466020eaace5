import { describe, expect, it } from "vitest";
import extra from "./__fixtures__/tokenizer-extra.json" with { type: "json" };
import { unescapeHtml } from "./html.js";

describe("unescapeHtml", () => {
  // Expected values: Python 3.11 `html.unescape`, written by tools/make_tokenizer_fixtures.py.
  it.each(extra.html_unescape.map((c) => [c.text, c.unescaped] as const))("%j → Python's result", (text, expected) => {
    expect(unescapeHtml(text)).toBe(expected);
  });

  it("leaves text without & untouched (same string)", () => {
    const text = "no entities here <b>";
    expect(unescapeHtml(text)).toBe(text);
  });
});
