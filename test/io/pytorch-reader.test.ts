/**
 * The PyTorch reader on files whose layout the test chose (test/helpers/torch-writer.ts): every dtype,
 * storage offsets, strides (a transposed view is gathered), shared storages (zero-copy), legacy key
 * order, an arbitrary zip root; and refusals: unsafe globals and opcodes, views outside their storage,
 * storages of the wrong size, complex storages, non-tensor values, big-endian files.
 */
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readPytorchCheckpoint } from '../../src/io/pytorch/checkpoint.js';
import { parseSafetensors, serializeTensorFile } from '../../src/io/safetensors.js';
import { f32Bytes, PickleBuilder, type TorchTensor, torchLegacy, torchZip, zipStored } from '../helpers/torch-writer.js';
import { expectTyped } from '../robustness/helpers.js';

const FORMATS = { zip: torchZip, legacy: torchLegacy } as const;
const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe.each(Object.entries(FORMATS))('%s format', (_format, write) => {
  it('dtypes F32, F64, F16, BF16, I64, I32, U8 and BOOL keep their dtype and values', () => {
    const f64 = new Uint8Array(Float64Array.from([1.5, -2.25]).buffer);
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000]).buffer); // 1, -2
    const bf16 = new Uint8Array(Uint16Array.from([0x3fc0, 0x4049]).buffer); // 1.5, 3.140625
    const i64 = new Uint8Array(BigInt64Array.from([7n, -3n]).buffer);
    const i32 = new Uint8Array(Int32Array.from([9, -9]).buffer);
    const tensors: TorchTensor[] = [
      { name: 'a', key: '0', dtype: 'F32', storage: f32Bytes([0.5, 1]), shape: [2] },
      { name: 'b', key: '1', dtype: 'F64', storage: f64, shape: [2] },
      { name: 'c', key: '2', dtype: 'F16', storage: f16, shape: [2] },
      { name: 'd', key: '3', dtype: 'BF16', storage: bf16, shape: [2] },
      { name: 'e', key: '4', dtype: 'I64', storage: i64, shape: [2] },
      { name: 'f', key: '5', dtype: 'I32', storage: i32, shape: [2] },
      { name: 'g', key: '6', dtype: 'U8', storage: Uint8Array.from([3, 250]), shape: [2] },
      { name: 'h', key: '7', dtype: 'BOOL', storage: Uint8Array.from([1, 0]), shape: [2] },
    ];
    const t = readPytorchCheckpoint(write(tensors)).tensors;
    expect(t.names()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect(t.names().map((n) => t.entry(n).dtype)).toEqual(['F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL']);
    expect(Array.from(t.float32('a'))).toEqual([0.5, 1]);
    expect(Array.from(t.float64('b'))).toEqual([1.5, -2.25]);
    expect(Array.from(t.float32('c'))).toEqual([1, -2]);
    expect(Array.from(t.float32('d'))).toEqual([1.5, 3.140625]);
    expect(Array.from(t.int32('e'))).toEqual([7, -3]);
    expect(Array.from(t.int32('f'))).toEqual([9, -9]);
    expect(Array.from(t.int32('g'))).toEqual([3, 250]);
    expect(Array.from(t.int32('h'))).toEqual([1, 0]);
  });

  it('offsets, a transposed (strided) view and shared storages', () => {
    const storage = f32Bytes(iota(12)); // 1..12
    const tensors: TorchTensor[] = [
      { name: 'whole', key: '5', dtype: 'F32', storage, shape: [3, 4] },
      { name: 'rows12', key: '5', dtype: 'F32', storage, shape: [2, 4], offset: 4 }, // rows 1..2: 5..12
      { name: 'transposed', key: '5', dtype: 'F32', storage, shape: [4, 3], stride: [1, 4] },
      { name: 'column', key: '5', dtype: 'F32', storage, shape: [3], stride: [4], offset: 1 }, // 2, 6, 10
      { name: 'empty', key: '5', dtype: 'F32', storage, shape: [0, 4] },
      { name: 'other', key: '10', dtype: 'F32', storage: f32Bytes([42]), shape: [1, 1], stride: [7, 3] }, // size-1 dims: any stride
    ];
    const ck = readPytorchCheckpoint(write(tensors));
    const t = ck.tensors;
    expect(ck.storages).toBe(2);
    expect(Array.from(t.float32('whole'))).toEqual(iota(12));
    expect(Array.from(t.float32('rows12'))).toEqual(iota(12).slice(4));
    expect(Array.from(t.float32('transposed'))).toEqual([1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12]);
    expect(Array.from(t.float32('column'))).toEqual([2, 6, 10]);
    expect(t.entry('empty').shape).toEqual([0, 4]);
    expect(Array.from(t.float32('other'))).toEqual([42]);
    // contiguous views share the storage's bytes; only the two strided ones were copied
    expect(t.entry('rows12').bytes.buffer).toBe(t.entry('whole').bytes.buffer);
    expect(ck.copiedBytes).toBe((12 + 3) * 4);
    // and they survive a round trip through safetensors bytes
    const again = parseSafetensors(serializeTensorFile(t));
    for (const n of t.names()) expect(Array.from(again.float32(n)), n).toEqual(Array.from(t.float32(n)));
  });

  it('a view reaching outside its storage is refused, naming the tensor', () => {
    const storage = f32Bytes(iota(6));
    for (const bad of [{ shape: [7] }, { shape: [2, 3], offset: 1 }, { shape: [3, 2], stride: [3, 1] }]) {
      const t: TorchTensor = { name: 'w', key: '0', dtype: 'F32', storage, ...bad };
      expectTyped(
        () => readPytorchCheckpoint(write([t])),
        FormatError,
        /"w" \[.*\] with offset \d+ and strides .* reaches element \d+ of a storage of 6/,
      );
    }
  });
});

describe('zip format specifics', () => {
  it('the root folder may have any name; a big-endian byteorder record is refused', () => {
    const t: TorchTensor[] = [{ name: 'x', key: '0', dtype: 'F32', storage: f32Bytes([3]), shape: [1] }];
    expect(Array.from(readPytorchCheckpoint(torchZip(t, 'my model')).tensors.float32('x'))).toEqual([3]);
    const pkl = new PickleBuilder().proto().global('collections', 'OrderedDict').op(0x29, 0x52).stop().bytes();
    const big = zipStored([
      ['a/data.pkl', pkl],
      ['a/byteorder', new TextEncoder().encode('big')],
    ]);
    expectTyped(() => readPytorchCheckpoint(big), FormatError, /big-endian/);
  });

  it('a storage record of the wrong size, or missing, is refused; a corrupted byte fails the CRC', () => {
    const data = f32Bytes([1, 2]);
    const good = torchZip([{ name: 'x', key: '0', dtype: 'F32', storage: data, shape: [2] }]);
    const at = Buffer.from(good).indexOf(Buffer.from(data)); // the storage record's bytes
    expect(at).toBeGreaterThan(0);
    const corrupted = good.slice();
    corrupted[at + 3]! ^= 0x01;
    expectTyped(() => readPytorchCheckpoint(corrupted), FormatError, /entry "archive\/data\/0": CRC-32 mismatch/);
    const missing = zipStored([['archive/data.pkl', stateDictOnly()]]);
    expectTyped(() => readPytorchCheckpoint(missing), FormatError, /storage "0" has no record archive\/data\/0/);
    const short = zipStored([
      ['archive/data.pkl', stateDictOnly()],
      ['archive/data/0', new Uint8Array(4)],
    ]);
    expectTyped(
      () => readPytorchCheckpoint(short),
      FormatError,
      /storage "0" holds 4 bytes, but the pickle says 2 F32 elements \(8 bytes\)/,
    );
  });
});

/** data.pkl of {'x': FloatStorage '0' of 2 elements} (taken from a written file). */
function stateDictOnly(): Uint8Array {
  const file = torchZip([{ name: 'x', key: '0', dtype: 'F32', storage: f32Bytes([1, 2]), shape: [2] }]);
  const len = new DataView(file.buffer).getUint32(18, true);
  const nameLen = new DataView(file.buffer).getUint16(26, true);
  return file.slice(30 + nameLen, 30 + nameLen + len);
}

describe('legacy format specifics', () => {
  it('storages are attached in the key list order, which is not the pickle order', () => {
    const tensors: TorchTensor[] = [
      { name: 'first', key: '9', dtype: 'F32', storage: f32Bytes([9, 9]), shape: [2] },
      { name: 'second', key: '10', dtype: 'F32', storage: f32Bytes([10, 10, 10]), shape: [3] },
    ];
    const t = readPytorchCheckpoint(torchLegacy(tensors)).tensors; // the key list is sorted: "10" before "9"
    expect(Array.from(t.float32('first'))).toEqual([9, 9]);
    expect(Array.from(t.float32('second'))).toEqual([10, 10, 10]);
  });

  it('a truncated file names the storage that is cut; extra bytes at the end are refused', () => {
    const file = torchLegacy([{ name: 'x', key: '0', dtype: 'F32', storage: f32Bytes([1, 2]), shape: [2] }]);
    expectTyped(
      () => readPytorchCheckpoint(file.subarray(0, file.length - 1)),
      FormatError,
      /storage "0" needs 8 bytes .* past the end of the file/,
    );
    const longer = new Uint8Array(file.length + 3);
    longer.set(file);
    expectTyped(() => readPytorchCheckpoint(longer), FormatError, /3 unexpected bytes after the last storage/);
  });
});

describe('what a safe reader refuses', () => {
  /** A zip checkpoint whose data.pkl is `pickle`. */
  const withPickle = (pickle: Uint8Array): Uint8Array => zipStored([['archive/data.pkl', pickle]]);
  const dict = (): PickleBuilder => new PickleBuilder().proto().global('collections', 'OrderedDict').op(0x29, 0x52);

  it('a global outside the allow-list, when the GLOBAL or STACK_GLOBAL is read (before any REDUCE)', () => {
    const viaGlobal = dict().str('x').global('os', 'system').str('echo hi').op(0x85, 0x52, 0x73).stop().bytes();
    expectTyped(
      () => readPytorchCheckpoint(withPickle(viaGlobal)),
      FormatError,
      /global os\.system is not allowed/,
      /nothing was executed/,
    );
    const viaStack = dict().str('x').str('builtins').str('eval').op(0x93).stop().bytes();
    expectTyped(() => readPytorchCheckpoint(withPickle(viaStack)), FormatError, /global builtins\.eval is not allowed/);
    const torchOther = dict().str('x').global('torch', 'load').stop().bytes();
    expectTyped(() => readPytorchCheckpoint(withPickle(torchOther)), FormatError, /global torch\.load is not allowed/);
  });

  it('opcodes that build objects, by name; complex storages by name; a REDUCE of a non-callable', () => {
    expectTyped(() => readPytorchCheckpoint(withPickle(dict().op(0x81).stop().bytes())), FormatError, /opcode NEWOBJ is not allowed/);
    expectTyped(() => readPytorchCheckpoint(withPickle(dict().op(0x69).stop().bytes())), FormatError, /opcode INST is not allowed/);
    expectTyped(() => readPytorchCheckpoint(withPickle(dict().op(0x82, 1).stop().bytes())), FormatError, /opcode EXT1 is not allowed/);
    const complex = dict().global('torch', 'ComplexFloatStorage').stop().bytes();
    expectTyped(
      () => readPytorchCheckpoint(withPickle(complex)),
      FormatError,
      /torch\.ComplexFloatStorage \(complex64\) tensors are not supported/,
    );
    const reduceStr = dict().str('x').str('y').op(0x29, 0x52).stop().bytes();
    expectTyped(() => readPytorchCheckpoint(withPickle(reduceStr)), FormatError, /REDUCE calls str "y", which is not callable here/);
  });

  it('values that are not tensors, a training checkpoint (nested dicts), a pickle without STOP', () => {
    const intValue = dict().str('step').int(5).op(0x73).stop().bytes();
    expectTyped(() => readPytorchCheckpoint(withPickle(intValue)), FormatError, /"step" is int 5, not a tensor/);
    const nested = new PickleBuilder().proto().op(0x7d).str('model').op(0x7d, 0x73).stop().bytes();
    expectTyped(
      () => readPytorchCheckpoint(withPickle(nested)),
      FormatError,
      /"model" is a dict of 0, not a tensor \(a nested dict: a training checkpoint/,
    );
    expectTyped(() => readPytorchCheckpoint(withPickle(dict().bytes())), FormatError, /ends without STOP/);
    expectTyped(() => readPytorchCheckpoint(new TextEncoder().encode('hello')), FormatError, /not a PyTorch checkpoint/);
  });
});
