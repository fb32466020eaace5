/**
 * The reference's text cleanup, in its order: `ftfy.fix_text` → `html.unescape` twice → strip → collapse runs of
 * whitespace to one space → strip → `lower()`. "Whitespace" is Python's `str.isspace()` set throughout, and
 * lower-casing is full Unicode lower-casing (`İ` → `i̇`, final `Σ` → `ς`), which `toLowerCase` also implements.
 */
import { fixText } from "./ftfy.js";
import { unescapeHtml } from "./html.js";
import { PYTHON_WHITESPACE_CLASS } from "./pretokenize.js";

const WHITESPACE_RUN = new RegExp(`[${PYTHON_WHITESPACE_CLASS}]+`, "g");

/** Printable ASCII with no `&` — text that every cleanup step but the whitespace/lower-case ones leaves alone. */
const PLAIN_ASCII = /^[\x20-\x25\x27-\x7e]*$/;

/** CLIP's `whitespace_clean(basic_clean(text)).lower()`. */
export function cleanText(text: string): string {
  let t = text;
  if (!PLAIN_ASCII.test(t)) t = unescapeHtml(unescapeHtml(fixText(t)));
  t = t.replace(WHITESPACE_RUN, " ");
  let start = 0;
  let end = t.length;
  while (start < end && t.charCodeAt(start) === 0x20) start++;
  while (end > start && t.charCodeAt(end - 1) === 0x20) end--;
  if (start > 0 || end < t.length) t = t.slice(start, end);
  return t.toLowerCase();
}
