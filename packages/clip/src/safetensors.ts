/**
 * Safetensors reading and writing over plain typed arrays: no tensor library, no Node-only import at module level, so
 * it runs in Node and in browsers.
 *
 * Format (github.com/huggingface/safetensors, README "Format"):
 *   [8 bytes]  N, little-endian u64: the header length
 *   [N bytes]  UTF-8 JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }`,
 *              possibly padded with trailing spaces
 *   [rest]     the data buffer; `data_offsets` are relative to its start, and the tensors must cover it exactly
 *              (no overlaps, no holes).
 * All numbers are little-endian. Every field is validated before it is trusted.
 */
import { readNodeFile } from "./node-file.js";

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** raw little-endian bytes, a view into the file where possible (no copy) */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Bytes per element of each dtype. */
const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
});

const METADATA_KEY = "__metadata__";
const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
/** Typed-array views are host-endian; the format is little-endian. On a big-endian host we go through DataView. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------------------------
// Parsing

export function parseSafetensors(
  data: Uint8Array | ArrayBuffer,
  options: { maxHeaderBytes?: number } = {},
): SafetensorsFile {
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const file = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (file.byteLength < 8) {
    throw new SafetensorsError(`file is ${file.byteLength} bytes, shorter than the 8-byte header length prefix`);
  }

  // 1. header length
  const headerLength = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(`header length ${headerLength} exceeds maxHeaderBytes (${maxHeaderBytes})`);
  }
  if (headerLength > BigInt(file.byteLength - 8)) {
    throw new SafetensorsError(
      `header length ${headerLength} runs beyond the end of the file (${file.byteLength - 8} bytes after the prefix)`,
    );
  }
  const headerEnd = 8 + Number(headerLength);

  // 2. header JSON
  let headerText: string;
  try {
    headerText = new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, headerEnd));
  } catch {
    throw new SafetensorsError("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    throw new SafetensorsError(`header is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsError(`header must be a JSON object, got ${describeJson(header)}`);
  }

  // 3. entries
  const dataBuffer = file.subarray(headerEnd);
  const metadata = parseMetadata(header[METADATA_KEY]);
  const tensors = new Map<string, SafetensorsTensor>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const { dtype, shape, begin, end } = parseEntry(name, entry, dataBuffer.byteLength);
    tensors.set(name, { dtype, shape, bytes: dataBuffer.subarray(begin, end) });
    ranges.push({ name, begin, end });
  }

  // 4. the tensors must tile the data buffer exactly
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = "";
  for (const { name, begin, end } of ranges) {
    if (begin < covered) {
      throw new SafetensorsError(
        `tensor "${name}" [${begin}, ${end}) overlaps tensor "${previous}", which ends at byte ${covered}`,
      );
    }
    if (begin > covered) {
      throw new SafetensorsError(
        `data buffer has a hole: bytes [${covered}, ${begin}) before tensor "${name}" belong to no tensor`,
      );
    }
    covered = end;
    previous = name;
  }
  if (covered !== dataBuffer.byteLength) {
    throw new SafetensorsError(
      `data buffer has a hole: bytes [${covered}, ${dataBuffer.byteLength}) at the end belong to no tensor`,
    );
  }

  return { tensors, metadata };
}

function parseEntry(
  name: string,
  entry: unknown,
  dataLength: number,
): { dtype: SafetensorsDtype; shape: number[]; begin: number; end: number } {
  if (!isPlainObject(entry)) {
    throw new SafetensorsError(`tensor "${name}": entry must be an object, got ${describeJson(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw new SafetensorsError(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new SafetensorsError(
      `tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new SafetensorsError(
      `tensor "${name}": data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] have begin > end`);
  }
  if (end > dataLength) {
    throw new SafetensorsError(
      `tensor "${name}": data_offsets [${begin}, ${end}] lie outside the data buffer (${dataLength} bytes)`,
    );
  }
  const knownDtype = dtype as SafetensorsDtype;
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_SIZE[knownDtype];
  if (end - begin !== expected) {
    throw new SafetensorsError(
      `tensor "${name}": byte length ${end - begin} does not match shape [${shape.join(", ")}] × ${dtype} ` +
        `(${DTYPE_SIZE[knownDtype]} bytes) = ${expected}`,
    );
  }
  return { dtype: knownDtype, shape: [...(shape as number[])], begin, end };
}

function parseMetadata(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isPlainObject(raw)) {
    throw new SafetensorsError(`${METADATA_KEY} must be an object of strings, got ${describeJson(raw)}`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== "string") {
      throw new SafetensorsError(`${METADATA_KEY}["${key}"] must be a string, got ${describeJson(value)}`);
    }
    metadata[key] = value;
  }
  return metadata;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `${typeof value} ${JSON.stringify(value)}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Typed values

/** float32 values of a floating tensor (F32 view without copy when aligned, F16/BF16/F64 converted); integer dtypes to Float32Array too */
export function toFloat32(t: SafetensorsTensor): Float32Array {
  const count = elementCount(t);
  const { bytes } = t;
  switch (t.dtype) {
    case "F32":
      return viewOrCopy(bytes, count, 4, Float32Array, (v, i) => v.getFloat32(i * 4, true));
    case "F64":
      return Float32Array.from(viewOrCopy(bytes, count, 8, Float64Array, (v, i) => v.getFloat64(i * 8, true)));
    case "F16":
    case "BF16": {
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) {
        const half = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
        if (t.dtype === "BF16") outBits[i] = half << 16; // bf16 is the top half of an f32
        else out[i] = float16BitsToFloat32(half);
      }
      return out;
    }
    default:
      return Float32Array.from(integerValues(t, count), Number);
  }
}

/** int32 values of an integer tensor (I64 checked to fit in int32, else an error naming the value) */
export function toInt32(t: SafetensorsTensor): Int32Array {
  const count = elementCount(t);
  switch (t.dtype) {
    case "I32":
      return viewOrCopy(t.bytes, count, 4, Int32Array, (v, i) => v.getInt32(i * 4, true));
    case "F64":
    case "F32":
    case "F16":
    case "BF16":
      throw new SafetensorsError(`toInt32 needs an integer dtype, got ${t.dtype}`);
    default:
      return Int32Array.from(integerValues(t, count), (value) => {
        if (typeof value === "bigint" && (value < -2147483648n || value > 2147483647n)) {
          throw new SafetensorsError(`${t.dtype} value ${value} does not fit in int32`);
        }
        return Number(value);
      });
  }
}

/** Values of an integer (or BOOL) tensor as a typed array; I64 as BigInt64Array. */
function integerValues(t: SafetensorsTensor, count: number): ArrayLike<number | bigint> {
  const { bytes } = t;
  switch (t.dtype) {
    case "U8":
    case "BOOL":
      return bytes;
    case "I8":
      return new Int8Array(bytes.buffer, bytes.byteOffset, count);
    case "I16":
      return viewOrCopy(bytes, count, 2, Int16Array, (v, i) => v.getInt16(i * 2, true));
    case "I32":
      return viewOrCopy(bytes, count, 4, Int32Array, (v, i) => v.getInt32(i * 4, true));
    case "I64":
      return viewOrCopy(bytes, count, 8, BigInt64Array, (v, i) => v.getBigInt64(i * 8, true));
    default:
      throw new SafetensorsError(`expected an integer dtype, got ${t.dtype}`);
  }
}

type TypedArrayConstructor<A> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): A;
  new (length: number): A;
};

/**
 * A typed view of `bytes` without copying when the host is little-endian and the offset is aligned; otherwise a copy
 * (an aligned byte copy on little-endian hosts, element-wise through DataView on big-endian ones).
 */
function viewOrCopy<A extends { [index: number]: number | bigint }>(
  bytes: Uint8Array,
  count: number,
  elementSize: number,
  Ctor: TypedArrayConstructor<A>,
  read: (view: DataView, index: number) => A[number],
): A {
  if (HOST_IS_LITTLE_ENDIAN) {
    if (bytes.byteOffset % elementSize === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count);
    return new Ctor(bytes.slice().buffer, 0, count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Ctor(count);
  for (let i = 0; i < count; i++) out[i] = read(view, i);
  return out;
}

function elementCount(t: SafetensorsTensor): number {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count * DTYPE_SIZE[t.dtype] !== t.bytes.byteLength) {
    throw new SafetensorsError(
      `tensor of shape [${t.shape.join(", ")}] and dtype ${t.dtype} has ${t.bytes.byteLength} bytes, ` +
        `expected ${count * DTYPE_SIZE[t.dtype]}`,
    );
  }
  return count;
}

// ---------------------------------------------------------------------------------------------------------------------
// Float16 (IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits)

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** binary16 bits → float32 value; exact (every f16 is representable in f32), NaN payloads kept. */
function float16BitsToFloat32(half: number): number {
  const sign = half & 0x8000;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) {
    const magnitude = mantissa * 2 ** -24; // zero or subnormal: mantissa × 2^-24
    return sign ? -magnitude : magnitude;
  }
  scratchU32[0] =
    exponent === 0x1f
      ? (sign << 16) | 0x7f800000 | (mantissa << 13) // inf / NaN
      : (sign << 16) | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  return scratchF32[0]!;
}

/** float32 value → binary16 bits, rounding to nearest, ties to even; overflow → ±inf, NaN stays NaN (quiet). */
function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent32 = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent32 === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const exponent = exponent32 - 127 + 15; // rebias
  if (exponent >= 0x1f) return sign | 0x7c00; // too large: inf
  if (exponent <= 0) {
    // subnormal half (or zero): shift the mantissa, with its implicit 1, right by 14 - exponent bits.
    if (exponent < -10) return sign; // below half the smallest subnormal (2^-25): rounds to ±0
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    return sign | roundShift(mantissa, shift);
  }
  // normal: drop 13 mantissa bits; a carry out of the mantissa correctly bumps the exponent (up to inf).
  return sign | roundShift((exponent << 23) | mantissa, 13);
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const half = 1 << (shift - 1);
  const remainder = value & ((1 << shift) - 1);
  const truncated = value >>> shift;
  return remainder > half || (remainder === half && truncated & 1) ? truncated + 1 : truncated;
}

// ---------------------------------------------------------------------------------------------------------------------
// Writing

type WritableDtype = "F32" | "F16" | "I32" | "I64" | "U8";
type WritableData = Float32Array | Int32Array | Uint8Array | BigInt64Array;

/** Which input arrays each dtype accepts (F16 is converted from float32; I64 is widened from int32 if needed). */
const ACCEPTS: Readonly<Record<WritableDtype, readonly (abstract new (...args: never[]) => WritableData)[]>> = {
  F32: [Float32Array],
  F16: [Float32Array],
  I32: [Int32Array],
  I64: [BigInt64Array, Int32Array],
  U8: [Uint8Array],
};

/** Encodes tensors as a safetensors file: keys sorted, offsets contiguous, header space-padded to a multiple of 8. */
export function serializeSafetensors(
  tensors: Record<string, { dtype: WritableDtype; shape: number[]; data: WritableData }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") throw new SafetensorsError(`${METADATA_KEY}["${key}"] must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new SafetensorsError(`tensor name "${METADATA_KEY}" is reserved`);
    const { dtype, shape, data } = tensors[name]!;
    if (!Object.hasOwn(ACCEPTS, dtype)) throw new SafetensorsError(`tensor "${name}": cannot write dtype ${dtype}`);
    if (!ACCEPTS[dtype].some((Ctor) => data instanceof Ctor)) {
      const needed = ACCEPTS[dtype].map((Ctor) => Ctor.name).join(" or ");
      throw new SafetensorsError(
        `tensor "${name}": dtype ${dtype} needs ${needed}, got ${data.constructor.name}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      throw new SafetensorsError(`tensor "${name}": shape must be non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      throw new SafetensorsError(`tensor "${name}": shape [${shape.join(", ")}] needs ${count} values, got ${data.length}`);
    }
    const byteLength = count * DTYPE_SIZE[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.byteLength / 8) * 8; // keeps the data buffer 8-byte aligned
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength); // spaces

  let position = 8 + headerLength;
  for (const name of names) {
    const { dtype, data } = tensors[name]!;
    const same = (dtype === "F32" && data instanceof Float32Array) || (dtype === "I32" && data instanceof Int32Array) || (dtype === "U8" && data instanceof Uint8Array);
    if (same && HOST_IS_LITTLE_ENDIAN) {
      // The stored bytes are the array's own bytes: one copy instead of a DataView write per value.
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
      position += data.byteLength;
      continue;
    }
    for (let i = 0; i < data.length; i++) {
      const value = data[i]!;
      switch (dtype) {
        case "F32":
          view.setFloat32(position, value as number, true);
          break;
        case "F16":
          view.setUint16(position, float32ToFloat16Bits(value as number), true);
          break;
        case "I32":
          view.setInt32(position, value as number, true);
          break;
        case "I64":
          view.setBigInt64(position, BigInt(value), true);
          break;
        case "U8":
          out[position] = value as number;
          break;
      }
      position += DTYPE_SIZE[dtype];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Sources

/** Reads from a path (Node), URL (fetch), ArrayBuffer, Uint8Array or Blob. Node-only modules must be imported dynamically inside, so the browser bundle has none. */
export async function readSafetensors(
  source: string | URL | ArrayBuffer | Uint8Array | Blob,
): Promise<SafetensorsFile> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return parseSafetensors(source);
  if (source instanceof URL) return parseSafetensors(await readUrl(source));
  if (typeof source !== "string") return parseSafetensors(await source.arrayBuffer()); // Blob
  // A string is a URL when it has a scheme we fetch, or when there is no file system (browser: relative URLs).
  if (/^(https?|file|blob|data):/i.test(source)) return parseSafetensors(await readUrl(new URL(source)));
  if (!isNode()) return parseSafetensors(await readUrl(source));
  return parseSafetensors(await readNodeFile(source));
}

async function readUrl(url: URL | string): Promise<Uint8Array> {
  if (url instanceof URL && url.protocol === "file:") {
    return readNodeFile(url); // Node 20's fetch does not support file: URLs
  }
  const response = await fetch(url);
  if (!response.ok) {
    throw new SafetensorsError(`fetching ${String(url)} failed: ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

function isNode(): boolean {
  return typeof process !== "undefined" && typeof process.versions?.node === "string";
}
