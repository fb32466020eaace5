/**
 * `ftfy.fix_text(text)` — ftfy 6.3.1 with its default `TextFixerConfig` — as the CLIP reference tokenizer runs it
 * before `html.unescape`. Written from ftfy's documented behaviour, with its tables of facts (Windows-1252 and the
 * other single-byte code pages, the HTML5 entities, the character categories of its mojibake heuristic), and
 * checked against the real library (`__fixtures__/ftfy-python.json`).
 *
 * Like ftfy, the text is fixed line by line (each segment ends after a `\n`), and each line is put through the
 * sequence of fixes below again and again until it stops changing:
 *
 *   unescape_html → fix_encoding → fix_c1_controls → fix_latin_ligatures → fix_character_width → uncurl_quotes →
 *   fix_line_breaks → fix_surrogates → remove_terminal_escapes → remove_control_chars → NFC
 *
 * `fix_encoding` undoes mojibake — UTF-8 that was decoded with a single-byte encoding such as Windows-1252 — when
 * ftfy's heuristic says the line looks like mojibake: the whole line if it re-decodes, otherwise the runs within it
 * that look bad on their own. Printable ASCII without `&` is returned at once.
 *
 * Known differences from ftfy come only from Unicode versions: ftfy's regular expressions use `\w` and `\d` with
 * Python's Unicode data (Unicode 14 in Python 3.11), this module the JS engine's (Unicode 15 or later), so
 * characters assigned since can be judged differently (see `ftfy.test.ts`). */
import { characterEntities } from "character-entities";
import { characterEntitiesLegacy } from "character-entities-legacy";

// ---------------------------------------------------------------------------------------------------------------
// Tables of facts
// ---------------------------------------------------------------------------------------------------------------

/** Windows-1252 bytes 0x80–0x9F. The five bytes it leaves unassigned (0 here) stay U+0081 etc., as ftfy's "sloppy" codec does. */
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
  0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

/** `fix_latin_ligatures`: the Latin ligatures and digraphs ftfy takes apart (others, such as æ and œ, stay). */
const LIGATURES: ReadonlyMap<number, string> = new Map([
  [0x0132, "IJ"], [0x0133, "ij"], [0x0149, "\u02bcn"],
  [0x01c4, "D\u017d"], [0x01c5, "D\u017e"], [0x01c6, "d\u017e"], [0x01c7, "LJ"], [0x01c8, "Lj"], [0x01c9, "lj"],
  [0x01ca, "NJ"], [0x01cb, "Nj"], [0x01cc, "nj"], [0x01f1, "DZ"], [0x01f2, "Dz"], [0x01f3, "dz"],
  [0xfb00, "ff"], [0xfb01, "fi"], [0xfb02, "fl"], [0xfb03, "ffi"], [0xfb04, "ffl"], [0xfb05, "\u017ft"], [0xfb06, "st"],
]);

/**
 * `fix_character_width`: U+3000 IDEOGRAPHIC SPACE → space, and every character of the Halfwidth and Fullwidth Forms
 * block (U+FF01–U+FFEF) → its NFKC form, as ftfy builds its table.
 */
const WIDTH: ReadonlyMap<number, string> = (() => {
  const table = new Map<number, string>([[0x3000, " "]]);
  for (let c = 0xff01; c < 0xfff0; c++) {
    const char = String.fromCharCode(c);
    const nfkc = char.normalize("NFKC");
    if (nfkc !== char) table.set(c, nfkc);
  }
  return table;
})();

/** `remove_control_chars`: C0 controls except \t \n \f \r, DEL, U+206A–U+206F, U+FEFF and U+FFF9–U+FFFC. */
function isRemovedControl(c: number): boolean {
  return (
    c < 0x09 ||
    c === 0x0b ||
    (c >= 0x0e && c < 0x20) ||
    c === 0x7f ||
    (c >= 0x206a && c <= 0x206f) ||
    c === 0xfeff ||
    (c >= 0xfff9 && c <= 0xfffc)
  );
}

/** `uncurl_quotes`: U+02BC and U+2018–U+201B → `'`, U+201C–U+201F → `"`. */
function uncurledQuote(c: number): string | undefined {
  if (c === 0x02bc || (c >= 0x2018 && c <= 0x201b)) return "'";
  if (c >= 0x201c && c <= 0x201f) return '"';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// unescape_html
// ---------------------------------------------------------------------------------------------------------------

/**
 * ftfy decodes only the complete references `&name;` of the HTML5 table, plus the all-caps spelling of the
 * lower-case names (`&EACUTE;` → `É`, upper-cased value) where Python's `html.unescape` would leave that spelling
 * alone: it is not a name itself and no prefix of it (two letters or more) is a semicolon-less legacy name.
 */
const ENTITIES: ReadonlyMap<string, string> = (() => {
  const named = characterEntities as Record<string, string>;
  const legacy = new Set<string>(characterEntitiesLegacy);
  const table = new Map<string, string>();
  for (const name of Object.keys(named)) table.set(name, named[name]!);
  for (const name of Object.keys(named)) {
    if (name !== name.toLowerCase()) continue;
    const upper = name.toUpperCase();
    if (Object.hasOwn(named, upper) || upper === name) continue;
    let prefixIsLegacy = false;
    for (let end = upper.length; end >= 2 && !prefixIsLegacy; end--) prefixIsLegacy = legacy.has(upper.slice(0, end));
    if (!prefixIsLegacy) table.set(upper, named[name]!.toUpperCase());
  }
  return table;
})();

const ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;
const DECIMAL_REF = /^&#([0-9]+);$/;
const HEX_REF = /^&#[xX]([0-9a-fA-F]+);$/;

/** Python's `html.unescape` of one complete numeric reference (HTML5 rules: Windows-1252 repair of 0x80–0x9F etc.). */
function numericReference(cp: number): string {
  if (cp === 0) return "\ufffd";
  if (cp === 0x0d) return "\r";
  if (cp >= 0x80 && cp <= 0x9f) {
    const mapped = CP1252_HIGH[cp - 0x80]!;
    return String.fromCharCode(mapped === 0 ? cp : mapped);
  }
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return "\ufffd";
  if (
    (cp >= 0x01 && cp <= 0x08) ||
    cp === 0x0b ||
    (cp >= 0x0e && cp <= 0x1f) ||
    cp === 0x7f ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe
  ) {
    return "";
  }
  return String.fromCodePoint(cp);
}

function replaceEntity(match: string): string {
  if (match.charCodeAt(1) !== 0x23 /* # */) return ENTITIES.get(match.slice(1, -1)) ?? match;
  const digits = DECIMAL_REF.exec(match)?.[1];
  const hex = digits === undefined ? HEX_REF.exec(match)?.[1] : undefined;
  if (digits === undefined && hex === undefined) return match;
  const value = digits !== undefined ? Number.parseInt(digits, 10) : Number.parseInt(hex!, 16);
  const decoded = numericReference(Number.isSafeInteger(value) ? value : Infinity);
  // ftfy keeps the reference when the result contains a semicolon (which `&#59;` itself decodes to).
  return decoded.includes(";") ? match : decoded;
}

/** ftfy's `unescape_html`. */
function unescapeHtml(text: string): string {
  return text.replace(ENTITY_RE, replaceEntity);
}

// ---------------------------------------------------------------------------------------------------------------
// fix_encoding, part 1: telling mojibake from text
// ---------------------------------------------------------------------------------------------------------------

/*
 * ftfy decides whether text needs its encoding fixed with a heuristic: the few hundred characters that UTF-8
 * mojibake is made of fall into categories, and some juxtapositions of categories — an accented small letter
 * directly followed by a currency sign, say — practically never occur in intended text. The categories are those
 * of ftfy 6.3.1; `looksLikeMojibake` tests the juxtapositions that ftfy documents as unlikely.
 */
const K_C1 = 1 << 0; // U+0080–U+009F, which nobody means to write any more
const K_BAD = 1 << 1; // symbols that appear almost only in mojibake
const K_LAW = 1 << 2;
const K_CURRENCY = 1 << 3;
const K_OPENING = 1 << 4; // punctuation that opens something, and © (which precedes things)
const K_CLOSING = 1 << 5; // punctuation that closes something, and ® ™ (which follow things)
const K_NUMERIC = 1 << 6;
const K_KAOMOJI = 1 << 7; // the O and U shapes (and °) that emoticons are drawn with
const K_UPPER = 1 << 8; // accented capitals, kaomoji shapes excepted
const K_LOWER = 1 << 9; // accented small letters, likewise
const K_UPPER_COMMON = 1 << 10; // Þ, Greek and Cyrillic capitals: common letters in their own right
const K_LOWER_COMMON = 1 << 11; // Greek and Cyrillic small letters
const K_BOX = 1 << 12; // box drawing
const K_COMMON = 1 << 13; // characters common in every context: no-break space, soft hyphen, · ´ – — ― … ’

// Roles of particular characters in the rules below, kept in the same table to make the tests bit operations.
const R_WIN1252_LEAD = 1 << 14; // Â Ã Î Ð: the commonest first characters of Windows-1252 mojibake
const R_WIN1252_SECOND = 1 << 15; // what commonly follows them
const R_SOUTH_ASIAN_SECOND = 1 << 16; // after à: UTF-8 of Indic scripts
const R_ARABIC_LEAD = 1 << 17; // Ø Ù
const R_ARABIC_SECOND = 1 << 18;
const R_AFTER_ROOT = 1 << 19; // after √: MacRoman
const R_AFTER_A_UMLAUT = 1 << 20; // after ‚Ä: MacRoman
const R_CYRILLIC_FRAME = 1 << 21; // В Г Р С: Windows-1251
const R_GREEK_FRAME = 1 << 22; // Β Γ Ξ Ο: Windows-1253
const R_AFTER_BETA_EURO = 1 << 23; // after β€: Windows-1253

const K_ACCENTED = K_UPPER | K_LOWER;
const K_SYMBOL = K_OPENING | K_CLOSING | K_CURRENCY | K_NUMERIC | K_LAW;

/** Categories of U+0000–U+25FF (where all but four categorised characters are), and of the four others. */
const [CATEGORY_LOW, CATEGORY_HIGH] = (() => {
  const table = new Map<number, number>();
  const add = (bits: number, chars: string) => {
    for (const ch of chars) table.set(ch.charCodeAt(0), (table.get(ch.charCodeAt(0)) ?? 0) | bits);
  };
  const span = (from: string, to: string) => {
    let out = "";
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) out += String.fromCharCode(c);
    return out;
  };
  add(K_C1, span("\x80", "\x9f"));
  add(K_BAD, "¦¤¨¬¯¸ƒˆˇ˘˛˜†‡‰⌐◊\ufffdªº");
  add(K_LAW, "¶§");
  add(K_CURRENCY, "¢£¥₧€");
  add(K_OPENING, "¡«¿©΄΅‘‚“„•‹\uf8ff");
  add(K_CLOSING, "®»˝”›™");
  add(K_NUMERIC, "²³¹±¼½¾×µ÷⁄∂∆∏∑√∞∩∫≈≠≡≤≥№");
  add(K_KAOMOJI, span("Ò", "Ö") + span("Ù", "Ü") + span("ò", "ö") + span("ø", "ü") + "ŐŌŪŲ°");
  add(K_UPPER, span("À", "Ñ") + "ØÜÝĂĀĄĆČĎĐĘĚĒĖĞĢİĪĶĹĽŁĻŃŇŅŒŘŚŞŠŢŤŮŰŸŹŻŽҐ");
  add(K_LOWER, "ß" + span("à", "ñ") + "ăąāćčďđęěēėğģįīķĺľłļœŕśşšťüźżžґﬁﬂ");
  add(K_UPPER_COMMON, "Þ" + span("Α", "Ω") + "ΆΈΉΊΌΎΏΪΫ" + span("Ё", "Я"));
  add(K_LOWER_COMMON, span("α", "ω") + "άέήίΰ" + span("а", "џ"));
  add(K_BOX, "│┌┐┘├┤┬┼" + span("═", "╬") + "▀▄█▌▐░▒▓");
  add(K_COMMON, "\u00a0\u00ad·´–—―…’");
  add(R_WIN1252_LEAD, "ÂÃÎÐ");
  add(R_WIN1252_SECOND, "€œŠš¢£Ÿž\u00a0\u00ad®©°·»–—´");
  add(R_SOUTH_ASIAN_SECOND, "²µ¹¼½¾");
  add(R_ARABIC_LEAD, "ØÙ");
  for (const [c, bits] of table) {
    if (bits & (K_COMMON | K_CURRENCY | K_BAD | K_NUMERIC | K_OPENING)) table.set(c, bits | R_ARABIC_SECOND);
  }
  add(R_ARABIC_SECOND, "ŸŠ®°µ»");
  add(R_AFTER_ROOT, "±∂†≠®™´≤≥¥µø");
  add(R_AFTER_A_UMLAUT, "ìîïòôúùû†°¢π");
  add(R_CYRILLIC_FRAME, "ВГРС");
  add(R_GREEK_FRAME, "ΒΓΞΟ");
  add(R_AFTER_BETA_EURO, "™\u00a0Ά\u00ad®°");
  const low = new Uint32Array(0x2600);
  const high = new Map<number, number>();
  for (const [c, bits] of table) {
    if (c < low.length) low[c] = bits;
    else high.set(c, bits);
  }
  return [low, high] as const;
})();

function categoryOf(c: number): number {
  return c < 0x2600 ? CATEGORY_LOW[c]! : c < 0xf8ff ? 0 : (CATEGORY_HIGH.get(c) ?? 0);
}

const codes = (chars: string): ReadonlySet<number> => new Set(Array.from(chars, (ch) => ch.charCodeAt(0)));

function isAsciiLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isAsciiLetter(c: number): boolean {
  return isAsciiLower(c | 0x20);
}

/** Python's `\s` (`str.isspace`). */
function isPythonSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    (c >= 0x1c && c <= 0x20) ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

const WORD_CHAR = /^[\p{L}\p{N}_]/u;

/** Python's `\w` for the character starting at `i`. */
function isWordChar(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0x80) return isAsciiLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
  return WORD_CHAR.test(s.slice(i, i + 2));
}

const A_CIRCUMFLEX = 0xc2; // Â
const A_TILDE = 0xc3; // Ã

/** ftfy's `is_bad`: whether `s` contains any of the unlikely sequences. */
function looksLikeMojibake(s: string): boolean {
  let c1 = -1, c2 = -1, c3 = -1; // the previous three code units, nearest first
  let k1 = 0, k2 = 0; // and the categories of the previous two
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const k = c < 0x80 ? 0 : categoryOf(c);
    if (k & K_C1) return true;
    if (k1 !== 0 && rulesMatchAt(s, i, c, k, c1, k1, c2, k2, c3)) return true;
    // "ГўВЂВ", any character but a newline, then a Latin letter or a space: Windows-1251 over Latin-1 mojibake.
    if (c === 0x412 && s.startsWith("ГўВЂВ", i - 4) && i + 2 < s.length) {
      const after = s.charCodeAt(i + 2);
      if (s.charCodeAt(i + 1) !== 0x0a && (isAsciiLetter(after) || after === 0x20)) return true;
    }
    c3 = c2;
    c2 = c1;
    c1 = c;
    k2 = k1;
    k1 = k;
  }
  return false;
}

/** The unlikely sequences that end at `s[i]` (category `k`), given the characters before it. */
function rulesMatchAt(s: string, i: number, c: number, k: number, c1: number, k1: number, c2: number, k2: number, c3: number): boolean {
  if (k === 0) {
    // The few rules whose last character may be an uncategorised one (a letter, a space…).
    if (c1 === 0x152 || c1 === 0x153) return !isAsciiLetter(c); // Œ œ not followed by a Latin letter
    if (c === 0x20 && (c1 === A_TILDE || c1 === A_CIRCUMFLEX)) {
      // "Ã " / "Â " where the space was a no-break space: at the start, or after a lower-case word ("voilÃ le").
      if (i === 1 || isAsciiLower(c2) || (isPythonSpace(c2) && isAsciiLower(c3))) return true;
      // "Â" after the end of a sentence or a word, before a space it would have been the encoding of.
      if (c1 === A_CIRCUMFLEX && (isSentencePunctuation(c2) || k2 & K_CLOSING)) return true;
    }
    // An accented letter, then punctuation, then a word character.
    return (k1 & (K_OPENING | K_CLOSING)) !== 0 && (k2 & K_ACCENTED) !== 0 && isWordChar(s, i);
  }
  // Two characters.
  if (k & K_BAD && k1 & (K_BAD | K_ACCENTED | K_BOX | K_SYMBOL)) return true;
  if (k1 & K_BAD && k & (K_ACCENTED | K_BOX | K_SYMBOL)) return true;
  if (k & K_UPPER && k1 & (K_LOWER | K_LOWER_COMMON | K_BOX | K_CLOSING | K_CURRENCY | K_NUMERIC)) return true;
  if (k & K_LOWER && k1 & (K_BOX | K_CLOSING | K_CURRENCY | K_NUMERIC)) return true;
  if (k & K_CURRENCY && k1 & (K_LOWER | K_BOX | K_CLOSING)) return true;
  if (k & (K_NUMERIC | K_LAW) && k1 & (K_UPPER | K_BOX)) return true;
  if (k & K_OPENING && k1 & (K_CURRENCY | K_NUMERIC | K_BOX)) return true;
  if (k & K_KAOMOJI && k1 & K_BOX) return true;
  if (k & K_BOX && k1 & (K_ACCENTED | K_SYMBOL)) return true;
  if (k & K_CLOSING && k1 & K_BOX) return true;
  if (c1 === 0x152 || c1 === 0x153) return true; // Œ œ followed by anything but a Latin letter
  if (c === 0xb0 && k1 & K_UPPER) return true; // capital letter, degree sign
  if (k1 & R_WIN1252_LEAD && k & (K_OPENING | K_CLOSING | R_WIN1252_SECOND)) return true;
  if (c1 === A_TILDE && (c === 0xa0 || c === 0xa1)) return true;
  if (c1 === 0xd7 && (c === 0xb2 || c === 0xb3)) return true; // ×² ×³: Hebrew
  if (c1 === 0xe0 && k & R_SOUTH_ASIAN_SECOND) return true;
  if (c1 === 0x221a && k & R_AFTER_ROOT) return true; // √: MacRoman
  if (c1 === 0x2248 && (c === 0xb0 || c === 0xa2)) return true; // ≈° ≈¢: MacRoman
  if (c1 === 0x432 && c === 0x402) return true; // вЂ: Windows-1251
  if (c1 === 0x101 && c === 0x20ac) return true; // ā€: Windows-1257
  if (i < 2) return false;
  // Three characters.
  if (k & K_BAD && k1 & (K_LOWER_COMMON | K_UPPER_COMMON) && isAsciiLetter(c2)) return true;
  if (k & K_CURRENCY && k1 & K_UPPER && isPythonSpace(c2)) return true;
  if (k & (K_OPENING | K_CURRENCY) && k1 & K_UPPER && isAsciiLower(c2)) return true;
  if (k & K_NUMERIC && k1 & K_OPENING && k2 & (K_ACCENTED | K_BOX | K_CURRENCY | K_CLOSING)) return true;
  if (k & K_OPENING && k1 & K_CLOSING && k2 & (K_ACCENTED | K_CURRENCY | K_NUMERIC | K_BOX | K_LAW)) return true;
  if (k1 & (K_OPENING | K_CLOSING) && k2 & K_ACCENTED && isWordChar(s, i)) return true;
  if (c1 === A_CIRCUMFLEX && k & (K_OPENING | K_CLOSING) && (isAsciiLower(c2) || isSentencePunctuation(c2) || k2 & K_CLOSING)) {
    return true; // "Â" before the character it would have been the encoding of
  }
  if (c2 === 0x201a && c1 === 0xc4 && k & R_AFTER_A_UMLAUT) return true; // ‚Ä…: MacRoman
  if (c2 === 0x201a && (c1 === 0xe2 || c1 === 0xf3) && (c === 0xe0 || c === 0xe4 || c === 0xb0 || c === 0xea)) return true;
  const framed = (k1 & (K_C1 | K_BAD | K_OPENING | K_CLOSING | K_CURRENCY)) !== 0;
  if (k & R_CYRILLIC_FRAME && categoryOf(c2) & R_CYRILLIC_FRAME && (framed || c1 === 0xb0 || c1 === 0xb5)) return true;
  if (k & R_GREEK_FRAME && categoryOf(c2) & R_GREEK_FRAME && (framed || c1 === 0xb0)) return true;
  if (c2 === 0x3b2 && c1 === 0x20ac && k & R_AFTER_BETA_EURO) return true; // β€: Windows-1253
  // Four characters: Arabic in Windows-1252, Ø/Ù and a symbol twice.
  if (i < 3 || !(k & R_ARABIC_SECOND) || !(k1 & R_ARABIC_LEAD)) return false;
  return (categoryOf(c2) & R_ARABIC_SECOND) !== 0 && (categoryOf(c3) & R_ARABIC_LEAD) !== 0;
}

function isSentencePunctuation(c: number): boolean {
  return c === 0x2e || c === 0x2c || c === 0x3f || c === 0x21; // . , ? !
}

// ---------------------------------------------------------------------------------------------------------------
// fix_encoding, part 2: re-decoding
// ---------------------------------------------------------------------------------------------------------------

/**
 * A single-byte encoding that ftfy considers UTF-8 may have been mis-decoded with: what bytes 0x80–0xFF decode to.
 * "Sloppy" ones decode the bytes the real codec leaves unassigned as the Latin-1 characters (as browsers do), and
 * let U+FFFD — a byte the decoder could not decode — stand for byte 0x1A.
 */
interface SingleByteEncoding {
  readonly name: string;
  readonly high: string;
  readonly sloppy: boolean;
  /** MacRoman is spared `restore_byte_a0`, where an en dash and a space would look like UTF-8. */
  readonly restoreA0: boolean;
}

function latin1High(): string {
  let out = "";
  for (let b = 0x80; b < 0x100; b++) out += String.fromCharCode(b);
  return out;
}

function cp1252High(): string {
  return CP1252_HIGH.map((cp, i) => String.fromCharCode(cp === 0 ? 0x80 + i : cp)).join("") + latin1High().slice(32);
}

/** The encodings in ftfy's order of trial: Latin-1 and Windows-1252, by far the commonest, first. */
const ENCODINGS: readonly SingleByteEncoding[] = [
  { name: "latin-1", high: latin1High(), sloppy: false, restoreA0: true },
  { name: "sloppy-windows-1252", high: cp1252High(), sloppy: true, restoreA0: true },
  {
    name: "sloppy-windows-1251",
    high:
      "ЂЃ‚ѓ„…†‡€‰Љ‹ЊЌЋЏђ‘’“”•–—\u0098™љ›њќћџ\u00a0ЎўЈ¤Ґ¦§Ё©Є«¬\u00ad®Ї°±Ііґµ¶·ё№є»јЅѕї" +
      "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя",
    sloppy: true,
    restoreA0: true,
  },
  {
    name: "sloppy-windows-1250",
    high:
      "€\u0081‚\u0083„…†‡\u0088‰Š‹ŚŤŽŹ\u0090‘’“”•–—\u0098™š›śťžź\u00a0ˇ˘Ł¤Ą¦§¨©Ş«¬\u00ad®Ż°±˛ł´µ¶·¸ąş»Ľ˝ľż" +
      "ŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
    sloppy: true,
    restoreA0: true,
  },
  {
    name: "sloppy-windows-1253",
    high:
      "€\u0081‚ƒ„…†‡\u0088‰\u008a‹\u008c\u008d\u008e\u008f\u0090‘’“”•–—\u0098™\u009a›\u009c\u009d\u009e\u009f\u00a0΅Ά£¤¥¦§¨©ª«¬\u00ad®―°±²³΄µ¶·ΈΉΊ»Ό½ΎΏ" +
      "ΐΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡÒΣΤΥΦΧΨΩΪΫάέήίΰαβγδεζηθικλμνξοπρςστυφχψωϊϋόύώÿ",
    sloppy: true,
    restoreA0: true,
  },
  {
    name: "sloppy-windows-1254",
    high:
      "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008d\u008e\u008f\u0090‘’“”•–—˜™š›œ\u009d\u009eŸ\u00a0¡¢£¤¥¦§¨©ª«¬\u00ad®¯°±²³´µ¶·¸¹º»¼½¾¿" +
      "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ",
    sloppy: true,
    restoreA0: true,
  },
  {
    name: "sloppy-windows-1257",
    high:
      "€\u0081‚\u0083„…†‡\u0088‰\u008a‹\u008c¨ˇ¸\u0090‘’“”•–—\u0098™\u009a›\u009c¯˛\u009f\u00a0¡¢£¤¥¦§Ø©Ŗ«¬\u00ad®Æ°±²³´µ¶·ø¹ŗ»¼½¾æ" +
      "ĄĮĀĆÄÅĘĒČÉŹĖĢĶĪĻŠŃŅÓŌÕÖ×ŲŁŚŪÜŻŽßąįāćäåęēčéźėģķīļšńņóōõö÷ųłśūüżž˙",
    sloppy: true,
    restoreA0: true,
  },
  {
    name: "iso-8859-2",
    high:
      "\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e\u009f\u00a0Ą˘Ł¤ĽŚ§¨ŠŞŤŹ\u00adŽŻ°ą˛ł´ľśˇ¸šşťź˝žż" +
      "ŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
    sloppy: false,
    restoreA0: true,
  },
  {
    name: "macroman",
    high:
      "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø" +
      "¿¡¬√ƒ≈∆«»…\u00a0ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\uf8ffÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ",
    sloppy: false,
    restoreA0: false,
  },
  {
    name: "cp437",
    high:
      "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
      "└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0",
    sloppy: false,
    restoreA0: true,
  },
];

const ENCODERS: readonly ReadonlyMap<number, number>[] = ENCODINGS.map((encoding) => {
  const bytes = new Map<number, number>();
  for (let i = 0; i < 128; i++) bytes.set(encoding.high.charCodeAt(i), 0x80 + i);
  if (encoding.sloppy) bytes.set(0xfffd, 0x1a);
  return bytes;
});

/** The bytes the line was decoded from, as a binary string (one char per byte); null if it cannot have been. */
function encodeSingleByte(s: string, index: number): string | null {
  const encoder = ENCODERS[index]!;
  const sloppy = ENCODINGS[index]!.sloppy;
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && !(sloppy && c === 0x1a)) continue;
    const b = encoder.get(c);
    if (b === undefined) return null;
    if (b !== c) {
      out += s.slice(pos, i) + String.fromCharCode(b);
      pos = i + 1;
    }
  }
  return pos === 0 ? s : out + s.slice(pos);
}

/**
 * ftfy's `restore_byte_a0`: sequences that would be UTF-8 if a space were byte 0xA0 — which some program turned
 * into a space — get 0xA0 back: C2 C3 C5 CE D0 D9 + space; E2/E3 + space + continuation; E0–E3 + continuation +
 * space (not 0x85 or 0xA0 as that continuation); F0 with any one of its continuations a space.
 */
const SPACE_FOR_A0 =
  /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf]{2}|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf]{2} /g;
/** …except that "Ã " reads as "à " with the space kept (French "à la"), unless it's "às" or Portuguese "àquele" etc. */
const A_GRAVE_WORD = /\xc3 (?! |quele|quela|quilo|s )/g;

/**
 * ftfy's `replace_lossy_sequences` (sloppy encodings only): a UTF-8 sequence with a continuation byte lost to
 * 0x1A (U+FFFD), or — once per sequence — to `?`, decodes as U+FFFD; so does a lone 0x1A.
 */
const LOSSY_SEQUENCE = new RegExp(
  [
    "[\\xc2-\\xdf]\\x1a",
    "[\\xc2\\xc3]\\?",
    "\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]",
    "\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]",
    "[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]",
    "[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]",
    "[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]",
    "[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]",
    "[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]",
    "\\x1a",
  ].join("|"),
  "g",
);

/**
 * ftfy decodes text containing byte 0xED or 0xC0 with its "utf-8-variants" codec, which also accepts CESU-8 (a
 * UTF-16 surrogate pair written as two three-byte sequences) and Java's C0 80 for NUL. That codec also takes a
 * final `\n` for the last byte of either (its pattern's `$` matches before a trailing newline), which is mirrored.
 */
const CESU8_PAIR = /\xed([\xa0-\xaf])([\x80-\xbf])\xed([\xb0-\xbf])([\x80-\xbf]|\n$)/g;
const JAVA_NUL = /\xc0(?:\x80|\n$)/g;

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes a binary string as UTF-8 after ftfy's repairs; null where it is not valid UTF-8. */
function redecode(bytes: string, encoding: SingleByteEncoding): string | null {
  SPACE_FOR_A0.lastIndex = 0;
  if (encoding.restoreA0 && SPACE_FOR_A0.test(bytes)) {
    bytes = bytes.replace(A_GRAVE_WORD, "\xc3\xa0 ").replace(SPACE_FOR_A0, (m) => m.replace(" ", "\xa0"));
  }
  if (encoding.sloppy) bytes = bytes.replace(LOSSY_SEQUENCE, "\xef\xbf\xbd");
  if (bytes.includes("\xed") || bytes.includes("\xc0")) {
    bytes = bytes.replace(CESU8_PAIR, (_m, a: string, b: string, c: string, d: string) => {
      const high = 0xd000 | ((a.charCodeAt(0) & 0x3f) << 6) | (b.charCodeAt(0) & 0x3f);
      const low = 0xd000 | ((c.charCodeAt(0) & 0x3f) << 6) | (d.charCodeAt(0) & 0x3f);
      const cp = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
      return String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    });
    bytes = bytes.replace(JAVA_NUL, "\x00");
  }
  const array = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
  try {
    return STRICT_UTF8.decode(array);
  } catch {
    return null;
  }
}

/*
 * ftfy's `decode_inconsistent_utf8` looks for runs of characters shaped like UTF-8 read as a single-byte encoding:
 * a lead character and the right number of continuation characters. These sets are the characters that lead bytes
 * and continuation bytes decode to in the single-byte encodings ftfy knows (Latin-1, Windows-1250/1/2/3/4/7,
 * ISO-8859-2), as ftfy lists them; a space also counts as a continuation (standing for 0xA0). A run right after a
 * continuation character that is not punctuation is left alone, being likely the tail of some larger garble.
 */
const LEAD_OF_2 = codes(
  "ĂÂÄĀÅÃÆĆČÇĎĐÉĚÊËĖÈĒĘÐĞĢÍÎÏİÌĪĶĹĻŁŃŇŅÑÓÔÖŐÒŌØÕŘŚŠŞŢÞÚÛÜŰÙŪŲŮÝŹŽŻß×" +
    "ΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫάέήίВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
);
const LEAD_OF_3 = codes("áăâäàāąåãæćčçďéěêëėèēęģíîïìīįķĺļŕźΰαβγδεζηθικλμνξοабвгдежзийклмноп");
const LEAD_OF_4 = codes("đðğóšπσру");
/** Continuations that are not punctuation (ftfy's "strict" set), beyond U+0080–U+00BF. */
const STRICT_CONTINUATION = codes(
  "ĄÆĽŁØŖŚŠŞŤŸŹŽŻŒąæƒľłøŗśšşťźžżœˆˇ˘˛˜˝΄΅ΆΈΉΊΌΎΏЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ†‡‰‹›€№™",
);
const PUNCTUATION_CONTINUATION = codes(" –—―‘’‚“”„•…");

function isContinuation(c: number): boolean {
  return (c >= 0x80 && c <= 0xbf) || STRICT_CONTINUATION.has(c) || PUNCTUATION_CONTINUATION.has(c);
}

function isStrictContinuation(c: number): boolean {
  return (c >= 0x80 && c <= 0xbf) || STRICT_CONTINUATION.has(c);
}

/** The length of the UTF-8-shaped sequence at `i`, or 0. */
function detectorSequenceLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xc2 || c > 0x443) return 0; // the range of all the leads
  const length = LEAD_OF_2.has(c) ? 2 : LEAD_OF_3.has(c) ? 3 : LEAD_OF_4.has(c) ? 4 : 0;
  if (length === 0 || i + length > s.length) return 0;
  for (let k = 1; k < length; k++) if (!isContinuation(s.charCodeAt(i + k))) return 0;
  return length;
}

/** Decodes each run that looks like mojibake by itself (and is not the whole line). */
function fixInconsistentUtf8(s: string): string {
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; ) {
    let end = i;
    if (i === 0 || !isStrictContinuation(s.charCodeAt(i - 1))) {
      for (let n = detectorSequenceLength(s, end); n > 0; n = detectorSequenceLength(s, end)) end += n;
    }
    if (end === i) {
      i++;
      continue;
    }
    const run = s.slice(i, end);
    if (run.length < s.length && looksLikeMojibake(run)) {
      const fixed = fixEncoding(run);
      out += s.slice(pos, i) + fixed;
      pos = end;
    }
    i = end;
  }
  return pos === 0 ? s : out + s.slice(pos);
}

/** One step of ftfy's `fix_encoding` on a line. */
function fixEncodingStep(s: string): string {
  if (!looksLikeMojibake(s)) return s;
  // The whole line, read back as the bytes it was decoded from, is UTF-8: the usual case.
  for (let index = 0; index < ENCODINGS.length; index++) {
    const bytes = encodeSingleByte(s, index);
    const decoded = bytes === null ? null : redecode(bytes, ENCODINGS[index]!);
    if (decoded !== null) return decoded;
  }
  // Mojibake mixed with other text: fix the pieces.
  const pieces = fixInconsistentUtf8(s);
  if (pieces !== s) return pieces;
  // Otherwise C1 controls are taken for the Windows-1252 characters of the same bytes (as browsers do).
  return mapC1Controls(s);
}

function mapC1Controls(s: string): string {
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 || c > 0x9f || CP1252_HIGH[c - 0x80] === 0) continue;
    out += s.slice(pos, i) + String.fromCharCode(CP1252_HIGH[c - 0x80]!);
    pos = i + 1;
  }
  return pos === 0 ? s : out + s.slice(pos);
}

/**
 * ftfy's `fix_encoding`: steps until nothing changes (text can be mojibake of mojibake). Every step shortens the
 * text or removes C1 controls, so this ends; the bound is only a guard.
 */
function fixEncoding(s: string): string {
  for (let round = 0; round < 100; round++) {
    const fixed = fixEncodingStep(s);
    if (fixed === s) break;
    s = fixed;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// The character-level fixes
// ---------------------------------------------------------------------------------------------------------------

/**
 * `fix_c1_controls` (C1 controls → their Windows-1252 characters), `fix_latin_ligatures`, `fix_character_width`,
 * `uncurl_quotes`, `fix_line_breaks` and `fix_surrogates`, in that order, in one pass over the text.
 */
function fixCharacters(s: string): string {
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && c !== 0x0d) continue;
    let replacement: string | undefined;
    let skip = 0;
    if (c === 0x0d) {
      replacement = "\n";
      if (s.charCodeAt(i + 1) === 0x0a) skip = 1;
    } else if (c <= 0x9f) {
      const mapped = CP1252_HIGH[c - 0x80]!;
      if (mapped !== 0) replacement = uncurledQuote(mapped) ?? String.fromCharCode(mapped);
    } else if (c < 0x132) {
      continue;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) skip = 1;
      else replacement = "\ufffd";
    } else if (c === 0x2028 || c === 0x2029) {
      replacement = "\n";
    } else {
      // uncurl_quotes comes after fix_latin_ligatures, so ŉ → ʼn → 'n.
      replacement = LIGATURES.get(c)?.replace("\u02bc", "'") ?? WIDTH.get(c) ?? uncurledQuote(c);
    }
    if (replacement !== undefined) {
      out += s.slice(pos, i) + replacement;
      pos = i + 1 + skip;
    }
    i += skip;
  }
  return pos === 0 ? s : out + s.slice(pos);
}

/** `remove_terminal_escapes`: ANSI sequences ESC [ digits/semicolons letter (Python's `\d`: any decimal digit). */
// eslint-disable-next-line no-control-regex -- matching ESC is the point
const ANSI_RE = /\x1b\[[\p{Nd};]*[a-zA-Z]/gu;

/** `remove_control_chars`. */
function removeControls(s: string): string {
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    if (isRemovedControl(s.charCodeAt(i))) {
      out += s.slice(pos, i);
      pos = i + 1;
    }
  }
  return pos === 0 ? s : out + s.slice(pos);
}

// ---------------------------------------------------------------------------------------------------------------
// fix_text
// ---------------------------------------------------------------------------------------------------------------

const HAS_AMP = 1;
const MAY_BE_MOJIBAKE = 2; // a pair of characters that can start one of the unlikely sequences, or a C1 control
const HAS_CHAR_FIX = 4; // something fixCharacters changes
const HAS_ESC = 8;
const HAS_CONTROL = 16;
const MAY_NEED_NFC = 32; // code points below U+0300 are all NFC-stable

/**
 * Whether a character of category `k1` followed by `c` (of category `k`) can be part of an unlikely sequence:
 * every rule of `looksLikeMojibake` needs two categorised characters in a row, except for the few that end in
 * an uncategorised one after Œ/œ, "Ã"/"Â" or a punctuation mark.
 */
function mayStartMojibake(c1: number, k1: number, c: number, k: number): boolean {
  if (k !== 0) return true;
  return (k1 & (K_OPENING | K_CLOSING)) !== 0 || c1 === 0x152 || c1 === 0x153 || (c === 0x20 && (c1 === A_TILDE || c1 === A_CIRCUMFLEX));
}

/** Which fixes can possibly apply to `s`, in one pass over its code units. */
function scan(s: string): number {
  let flags = 0;
  let c1 = 0;
  let k1 = 0; // the category of the previous character
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (k1 !== 0) {
        if (mayStartMojibake(c1, k1, c, 0)) flags |= MAY_BE_MOJIBAKE;
        k1 = 0;
      }
      if (c >= 0x20 && c !== 0x26 && c !== 0x7f) continue;
      if (c === 0x26) flags |= HAS_AMP;
      else if (c === 0x1b) flags |= HAS_ESC | HAS_CONTROL;
      else if (c === 0x0d) flags |= HAS_CHAR_FIX;
      else if (isRemovedControl(c)) flags |= HAS_CONTROL;
      continue;
    }
    const k = categoryOf(c);
    if ((k1 !== 0 && mayStartMojibake(c1, k1, c, k)) || k & K_C1) flags |= MAY_BE_MOJIBAKE;
    c1 = c;
    k1 = k;
    if (c < 0x300) {
      if (c <= 0x9f || c === 0x2bc || (c >= 0x132 && LIGATURES.has(c))) flags |= HAS_CHAR_FIX;
      continue;
    }
    flags |= MAY_NEED_NFC;
    if (
      (c >= 0x2018 && c <= 0x201f) ||
      c === 0x2028 ||
      c === 0x2029 ||
      (c >= 0xd800 && c <= 0xdfff) ||
      c === 0x3000 ||
      (c >= 0xfb00 && c <= 0xfb06) ||
      (c >= 0xff01 && c <= 0xffef)
    ) {
      flags |= HAS_CHAR_FIX;
    } else if (isRemovedControl(c)) {
      flags |= HAS_CONTROL;
    }
  }
  return flags;
}

const MAY_CHANGE_UNDER_NFC = /[^\0-\u02ff]/;

/** ftfy's `fix_and_explain` for one segment: the fixes in order, repeated until nothing changes. */
function fixSegment(segment: string, unescape: boolean): string {
  let text = segment;
  for (let round = 0; round < 64; round++) {
    const flags = scan(text) & (unescape ? ~0 : ~HAS_AMP);
    if (flags === 0) return text;
    const before = text;
    // A step runs when the scan found something for it, or when an earlier step has changed the text since.
    if (flags & HAS_AMP) text = unescapeHtml(text);
    if (text !== before || flags & MAY_BE_MOJIBAKE) text = fixEncoding(text);
    if (text !== before || flags & HAS_CHAR_FIX) text = fixCharacters(text);
    if (flags & HAS_ESC) text = text.replace(ANSI_RE, "");
    if (text !== before || flags & HAS_CONTROL) text = removeControls(text);
    if (text === before ? flags & MAY_NEED_NFC : MAY_CHANGE_UNDER_NFC.test(text)) text = text.normalize("NFC");
    if (text === before) return text;
  }
  return text;
}

/** Printable ASCII (plus \t and \n) without `&`: text that every fix leaves as it is. */
const PLAIN_ASCII = /^[\t\n\x20-\x25\x27-\x7e]*$/;

/** ftfy's `max_decode_length`: longer lines are fixed in pieces of this many code points. */
const MAX_SEGMENT = 1_000_000;

/** Where the piece of `text` starting at `pos` ends if it would exceed `MAX_SEGMENT` code points before `end`. */
function segmentEnd(text: string, pos: number, end: number): number {
  if (end - pos <= MAX_SEGMENT) return end;
  let i = pos;
  for (let n = 0; n < MAX_SEGMENT && i < end; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return i;
}

/**
 * `ftfy.fix_text(text)` with ftfy 6.3.1's defaults. HTML entities are decoded only until the first line that
 * contains `<` (ftfy's `unescape_html="auto"`, which then stays off for the rest of the text).
 */
export function fixText(text: string): string {
  if (PLAIN_ASCII.test(text)) return text;
  const newline = text.indexOf("\n");
  if ((newline === -1 || newline === text.length - 1) && text.length <= MAX_SEGMENT) {
    return fixSegment(text, !text.includes("<")); // a single line
  }
  let unescape = true;
  let out = "";
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf("\n", pos);
    const end = segmentEnd(text, pos, newline === -1 ? text.length : newline + 1);
    const segment = pos === 0 && end === text.length ? text : text.slice(pos, end);
    if (unescape && segment.includes("<")) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}
