/**
 * CLIP's pre-tokeniser: the text (already cleaned and lower-cased) is split into special tokens, the English
 * contractions, runs of letters, single digits and runs of other non-space characters. The reference pattern
 * (Python `regex`, case-insensitive):
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * JavaScript's `iu` flags use Unicode simple case folding like the reference (so `'ſ` matches `'s`). After
 * cleanup the only whitespace left is U+0020, but `\s` is spelled out as Python's set anyway so the pattern is
 * also right on uncleaned text (JavaScript's `\s` would wrongly include U+FEFF and miss U+001C–U+001F, U+0085).
 */
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** A fresh global regex for CLIP's pattern (global regexes carry `lastIndex`, so callers own theirs). */
export function clipPretokenizePattern(): RegExp {
  return new RegExp(
    `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${PY_SPACE}\\p{L}\\p{N}]+`,
    "giu",
  );
}

/** The pattern as a string in the syntax of Hugging Face `tokenizer.json` files. */
export const CLIP_PRETOKENIZE_SOURCE =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Python's `str.isspace()` set, as a regex character-class body. */
export const PYTHON_WHITESPACE_CLASS = PY_SPACE;

/** Splits cleaned text into CLIP pre-tokens. */
export function pretokenize(text: string): string[] {
  return text.match(clipPretokenizePattern()) ?? [];
}
