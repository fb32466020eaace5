/**
 * HTML character-reference unescaping with the semantics of Python's `html.unescape`, which the reference CLIP
 * tokenizer applies twice. Named references come from the WHATWG table (`character-entities`); names that HTML
 * allows without a semicolon (`character-entities-legacy`) also match as the longest prefix of a longer run
 * (`&notit;` → `¬it;`). Numeric references follow the HTML5 parsing rules that Python implements: the
 * Windows-1252 repair of 0x80–0x9F, U+FFFD for NUL, surrogates and out-of-range values, and removal of the other
 * control characters and the noncharacters.
 */
import { characterEntities } from "character-entities";
import { characterEntitiesLegacy } from "character-entities-legacy";

const LEGACY = new Set<string>(characterEntitiesLegacy);
const NAMED = characterEntities as Record<string, string>;

/** HTML5 §13.2.5.80: numeric references to these code points are replaced (mostly the Windows-1252 repair). */
const INVALID_CHARREFS: ReadonlyMap<number, string> = new Map([
  [0x00, "\ufffd"], [0x0d, "\r"], [0x80, "\u20ac"], [0x81, "\x81"], [0x82, "\u201a"], [0x83, "\u0192"],
  [0x84, "\u201e"], [0x85, "\u2026"], [0x86, "\u2020"], [0x87, "\u2021"], [0x88, "\u02c6"], [0x89, "\u2030"],
  [0x8a, "\u0160"], [0x8b, "\u2039"], [0x8c, "\u0152"], [0x8d, "\x8d"], [0x8e, "\u017d"], [0x8f, "\x8f"],
  [0x90, "\x90"], [0x91, "\u2018"], [0x92, "\u2019"], [0x93, "\u201c"], [0x94, "\u201d"], [0x95, "\u2022"],
  [0x96, "\u2013"], [0x97, "\u2014"], [0x98, "\u02dc"], [0x99, "\u2122"], [0x9a, "\u0161"], [0x9b, "\u203a"],
  [0x9c, "\u0153"], [0x9d, "\x9d"], [0x9e, "\u017e"], [0x9f, "\u0178"],
]);

/** Code points whose numeric references Python's `html.unescape` drops (controls and noncharacters). */
function isInvalidCodePoint(cp: number): boolean {
  return (
    (cp >= 0x1 && cp <= 0x8) ||
    cp === 0xb ||
    (cp >= 0xe && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe // U+xxFFFE and U+xxFFFF in every plane
  );
}

const REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

function replaceNumeric(digits: string, radix: 10 | 16): string {
  // Strip leading zeros so that very long references cannot overflow before the range check.
  const trimmed = digits.replace(/^0+(?=.)/, "");
  const cp = trimmed.length > 8 ? Infinity : Number.parseInt(trimmed, radix);
  const repaired = INVALID_CHARREFS.get(cp);
  if (repaired !== undefined) return repaired;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return "\ufffd";
  if (isInvalidCodePoint(cp)) return "";
  return String.fromCodePoint(cp);
}

function replaceReference(match: string, body: string): string {
  if (body.charCodeAt(0) === 0x23 /* # */) {
    const semicolonless = body.endsWith(";") ? body.slice(0, -1) : body;
    const hex = semicolonless[1] === "x" || semicolonless[1] === "X";
    return replaceNumeric(semicolonless.slice(hex ? 2 : 1), hex ? 16 : 10);
  }
  if (body.endsWith(";")) {
    const value = NAMED[body.slice(0, -1)];
    if (value !== undefined && Object.hasOwn(NAMED, body.slice(0, -1))) return value;
  } else if (LEGACY.has(body)) {
    return NAMED[body]!;
  }
  // The longest legacy name that prefixes the run (at least two characters), the rest kept verbatim.
  for (let end = body.length - 1; end > 1; end--) {
    const prefix = body.slice(0, end);
    if (LEGACY.has(prefix)) return NAMED[prefix]! + body.slice(end);
  }
  return match;
}

/** Python's `html.unescape(text)`. */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(REFERENCE, replaceReference);
}
