/**
 * A small writer of `torch.save(state_dict)` files for tests (no PyTorch here): both containers, written
 * from the format description in test/fixtures/hf-pretrained/README.md (pickle protocol 2, persistent
 * storage ids, zip records or legacy concatenation). Tensors may share storages and use offsets and
 * strides, so the reader's handling of those is tested on files whose layout the test chose.
 */
import { crc32 } from '../../src/io/pytorch/zip.js';
import type { SafetensorsDType } from '../../src/io/safetensors.js';

export interface TorchTensor {
  readonly name: string;
  /** Storage key; tensors with the same key share the storage (its bytes come from the first). */
  readonly key: string;
  readonly dtype: SafetensorsDType;
  /** The whole storage's raw little-endian bytes. */
  readonly storage: Uint8Array;
  readonly shape: readonly number[];
  /** Default: C-contiguous. */
  readonly stride?: readonly number[];
  /** Default 0 (elements). */
  readonly offset?: number;
}

const STORAGE: Record<SafetensorsDType, string> = {
  F32: 'FloatStorage',
  F64: 'DoubleStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  I16: 'ShortStorage',
  I8: 'CharStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};
const ITEM: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Pickle opcodes as bytes. */
export class PickleBuilder {
  private readonly parts: number[] = [];
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(): this {
    return this.op(0x80, 2);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.op(0x4a, ...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  tuple(items: readonly number[]): this {
    this.op(0x28);
    for (const x of items) this.int(x);
    return this.op(0x74);
  }
  stop(): this {
    return this.op(0x2e);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function stateDictPickle(tensors: readonly TorchTensor[], legacy: boolean): Uint8Array {
  const p = new PickleBuilder().proto().global('collections', 'OrderedDict').op(0x29, 0x52).op(0x28);
  for (const t of tensors) {
    const numel = t.storage.length / ITEM[t.dtype];
    const stride = t.stride ?? t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    p.op(0x28).str('storage').global('torch', STORAGE[t.dtype]).str(t.key).str('cpu').int(numel);
    if (legacy) p.op(0x4e);
    p.op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(t.offset ?? 0)
      .tuple(t.shape)
      .tuple(stride)
      .op(0x89); // offset, size, stride, requires_grad False
    p.global('collections', 'OrderedDict').op(0x29, 0x52); // backward_hooks
    p.op(0x74, 0x52); // TUPLE, REDUCE
  }
  return p.op(0x75).stop().bytes(); // SETITEMS
}

function storages(tensors: readonly TorchTensor[]): Map<string, TorchTensor> {
  const m = new Map<string, TorchTensor>();
  for (const t of tensors) if (!m.has(t.key)) m.set(t.key, t);
  return m;
}

/** A zip-format file (`<root>/data.pkl`, `<root>/data/<key>`, `<root>/version`), entries stored. */
export function torchZip(tensors: readonly TorchTensor[], root = 'archive'): Uint8Array {
  const files: [string, Uint8Array][] = [[`${root}/data.pkl`, stateDictPickle(tensors, false)]];
  for (const [key, t] of storages(tensors)) files.push([`${root}/data/${key}`, t.storage]);
  files.push([`${root}/version`, new TextEncoder().encode('3\n')]);
  return zipStored(files);
}

/** A stored-only ZIP archive of `files`. */
export function zipStored(files: readonly [string, Uint8Array][]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = new TextEncoder().encode(name);
    const crc = crc32(data);
    const local = new Uint8Array(30 + n.length);
    const dv = new DataView(local.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(4, 20, true);
    dv.setUint32(14, crc, true);
    dv.setUint32(18, data.length, true);
    dv.setUint32(22, data.length, true);
    dv.setUint16(26, n.length, true);
    local.set(n, 30);
    const c = new Uint8Array(46 + n.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    c.set(n, 46);
    chunks.push(local, data);
    central.push(c);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return concat([...chunks, ...central, eocd]);
}

/** A legacy-format file: magic, protocol, system info, state dict, key list, raw storages. */
export function torchLegacy(tensors: readonly TorchTensor[]): Uint8Array {
  const magic = new PickleBuilder().proto().op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes();
  const protocol = new PickleBuilder().proto().op(0x4d, 0xe9, 0x03).stop().bytes();
  const sys = new PickleBuilder()
    .proto()
    .op(0x7d, 0x28)
    .str('protocol_version')
    .op(0x4d, 0xe9, 0x03)
    .str('little_endian')
    .op(0x88)
    .str('type_sizes')
    .op(0x7d, 0x28)
    .str('short')
    .int(2)
    .str('int')
    .int(4)
    .str('long')
    .int(4)
    .op(0x75, 0x75)
    .stop()
    .bytes();
  const keys = [...storages(tensors).keys()].sort();
  const list = new PickleBuilder().proto().op(0x5d, 0x28);
  for (const k of keys) list.str(k);
  const parts = [magic, protocol, sys, stateDictPickle(tensors, true), list.op(0x65).stop().bytes()];
  const st = storages(tensors);
  for (const k of keys) {
    const t = st.get(k)!;
    const n = new Uint8Array(8);
    new DataView(n.buffer).setBigInt64(0, BigInt(t.storage.length / ITEM[t.dtype]), true);
    parts.push(n, t.storage);
  }
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Float32 values as little-endian bytes. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
