/**
 * `ftfy.fix_text(text)` — ftfy 6.3.1 with its default `TextFixerConfig` — as the CLIP reference tokenizer runs it
 * before `html.unescape`. Written from ftfy's documented behaviour and checked against the real library
 * (`__fixtures__/ftfy-python.json`); the mojibake detector is this module's own heuristic, modelled on ftfy's.
 *
 * Like ftfy, the text is fixed line by line (each segment ends after a `\n`), and each line is put through the
 * sequence of fixes below again and again until it stops changing:
 *
 *   unescape_html → fix_encoding → fix_c1_controls → fix_latin_ligatures → fix_character_width → uncurl_quotes →
 *   fix_line_breaks → fix_surrogates → remove_terminal_escapes → remove_control_chars → NFC
 *
 * `fix_encoding` only undoes UTF-8 that was decoded as Windows-1252 or Latin-1 (the mojibake that real text has);
 * ftfy's rarer repairs through Windows-1250/1251/1253/1254/1257, ISO-8859-2, MacRoman and cp437 are not made.
 */
import { characterEntities } from "character-entities";
import { characterEntitiesLegacy } from "character-entities-legacy";

// ---------------------------------------------------------------------------------------------------------------
// Tables of facts
// ---------------------------------------------------------------------------------------------------------------

/** Windows-1252 bytes 0x80–0x9F. The five bytes it leaves unassigned (0 here) stay U+0081 etc., as ftfy's "sloppy" codec does. */
// prettier-ignore
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
  0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

/**
 * The byte each code unit below U+2123 stands for when UTF-8 was decoded as Latin-1 or as sloppy Windows-1252
 * (U+0000–U+00FF are both their own byte; the 27 Windows-1252 characters such as `€` their byte 0x80–0x9F); -1 if none.
 */
const BYTE_OF: Int16Array = (() => {
  const table = new Int16Array(0x2123).fill(-1);
  for (let c = 0; c < 0x100; c++) table[c] = c;
  CP1252_HIGH.forEach((cp, i) => {
    if (cp !== 0) table[cp] = 0x80 + i;
  });
  return table;
})();

function byteOf(c: number): number {
  return c < 0x2123 ? BYTE_OF[c]! : -1;
}

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
 * directly followed by a currency sign, say — practically never occur in intended text. The categories below are
 * those of ftfy 6.3.1, restricted to the characters that Latin-1 and Windows-1252 produce (the only mojibake this
 * module decodes); `looksLikeMojibake` tests the juxtapositions ftfy documents as unlikely.
 */
const K_C1 = 1 << 0; // U+0080–U+009F, which nobody means to write any more
const K_BAD = 1 << 1; // symbols that appear almost only in mojibake
const K_LAW = 1 << 2;
const K_CURRENCY = 1 << 3;
const K_OPENING = 1 << 4; // punctuation that opens something, and © (which precedes things)
const K_CLOSING = 1 << 5; // punctuation that closes something, and ® ™ (which follow things)
const K_NUMERIC = 1 << 6;
const K_UPPER = 1 << 7; // accented capitals, except the O and U shapes that kaomoji are drawn with
const K_LOWER = 1 << 8; // accented small letters, likewise
const K_COMMON = 1 << 9; // characters common in every context: no-break space, soft hyphen, · ´ – — … ’
const K_THORN = 1 << 10; // Þ, a capital letter that is common in its own right

const K_ACCENTED = K_UPPER | K_LOWER;
const K_SYMBOL = K_OPENING | K_CLOSING | K_CURRENCY | K_NUMERIC | K_LAW;

const CATEGORY: ReadonlyMap<number, number> = (() => {
  const table = new Map<number, number>();
  const add = (bits: number, chars: string) => {
    for (const ch of chars) table.set(ch.charCodeAt(0), (table.get(ch.charCodeAt(0)) ?? 0) | bits);
  };
  const span = (from: number, to: number) => String.fromCharCode(...Array.from({ length: to - from + 1 }, (_, k) => from + k));
  add(K_C1, span(0x80, 0x9f));
  add(K_BAD, "\u00a6\u00a4\u00a8\u00ac\u00af\u00b8\u0192\u02c6\u02dc\u2020\u2021\u2030\ufffd\u00aa\u00ba"); // ¦¤¨¬¯¸ƒˆ˜†‡‰�ªº
  add(K_LAW, "\u00b6\u00a7"); // ¶§
  add(K_CURRENCY, "\u00a2\u00a3\u00a5\u20ac"); // ¢£¥€
  add(K_OPENING, "\u00a1\u00ab\u00bf\u00a9\u2018\u201a\u201c\u201e\u2022\u2039"); // ¡«¿©‘‚“„•‹
  add(K_CLOSING, "\u00ae\u00bb\u201d\u203a\u2122"); // ®»”›™
  add(K_NUMERIC, "\u00b2\u00b3\u00b9\u00b1\u00bc\u00bd\u00be\u00d7\u00b5\u00f7"); // ²³¹±¼½¾×µ÷
  add(K_UPPER, span(0xc0, 0xd1) + "\u00d8\u00dc\u00dd\u0152\u0160\u0178\u017d"); // À–Ñ Ø Ü Ý Œ Š Ÿ Ž
  add(K_LOWER, "\u00df" + span(0xe0, 0xf1) + "\u0153\u0161\u00fc\u017e"); // ß à–ñ œ š ü ž
  add(K_COMMON, "\u00a0\u00ad\u00b7\u00b4\u2013\u2014\u2026\u2019");
  add(K_THORN, "\u00de");
  return table;
})();

function categoryOf(c: number): number {
  return c < 0x80 ? 0 : (CATEGORY.get(c) ?? 0);
}

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

function oneOf(chars: string, c: number): boolean {
  return c >= 0x80 && chars.includes(String.fromCharCode(c));
}

/** ftfy's `is_bad`: whether `s` contains any of the unlikely sequences. */
function looksLikeMojibake(s: string): boolean {
  let c1 = -1, c2 = -1, c3 = -1; // the previous three code units
  let k1 = 0, k2 = 0; // and the categories of the previous two
  for (let i = 0; i < s.length; i++, c3 = c2, c2 = c1, c1 = s.charCodeAt(i - 1), k2 = k1, k1 = categoryOf(c1)) {
    const c = s.charCodeAt(i);
    const k = categoryOf(c);
    if (k & K_C1) return true;
    // Two characters in a row.
    if (k1 !== 0) {
      if (k & K_BAD && k1 & (K_BAD | K_ACCENTED | K_SYMBOL)) return true;
      if (k1 & K_BAD && k & (K_ACCENTED | K_SYMBOL)) return true;
      if (k & K_UPPER && k1 & (K_LOWER | K_CLOSING | K_CURRENCY | K_NUMERIC)) return true;
      if (k & K_LOWER && k1 & (K_CLOSING | K_CURRENCY | K_NUMERIC)) return true;
      if (k & K_CURRENCY && k1 & (K_LOWER | K_CLOSING)) return true;
      if (k & (K_NUMERIC | K_LAW) && k1 & K_UPPER) return true;
      if (k & K_OPENING && k1 & (K_CURRENCY | K_NUMERIC)) return true;
      if (c === 0xb0 && k1 & K_UPPER) return true; // capital letter, degree sign
      // The commonest Windows-1252 pairs: Â Ã Î Ð followed by a symbol or punctuation.
      if (oneOf("ÂÃÎÐ", c1) && (k & (K_OPENING | K_CLOSING) || oneOf("€œŠš¢£Ÿž\u00a0\u00ad®©°·»–—´", c))) return true;
      if (c1 === 0xd7 && (c === 0xb2 || c === 0xb3)) return true; // ×² ×³: Hebrew
      if (c1 === 0xe0 && oneOf("²µ¹¼½¾", c)) return true; // à²: South Asian scripts
      if ((c1 === 0x152 || c1 === 0x153) && !isAsciiLetter(c)) return true; // œ not followed by a Latin letter
    }
    // Three characters in a row.
    if (i >= 2 && k1 !== 0) {
      if (c1 === 0xde && k & K_BAD && isAsciiLetter(c2)) return true;
      if (k1 & K_UPPER && k & K_CURRENCY && (isPythonSpace(c2) || isAsciiLower(c2))) return true;
      if (k1 & K_UPPER && k & K_OPENING && isAsciiLower(c2)) return true;
      if (k2 & (K_ACCENTED | K_CURRENCY | K_CLOSING) && k1 & K_OPENING && k & K_NUMERIC) return true;
      if (k2 & (K_ACCENTED | K_CURRENCY | K_NUMERIC | K_LAW) && k1 & K_CLOSING && k & K_OPENING) return true;
      if (k2 & K_ACCENTED && k1 & (K_OPENING | K_CLOSING) && isWordChar(s, i)) return true;
      if (c2 === 0x201a && c1 === 0xc4 && oneOf("ìîïòôúùû†°¢", c)) return true; // MacRoman
      if (c2 === 0x201a && (c1 === 0xe2 || c1 === 0xf3) && oneOf("àä°ê", c)) return true; // MacRoman
      if (c1 === 0xc2 && (c === 0x20 || k & (K_OPENING | K_CLOSING)) && (k2 & K_CLOSING || isAsciiLower(c2) || ".,?!".includes(String.fromCharCode(c2)))) {
        return true; // "Â" before something it would have been an encoding of
      }
    }
    // "Ã " and "Â " where the space was a no-break space: "voilÃ le travail".
    if (c === 0x20 && (c1 === 0xc3 || c1 === 0xc2)) {
      if (i === 1 || isAsciiLower(c2) || (isPythonSpace(c2) && isAsciiLower(c3))) return true;
    }
    // Arabic in Windows-1252: two pairs of Ø/Ù and a symbol.
    if (i >= 3 && (c3 === 0xd8 || c3 === 0xd9) && (c1 === 0xd8 || c1 === 0xd9) && isArabicTail(c2) && isArabicTail(c)) return true;
  }
  return false;
}

function isArabicTail(c: number): boolean {
  return (categoryOf(c) & (K_COMMON | K_CURRENCY | K_BAD | K_NUMERIC | K_OPENING)) !== 0 || oneOf("ŸŠ®°µ»", c);
}

// ---------------------------------------------------------------------------------------------------------------
// fix_encoding, part 2: re-decoding
// ---------------------------------------------------------------------------------------------------------------

/** The line's bytes if it was decoded as Latin-1, as a binary string (one char per byte); null if it can't have been. */
function latin1Bytes(s: string): string | null {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return null;
  return s;
}

/**
 * The line's bytes if it was decoded as "sloppy" Windows-1252 (unassigned bytes passed through), with U+FFFD —
 * a byte that a strict decoder could not decode — as byte 0x1A; null if it can't have been.
 */
function cp1252Bytes(s: string): string | null {
  let out = "";
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 || c >= 0xa0) {
      if (c === 0x1a) return null;
      if (c <= 0xff) continue;
    } else if (CP1252_HIGH[c - 0x80] === 0) {
      continue;
    }
    const b = c === 0xfffd ? 0x1a : c >= 0x100 ? byteOf(c) : -1;
    if (b < 0) return null;
    out += s.slice(pos, i) + String.fromCharCode(b);
    pos = i + 1;
  }
  return out + s.slice(pos);
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
 * ftfy's `replace_lossy_sequences` (sloppy Windows-1252 only): a UTF-8 sequence with a continuation byte lost to
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

/** CESU-8: a UTF-16 surrogate pair written as two three-byte sequences, which ftfy's "utf-8-variants" accepts. */
const CESU8_PAIR = /\xed([\xa0-\xaf])([\x80-\xbf])\xed([\xb0-\xbf])([\x80-\xbf])/g;

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes a binary string as UTF-8 after ftfy's repairs; null where it is not valid UTF-8. */
function redecode(bytes: string, lossy: boolean): string | null {
  SPACE_FOR_A0.lastIndex = 0;
  if (SPACE_FOR_A0.test(bytes)) {
    bytes = bytes.replace(A_GRAVE_WORD, "\xc3\xa0 ").replace(SPACE_FOR_A0, (m) => m.replace(" ", "\xa0"));
  }
  if (lossy) bytes = bytes.replace(LOSSY_SEQUENCE, "\xef\xbf\xbd");
  if (bytes.includes("\xed") || bytes.includes("\xc0")) {
    bytes = bytes.replace(CESU8_PAIR, (_m, a: string, b: string, c: string, d: string) => {
      const high = 0xd000 | ((a.charCodeAt(0) & 0x3f) << 6) | (b.charCodeAt(0) & 0x3f);
      const low = 0xd000 | ((c.charCodeAt(0) & 0x3f) << 6) | (d.charCodeAt(0) & 0x3f);
      const cp = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
      return String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    });
    bytes = bytes.replaceAll("\xc0\x80", "\x00"); // Java's two-byte NUL
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
const codes = (chars: string): ReadonlySet<number> => new Set(Array.from(chars, (ch) => ch.charCodeAt(0)));
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
  const latin1 = latin1Bytes(s);
  const fromLatin1 = latin1 === null ? null : redecode(latin1, false);
  if (fromLatin1 !== null) return fromLatin1;
  const cp1252 = cp1252Bytes(s);
  const fromCp1252 = cp1252 === null ? null : redecode(cp1252, true);
  if (fromCp1252 !== null) return fromCp1252;
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

/** ftfy's `fix_encoding`: steps until nothing changes (text can be mojibake of mojibake). */
function fixEncoding(s: string): string {
  for (let round = 0; round < 16; round++) {
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
      replacement = LIGATURES.get(c) ?? WIDTH.get(c) ?? uncurledQuote(c);
      if (replacement !== undefined && c === 0x0149) replacement = "'n"; // ŉ → ʼn, whose ʼ is then uncurled
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
const HAS_MOJIBAKE_LEAD = 2; // a character that can start a mis-decoded UTF-8 sequence, or a C1 control
const HAS_CHAR_FIX = 4; // something fixCharacters changes
const HAS_ESC = 8;
const HAS_CONTROL = 16;
const MAY_NEED_NFC = 32; // code points below U+0300 are all NFC-stable

/** Which fixes can possibly apply to `s`, in one pass over its code units. */
function scan(s: string): number {
  let flags = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x26 && c !== 0x7f) continue;
      if (c === 0x26) flags |= HAS_AMP;
      else if (c === 0x1b) flags |= HAS_ESC | HAS_CONTROL;
      else if (c === 0x0d) flags |= HAS_CHAR_FIX;
      else if (isRemovedControl(c)) flags |= HAS_CONTROL;
    } else if (c < 0x300) {
      if (c <= 0x9f) flags |= HAS_MOJIBAKE_LEAD | HAS_CHAR_FIX;
      else if (c >= 0xc2 && c <= 0xf4) flags |= HAS_MOJIBAKE_LEAD;
      if (c >= 0x132 && LIGATURES.has(c)) flags |= HAS_CHAR_FIX;
      if (c === 0x2bc) flags |= HAS_CHAR_FIX;
    } else {
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
  }
  return flags;
}

/** ftfy's `fix_and_explain` for one segment: the fixes in order, repeated until nothing changes. */
function fixSegment(segment: string, unescape: boolean): string {
  let text = segment;
  for (let round = 0; round < 64; round++) {
    const flags = scan(text) & (unescape ? ~0 : ~HAS_AMP);
    if (flags === 0) return text;
    const before = text;
    // A step runs when the scan found something for it, or when an earlier step has changed the text since.
    if (flags & HAS_AMP) text = unescapeHtml(text);
    if (text !== before || flags & HAS_MOJIBAKE_LEAD) text = fixEncoding(text);
    if (text !== before || flags & HAS_CHAR_FIX) text = fixCharacters(text);
    if (flags & HAS_ESC) text = text.replace(ANSI_RE, "");
    if (text !== before || flags & HAS_CONTROL) text = removeControls(text);
    if (text !== before || flags & MAY_NEED_NFC) text = text.normalize("NFC");
    if (text === before) return text;
  }
  return text;
}

/** Printable ASCII (plus \t and \n) without `&`: text that every fix leaves as it is. */
function isPlainAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || c === 0x26 || (c < 0x20 && c !== 0x09 && c !== 0x0a)) return false;
  }
  return true;
}

/**
 * `ftfy.fix_text(text)` with ftfy 6.3.1's defaults. HTML entities are decoded only until the first line that
 * contains `<` (ftfy's `unescape_html="auto"`, which then stays off for the rest of the text).
 */
export function fixText(text: string): string {
  if (isPlainAscii(text)) return text;
  let unescape = true;
  let out = "";
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf("\n", pos);
    const end = newline === -1 ? text.length : newline + 1;
    const segment = pos === 0 && end === text.length ? text : text.slice(pos, end);
    if (unescape && segment.includes("<")) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}
