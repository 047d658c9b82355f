/**
 * PyTorch checkpoints (`torch.save(state_dict)`, HF's `pytorch_model.bin`) as bytes → the tensor file
 * type of `io/safetensors.ts` (`SafetensorsFile`: name → dtype, shape, little-endian C-order bytes), so
 * every loader that takes a safetensors file takes these too. Both container formats:
 *
 * - **zip** (torch ≥ 1.6): `<root>/data.pkl` (the pickle) + `<root>/data/<key>` (one raw storage each),
 *   optional `<root>/byteorder` (`little`); `<root>` is any folder name.
 * - **legacy** (`_use_new_zipfile_serialization=False`, the 2020 HF checkpoints): five concatenated
 *   pickles (magic number 0x1950a86a20f9469cfc6c, protocol 1001, system info, the state dict, the list
 *   of storage keys), then each storage in the key list's order as an int64 element count + raw bytes.
 *
 * The pickle runs on the restricted machine of `pickle.ts` with these globals only:
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` / `_rebuild_parameter`
 * / `_rebuild_parameter_with_state`, and the `torch.<Type>Storage` classes of the dtypes below. A storage is
 * a persistent id `('storage', <Storage type>, key, location, numel[, view_metadata])`.
 *
 * Tensors: storage offset, sizes and strides in elements (torch's `as_strided`). A C-contiguous tensor is a
 * zero-copy view of its storage; tensors that share a storage (HF's tied `lm_head.bias` /
 * `lm_head.decoder.bias`) share its bytes. Any other stride pattern is gathered into a new buffer, and
 * all gathered bytes together may not exceed the input's size: so nothing this reader allocates is larger
 * than the file. Dtypes: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL; any other storage type
 * (complex, quantized) is refused by name.
 */
import { FormatError } from '../../errors.js';
import { bytesArg, optionsArg } from '../../util/args.js';
import { SafetensorsFile, type SafetensorsDType, type TensorEntry } from '../safetensors.js';
import { describePy, PyCallable, PyDict, PyList, PyObject, PyTuple, unpickle, type PyValue } from './pickle.js';
import { looksLikeZip, readZip } from './zip.js';

/** The two `torch.save` containers: zip (PyTorch ≥ 1.6) and legacy (concatenated pickles). */
export type PytorchFormat = 'zip' | 'legacy';

/** `torch.<name>` storage classes and their dtypes. */
const STORAGE_DTYPES: Readonly<Record<string, SafetensorsDType>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};
const ITEM: Readonly<Record<SafetensorsDType, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Storage classes torch has that this reader refuses by name (no such dtype in the library). */
const UNSUPPORTED_STORAGES: Readonly<Record<string, string>> = {
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
};

const ALLOWED_HINT = 'collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the torch.*Storage types';

/** The magic number of the legacy format (its first pickle). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** A storage as the pickle names it; `bytes` is attached once the container is read. */
interface Storage {
  readonly key: string;
  readonly dtype: SafetensorsDType;
  readonly numel: number;
  bytes: Uint8Array | null;
  /** Legacy storage views: element offset into the root storage `key`. */
  readonly viewOf?: { readonly root: Storage; readonly offset: number };
}

/** `_rebuild_tensor_v2`'s arguments. */
interface TensorRecord {
  readonly storage: Storage;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** What `readPytorchCheckpoint` returns: the tensors and facts about the file. */
export interface PytorchCheckpoint {
  readonly format: PytorchFormat;
  /** name → tensor, in the state dict's order. */
  readonly tensors: SafetensorsFile;
  /** Distinct storages (HF's tied LM-head bias: one fewer than tensors). */
  readonly storages: number;
  /** Bytes gathered into new buffers for non-contiguous tensors (0 for a normal state dict; ≤ input size). */
  readonly copiedBytes: number;
}

/** Options of `readPytorchCheckpoint`. */
export interface ReadPytorchOptions {
  /** File name for messages (default `pytorch_model.bin`). */
  readonly name?: string;
  /** Verify the zip format's CRC-32 checksums (default true). */
  readonly verifyCrc?: boolean;
}

/** Which PyTorch format `bytes` looks like (without reading it), or null. */
export function sniffPytorchFormat(bytes: Uint8Array): PytorchFormat | null {
  if (looksLikeZip(bytes)) return 'zip';
  // legacy: PROTO n, then LONG1 10 (the magic number)
  if (bytes.length >= 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a) return 'legacy';
  return null;
}

/**
 * Reads a PyTorch checkpoint of a state dict.
 * @throws FormatError naming the file and the problem: not a PyTorch file, a refused global or opcode
 *   (`global __builtin__.print is not allowed ...`), a malformed pickle, a storage missing or of the
 *   wrong size, a tensor outside its storage, an unsupported dtype, a value that is not a tensor.
 */
export function readPytorchCheckpoint(bytes: Uint8Array, options: ReadPytorchOptions = {}): PytorchCheckpoint {
  bytesArg('readPytorchCheckpoint', 'bytes', bytes);
  optionsArg('readPytorchCheckpoint', options, "{ name: 'pytorch_model.bin' }");
  const name = options.name ?? 'pytorch_model.bin';
  const format = sniffPytorchFormat(bytes);
  if (format === null) {
    throw new FormatError(`${name}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save pickle)`);
  }
  const storages = new Map<string, Storage>();
  const records = format === 'zip' ? readZipFormat(bytes, name, storages, options) : readLegacyFormat(bytes, name, storages);
  const { entries, copiedBytes } = materialize(records, name, bytes.byteLength);
  return { format, tensors: new SafetensorsFile(entries, { format: 'pt' }), storages: storages.size, copiedBytes };
}

// ------------------------------------------------------------------ the two containers

function readZipFormat(bytes: Uint8Array, name: string, storages: Map<string, Storage>, options: ReadPytorchOptions): PyValue {
  const files = readZip(bytes, { where: name, verifyCrc: options.verifyCrc ?? true });
  const pkls = [...files.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (pkls.length !== 1) {
    throw new FormatError(
      `${name}: a torch zip checkpoint has exactly one <folder>/data.pkl, found ${pkls.length === 0 ? 'none' : pkls.join(', ')}`,
    );
  }
  const root = pkls[0]!.slice(0, -'data.pkl'.length);
  const order = files.get(`${root}byteorder`);
  if (order && new TextDecoder().decode(order.data).trim() !== 'little') {
    throw new FormatError(`${name}: ${root}byteorder says big-endian; only little-endian checkpoints are read`);
  }
  const pkl = files.get(pkls[0]!)!.data;
  const where = `${name}: ${pkls[0]}`;
  const { value } = unpickle(pkl, 0, {
    where,
    resolveGlobal: allowList(where),
    persistentLoad: (pid) => storageFromPid(pid, storages, where, false),
    allowedHint: ALLOWED_HINT,
  });
  for (const s of storages.values()) {
    const f = files.get(`${root}data/${s.key}`);
    if (!f) throw new FormatError(`${name}: storage "${s.key}" has no record ${root}data/${s.key} in the archive`);
    if (f.data.byteLength !== s.numel * ITEM[s.dtype]) {
      throw new FormatError(
        `${name}: storage "${s.key}" holds ${f.data.byteLength} bytes, but the pickle says ${s.numel} ${s.dtype} elements (${s.numel * ITEM[s.dtype]} bytes)`,
      );
    }
    s.bytes = f.data;
  }
  return value;
}

function readLegacyFormat(bytes: Uint8Array, name: string, storages: Map<string, Storage>): PyValue {
  const plain = { resolveGlobal: () => undefined, allowedHint: 'no globals (plain values)' };
  const magic = unpickle(bytes, 0, { ...plain, where: `${name}: magic number` });
  if (magic.value !== LEGACY_MAGIC) {
    throw new FormatError(
      `${name}: the first pickle is ${describePy(magic.value)}, not torch's magic number (not a legacy torch.save file)`,
    );
  }
  const protocol = unpickle(bytes, magic.end, { ...plain, where: `${name}: protocol version` });
  if (protocol.value !== LEGACY_PROTOCOL) {
    throw new FormatError(`${name}: legacy protocol version ${describePy(protocol.value)} is not supported (expected ${LEGACY_PROTOCOL})`);
  }
  const sys = unpickle(bytes, protocol.end, { ...plain, where: `${name}: system info` });
  if (!(sys.value instanceof PyDict) || sys.value.map.get('little_endian') !== true) {
    throw new FormatError(`${name}: the system info does not say little_endian: True; only little-endian checkpoints are read`);
  }
  const where = `${name}: state dict pickle`;
  const dict = unpickle(bytes, sys.end, {
    where,
    resolveGlobal: allowList(where),
    persistentLoad: (pid) => storageFromPid(pid, storages, where, true),
    allowedHint: ALLOWED_HINT,
  });
  const keys = unpickle(bytes, dict.end, { ...plain, where: `${name}: storage key list` });
  if (!(keys.value instanceof PyList) || keys.value.items.some((k) => typeof k !== 'string')) {
    throw new FormatError(`${name}: the storage key list is ${describePy(keys.value)}, not a list of strings`);
  }
  // raw storages, in the key list's order (not the order the pickle first named them)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  const seen = new Set<string>();
  for (const k of keys.value.items as string[]) {
    const s = storages.get(k);
    if (!s || s.viewOf) throw new FormatError(`${name}: storage key "${k}" in the key list is not a storage of the state dict`);
    if (seen.has(k)) throw new FormatError(`${name}: storage key "${k}" appears twice in the key list`);
    seen.add(k);
    if (pos + 8 > bytes.byteLength) throw new FormatError(`${name}: storage "${k}" is missing (the file ends at byte ${bytes.byteLength})`);
    const n = dv.getBigInt64(pos, true);
    if (n !== BigInt(s.numel)) {
      throw new FormatError(`${name}: storage "${k}" has ${n} elements in the file but ${s.numel} in the pickle`);
    }
    const size = s.numel * ITEM[s.dtype];
    if (pos + 8 + size > bytes.byteLength) {
      throw new FormatError(`${name}: storage "${k}" needs ${size} bytes at byte ${pos + 8}, past the end of the file (truncated?)`);
    }
    s.bytes = bytes.subarray(pos + 8, pos + 8 + size);
    pos += 8 + size;
  }
  for (const s of storages.values()) {
    if (!s.viewOf && !s.bytes) throw new FormatError(`${name}: storage "${s.key}" is used by a tensor but not in the storage key list`);
  }
  if (pos !== bytes.byteLength) throw new FormatError(`${name}: ${bytes.byteLength - pos} unexpected bytes after the last storage`);
  return dict.value;
}

// ------------------------------------------------------------------ stand-ins of the allowed globals

const isIndex = (v: PyValue): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

class StorageType extends PyObject {}

/** The allow-list: stand-ins of the globals a state dict needs (errors prefixed with `where`). */
function allowList(where: string): (module: string, name: string) => PyValue | undefined {
  return (module, name) => resolveGlobal(module, name, where);
}

function resolveGlobal(module: string, name: string, where: string): PyValue | undefined {
  if (module === 'collections' && name === 'OrderedDict') {
    return new PyCallable('collections.OrderedDict', (args) => {
      if (args.length !== 0)
        throw new FormatError(`${where}: collections.OrderedDict called with ${args.length} arguments (expected none)`);
      return new PyDict();
    });
  }
  if (module === 'torch' && STORAGE_DTYPES[name]) return new StorageType(`torch.${name}`, STORAGE_DTYPES[name]);
  if (module === 'torch' && UNSUPPORTED_STORAGES[name]) {
    throw new FormatError(
      `${where}: torch.${name} (${UNSUPPORTED_STORAGES[name]}) tensors are not supported (supported storage types: ${Object.keys(STORAGE_DTYPES).join(', ')})`,
    );
  }
  if (module !== 'torch._utils') return undefined;
  switch (name) {
    case '_rebuild_tensor_v2': // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      return new PyCallable('torch._utils._rebuild_tensor_v2', (args) => rebuildTensor(args, 6, 7, `${where}: torch._utils.${name}`));
    case '_rebuild_tensor': // (storage, storage_offset, size, stride)
      return new PyCallable('torch._utils._rebuild_tensor', (args) => rebuildTensor(args, 4, 4, `${where}: torch._utils.${name}`));
    case '_rebuild_parameter': // (data, requires_grad, backward_hooks)
    case '_rebuild_parameter_with_state': // (data, requires_grad, backward_hooks, state)
      return new PyCallable(`torch._utils.${name}`, (args) => {
        const t = args[0];
        if (!(t instanceof PyObject) || !(t.payload as TensorRecord | null)?.storage) {
          throw new FormatError(`${where}: torch._utils.${name}: its first argument is ${describePy(t)}, not a tensor`);
        }
        return t!;
      });
    default:
      return undefined;
  }
}

function rebuildTensor(args: readonly PyValue[], min: number, max: number, fn: string): PyValue {
  // fn: `<where>: torch._utils.<name>`
  if (args.length < min || args.length > max) throw new FormatError(`${fn} called with ${args.length} arguments (expected ${min})`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof PyObject) || !(storage.payload as Storage | null)?.dtype) {
    throw new FormatError(`${fn}: its storage is ${describePy(storage)}, not a storage reference`);
  }
  const dims = (v: PyValue | undefined, what: string): number[] => {
    if (!(v instanceof PyTuple) || !v.items.every(isIndex)) {
      throw new FormatError(`${fn}: ${what} is ${describePy(v)}, not a tuple of non-negative integers`);
    }
    return v.items as number[];
  };
  const shape = dims(size, 'size');
  const strides = dims(stride, 'stride');
  if (shape.length !== strides.length) throw new FormatError(`${fn}: size has ${shape.length} dimensions, stride ${strides.length}`);
  if (!isIndex(offset!)) throw new FormatError(`${fn}: storage offset is ${describePy(offset)}, not a non-negative integer`);
  const record: TensorRecord = { storage: storage.payload as Storage, offset: offset as number, shape, stride: strides };
  return new PyObject('a tensor', record);
}

/** `('storage', <type>, key, location, numel[, view_metadata])` → the (shared) storage of that key. */
function storageFromPid(pid: PyValue, storages: Map<string, Storage>, where: string, legacy: boolean): PyValue {
  const bad = (why: string): never => {
    throw new FormatError(
      `${where}: persistent id ${describePy(pid)} ${why}; expected ('storage', torch.<Type>Storage, key, location, numel)`,
    );
  };
  if (!(pid instanceof PyTuple)) return bad('is not a tuple');
  const [tag, type, key, location, numel, view] = pid.items;
  if (tag === 'module') return bad('is a pickled nn.Module (torch.save(model)), not a state dict');
  if (tag !== 'storage') return bad(`has tag ${describePy(tag)}`);
  if (pid.items.length !== 5 && !(legacy && pid.items.length === 6)) bad(`has ${pid.items.length} elements`);
  if (!(type instanceof StorageType)) return bad(`names ${describePy(type)} as its type`);
  if (typeof key !== 'string' || key.length === 0 || key.length > 64) return bad('has no valid key');
  if (typeof location !== 'string') return bad('has no location string');
  if (!isIndex(numel!)) return bad('has no element count');
  const dtype = type.payload as SafetensorsDType;
  let s = storages.get(key);
  if (!s) {
    s = { key, dtype, numel, bytes: null };
    storages.set(key, s);
  } else if (s.dtype !== dtype || s.numel !== numel) {
    bad(`disagrees with an earlier reference to storage "${key}" (${s.dtype} × ${s.numel})`);
  }
  if (view !== undefined && view !== null) {
    // legacy storage view: (view_key, offset, view_size) into the root storage `key`
    if (!(view instanceof PyTuple) || view.items.length !== 3) return bad('has a malformed view');
    const [vkey, voff, vsize] = view.items;
    if (typeof vkey !== 'string' || !isIndex(voff!) || !isIndex(vsize!) || voff + vsize > numel)
      return bad('has a view outside its storage');
    let v = storages.get(`view:${vkey}`);
    if (!v) {
      v = { key: vkey, dtype, numel: vsize as number, bytes: null, viewOf: { root: s, offset: voff as number } };
      storages.set(`view:${vkey}`, v);
    }
    return new PyObject('a storage', v);
  }
  return new PyObject('a storage', s);
}

// ------------------------------------------------------------------ tensors from records

function materialize(top: PyValue, name: string, budget: number): { entries: Map<string, TensorEntry>; copiedBytes: number } {
  if (!(top instanceof PyDict)) throw new FormatError(`${name}: holds ${describePy(top)}, not a state dict (a dict of name → tensor)`);
  const entries = new Map<string, TensorEntry>();
  let copiedBytes = 0;
  for (const [key, value] of top.map) {
    if (typeof key !== 'string') throw new FormatError(`${name}: state dict key ${describePy(key)} is not a string`);
    const record = value instanceof PyObject ? (value.payload as TensorRecord | null) : null;
    if (!record?.storage || !record.shape) {
      const hint = value instanceof PyDict ? ' (a nested dict: a training checkpoint? load its model state dict instead)' : '';
      throw new FormatError(`${name}: "${key}" is ${describePy(value)}, not a tensor${hint}`);
    }
    const storage = record.storage;
    const root = storage.viewOf ? storage.viewOf.root : storage;
    const base = storage.viewOf ? storage.viewOf.offset : 0;
    const item = ITEM[storage.dtype];
    const src = root.bytes!;
    let numel = 1;
    let last = record.offset; // highest element index the view touches
    for (let d = 0; d < record.shape.length; d++) {
      numel *= record.shape[d]!;
      if (!Number.isSafeInteger(numel)) throw new FormatError(`${name}: "${key}" has too many elements`);
    }
    if (numel > 0) {
      for (let d = 0; d < record.shape.length; d++) last += (record.shape[d]! - 1) * record.stride[d]!;
      if (!Number.isSafeInteger(last) || last >= storage.numel) {
        throw new FormatError(
          `${name}: "${key}" [${record.shape.join(', ')}] with offset ${record.offset} and strides [${record.stride.join(', ')}] reaches element ${last} of a storage of ${storage.numel}`,
        );
      }
    }
    const start = (base + record.offset) * item;
    let bytes: Uint8Array;
    if (numel === 0) bytes = src.subarray(0, 0);
    else if (isContiguous(record.shape, record.stride)) bytes = src.subarray(start, start + numel * item);
    else {
      copiedBytes += numel * item;
      if (copiedBytes > budget) {
        throw new FormatError(
          `${name}: "${key}" is a strided view whose copy would bring the bytes allocated past the file's size (${budget}); refused`,
        );
      }
      bytes = gather(src, start, record.shape, record.stride, item, numel);
    }
    if (bytes.byteLength !== numel * item) throw new Error(`internal: "${key}" was cut to ${bytes.byteLength} bytes`); // checked above
    entries.set(key, { name: key, dtype: storage.dtype, shape: record.shape, bytes });
  }
  return { entries, copiedBytes };
}

/** C order: each stride is the product of the later sizes (dimensions of size 1 may have any stride). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/** Copies a strided view into C order (odometer over the indices; element size `item` bytes). */
function gather(
  src: Uint8Array,
  start: number,
  shape: readonly number[],
  stride: readonly number[],
  item: number,
  numel: number,
): Uint8Array {
  const out = new Uint8Array(numel * item);
  const idx = new Array<number>(shape.length).fill(0);
  let at = start;
  for (let i = 0; i < numel; i++) {
    if (at < 0 || at + item > src.length) throw new Error('internal: a strided view left its storage'); // checked by the caller
    out.set(src.subarray(at, at + item), i * item);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      at += stride[d]! * item;
      if (idx[d]! < shape[d]!) break;
      at -= shape[d]! * stride[d]! * item;
      idx[d] = 0;
    }
  }
  return out;
}
