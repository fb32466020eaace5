/**
 * GPT-2/CLIP byte-level alphabet: every byte 0–255 maps to one printable Unicode character, so BPE runs on strings
 * that never contain whitespace or control characters. Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to
 * themselves; the other 68 bytes map to U+0100 onward, in byte order. The order of `BYTE_ALPHABET` is the order of
 * the first 256 ids of CLIP's vocabulary (so id 0 is `!`).
 */

function buildByteAlphabet(): { byteOrder: number[]; byteToChar: string[] } {
  const byteOrder: number[] = [];
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  for (let b = 0; b < 256; b++) if (isPrintable(b)) byteOrder.push(b);
  const byteToChar = new Array<string>(256);
  for (const b of byteOrder) byteToChar[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (isPrintable(b)) continue;
    byteOrder.push(b);
    byteToChar[b] = String.fromCharCode(256 + next++);
  }
  return { byteOrder, byteToChar };
}

const { byteOrder, byteToChar } = buildByteAlphabet();

/** `BYTE_TO_CHAR[b]`: the alphabet character standing for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = byteToChar;

/** The 256 alphabet characters in vocabulary order (printable bytes first, then the remapped ones). */
export const BYTE_ALPHABET: readonly string[] = byteOrder.map((b) => byteToChar[b]!);

/** Alphabet character code → byte, or -1 for characters outside the alphabet. */
const CHAR_TO_BYTE = new Int16Array(256 + 68).fill(-1);
for (let b = 0; b < 256; b++) CHAR_TO_BYTE[byteToChar[b]!.charCodeAt(0)] = b;

/** The byte an alphabet character stands for, or -1 when `code` is not in the alphabet. */
export function byteOfCharCode(code: number): number {
  return code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code]! : -1;
}

/** A token string of the byte alphabet back to its bytes; characters outside the alphabet are an error. */
export function tokenToBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = byteOfCharCode(token.charCodeAt(i));
    if (b < 0) throw new Error(`Token ${JSON.stringify(token)} has a character outside the byte-level alphabet`);
    out[i] = b;
  }
  return out;
}

/**
 * UTF-8 encodes `text` into `out` (grown when needed) and returns the byte count. Lone surrogates become U+FFFD,
 * as `TextEncoder` does. Hand-written because words are short and this runs once per uncached word.
 */
export function utf8Encode(text: string, out: { bytes: Uint8Array }): number {
  if (out.bytes.length < text.length * 3) out.bytes = new Uint8Array(text.length * 3 + 16);
  const bytes = out.bytes;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes[n++] = c;
    } else if (c < 0x800) {
      bytes[n++] = 0xc0 | (c >> 6);
      bytes[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const low = text.charCodeAt(i + 1);
        if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          bytes[n++] = 0xf0 | (cp >> 18);
          bytes[n++] = 0x80 | ((cp >> 12) & 0x3f);
          bytes[n++] = 0x80 | ((cp >> 6) & 0x3f);
          bytes[n++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd;
      }
      bytes[n++] = 0xe0 | (c >> 12);
      bytes[n++] = 0x80 | ((c >> 6) & 0x3f);
      bytes[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}
