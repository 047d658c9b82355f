/**
 * safetensors reader and writer, to the published format (huggingface/safetensors, "Format"):
 *
 *   [8 bytes: N, unsigned little-endian u64] [N bytes: UTF-8 JSON header] [data bytes]
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to
 * the start of the data section) and may hold `"__metadata__": {string: string}`. Tensors are
 * little-endian and row-major; the data section must be covered exactly, without overlaps or holes.
 *
 * Reading validates everything before touching tensor bytes and throws `FormatError` naming the
 * problem; it never allocates more than the input's size (a header cannot be larger than the file or
 * than 100 MB). Works on bytes only (no file system): see `node/` for file helpers.
 */
import { FormatError, ShapeError } from '../errors.js';
import { describeValue, isArrayValue, optionsArg } from '../util/args.js';

/** The dtypes this library reads and writes. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const ITEM_SIZE: Record<SafetensorsDType, number> = {
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
};

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's description and raw little-endian bytes (a view into the parsed buffer). */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file. */
export class SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries: Map<string, TensorEntry>;

  constructor(entries: Map<string, TensorEntry>, metadata: Record<string, string>) {
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Tensor names in the order of their data offsets. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry, or a FormatError naming the missing tensor. */
  entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new FormatError(`safetensors: no tensor named "${name}"`);
    return e;
  }

  /** The tensor as float32 (F32 copied; F64, F16, BF16 and integers converted). */
  float32(name: string, expectedShape?: readonly number[]): Float32Array {
    const e = this.entry(name);
    if (expectedShape) checkShape(name, e.shape, expectedShape);
    return toFloat32(e);
  }

  /** The tensor as float64 (any numeric dtype converted). */
  float64(name: string, expectedShape?: readonly number[]): Float64Array {
    const e = this.entry(name);
    if (expectedShape) checkShape(name, e.shape, expectedShape);
    const f32 = e.dtype === 'F64' ? null : toFloat32(e);
    if (f32) return Float64Array.from(f32);
    const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    const out = new Float64Array(e.bytes.byteLength / 8);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(i * 8, true);
    return out;
  }

  /** An integer tensor as int32; throws FormatError if a value does not fit. */
  int32(name: string, expectedShape?: readonly number[]): Int32Array {
    const e = this.entry(name);
    if (expectedShape) checkShape(name, e.shape, expectedShape);
    const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    const n = numel(e.shape);
    const out = new Int32Array(n);
    switch (e.dtype) {
      case 'I64':
        for (let i = 0; i < n; i++) {
          const x = dv.getBigInt64(i * 8, true);
          if (x < -2147483648n || x > 2147483647n) {
            throw new FormatError(`safetensors: tensor "${name}" value ${x} at ${i} does not fit in int32`);
          }
          out[i] = Number(x);
        }
        return out;
      case 'I32':
        for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
        return out;
      case 'I16':
        for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
        return out;
      case 'I8':
        for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
        return out;
      case 'U8':
      case 'BOOL':
        for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
        return out;
      default:
        throw new FormatError(`safetensors: tensor "${name}" has dtype ${e.dtype}, expected an integer dtype`);
    }
  }
}

function checkShape(name: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new ShapeError(`tensor "${name}" has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function toFloat32(e: TensorEntry): Float32Array {
  const n = numel(e.shape);
  const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
  const out = new Float32Array(n);
  switch (e.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        tmp.setUint32(0, dv.getUint16(i * 2, true) << 16, true);
        out[i] = tmp.getFloat32(0, true);
      }
      return out;
    }
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      return out;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      return out;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      return out;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      return out;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
      return out;
  }
}

const fail = (msg: string): never => {
  throw new FormatError(`safetensors: ${msg}`);
};

/**
 * Parses and validates a safetensors buffer. Tensor bytes are views into `bytes` (no copy).
 * @throws FormatError for any departure from the format: short file, header length beyond the file
 *   or above 100 MB, header that is not a JSON object, unknown dtype, bad shape, offsets out of range,
 *   overlapping or leaving holes, byte length that disagrees with dtype × shape, bad metadata.
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) fail('input must be a Uint8Array');
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${n64} is larger than the ${bytes.byteLength - 8} bytes after it (truncated file?)`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const list: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ must be an object');
      for (const [k, val] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof val !== 'string') fail(`__metadata__["${k}"] must be a string, got ${typeof val}`);
        metadata[k] = val as string;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`entry "${name}" is not an object`);
    const info = raw as Record<string, unknown>;
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) {
      fail(`tensor "${name}": unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
      fail(`tensor "${name}": shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !Number.isSafeInteger(offs[0]) ||
      !Number.isSafeInteger(offs[1]) ||
      (offs[0] as number) < 0 ||
      (offs[1] as number) < (offs[0] as number)
    ) {
      fail(`tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) fail(`tensor "${name}": data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data section`);
    let elements = 1;
    for (const d of shape as number[]) {
      elements *= d;
      if (elements > Number.MAX_SAFE_INTEGER) fail(`tensor "${name}": shape ${JSON.stringify(shape)} is too large`);
    }
    const expected = elements * ITEM_SIZE[dtype as SafetensorsDType];
    if (expected !== end - begin) {
      fail(`tensor "${name}": ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    list.push({ name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end });
  }
  list.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of list) {
    if (t.begin < cursor) fail(`tensor "${t.name}" overlaps the previous tensor (begins at ${t.begin} < ${cursor})`);
    if (t.begin > cursor) fail(`data section has a hole at bytes [${cursor}, ${t.begin}) before "${t.name}"`);
    cursor = t.end;
  }
  if (cursor !== dataLen) fail(`data section has ${dataLen - cursor} trailing bytes not covered by any tensor`);
  const entries = new Map<string, TensorEntry>();
  for (const t of list) {
    entries.set(t.name, {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      bytes: bytes.subarray(dataStart + t.begin, dataStart + t.end),
    });
  }
  return new SafetensorsFile(entries, metadata);
}

/** A tensor to write. Float32Array → F32, Float64Array → F64, Int32Array → I32 unless `dtype` says I64. */
export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  dtype?: SafetensorsDType;
}

/**
 * Serialises tensors to safetensors bytes, in the given order, header padded with spaces to a multiple
 * of 8 bytes. Float64Array data may be written as F32 (`dtype: 'F32'`), Int32Array as I64.
 * @throws ShapeError if a tensor's element count disagrees with its shape, or a name repeats.
 */
export function serializeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  if (!isArrayValue(tensors)) {
    throw new ShapeError(`serializeSafetensors: tensors must be an array of { name, shape, data }, got ${describeValue(tensors)}`);
  }
  optionsArg('serializeSafetensors: metadata', metadata, "{ format: 'pt' }");
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw new ShapeError(`safetensors: metadata "${k}" must be a string (the format stores strings only), got ${describeValue(v)}`);
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const plans: { t: TensorToWrite; dtype: SafetensorsDType; begin: number; end: number }[] = [];
  tensors.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || typeof t.name !== 'string' || !Array.isArray(t.shape) || !ArrayBuffer.isView(t.data)) {
      throw new ShapeError(
        `safetensors: tensor ${i} must be { name: string, shape: number[], data: a typed array }, got ${describeValue(t)}`,
      );
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError(
        `safetensors: tensor "${t.name}" has shape ${JSON.stringify(t.shape)}; dimensions must be non-negative integers`,
      );
    }
  });
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name in header) {
      throw new ShapeError(`safetensors: tensor name "${t.name}" is reserved or repeated`);
    }
    const dtype = t.dtype ?? defaultDType(t.data);
    const elements = numel(t.shape);
    if (elements !== t.data.length) {
      throw new ShapeError(`safetensors: tensor "${t.name}" has ${t.data.length} elements but shape [${t.shape.join(', ')}]`);
    }
    const size = elements * ITEM_SIZE[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    plans.push({ t, dtype, begin: offset, end: offset + size });
    offset += size;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let headerBytes = enc.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    headerBytes = enc.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const { t, dtype, begin } of plans) writeData(dv, base + begin, t.data, dtype, t.name);
  return out;
}

function defaultDType(data: TensorToWrite['data']): SafetensorsDType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  return 'U8';
}

function writeData(dv: DataView, at: number, data: TensorToWrite['data'], dtype: SafetensorsDType, name: string): void {
  const n = data.length;
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) dv.setFloat32(at + i * 4, Number(data[i]), true);
      return;
    case 'F64':
      for (let i = 0; i < n; i++) dv.setFloat64(at + i * 8, Number(data[i]), true);
      return;
    case 'I64':
      for (let i = 0; i < n; i++) dv.setBigInt64(at + i * 8, BigInt(data[i]!), true);
      return;
    case 'I32':
      for (let i = 0; i < n; i++) dv.setInt32(at + i * 4, Number(data[i]), true);
      return;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) dv.setUint8(at + i, Number(data[i]));
      return;
    default:
      throw new ShapeError(`safetensors: writing dtype ${dtype} is not supported (tensor "${name}")`);
  }
}

/**
 * Serialises a parsed tensor file (e.g. `readPytorchCheckpoint(bytes).tensors`) to safetensors bytes,
 * copying each tensor's raw bytes as they are (any dtype; tensors that share bytes are written once each).
 * Tensors are written in name order; `metadata` becomes `__metadata__`.
 */
export function serializeTensorFile(file: SafetensorsFile, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const names = file.names().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let offset = 0;
  for (const name of names) {
    const e = file.entry(name);
    header[name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + e.bytes.byteLength] };
    offset += e.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const b = file.entry(name).bytes;
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}
