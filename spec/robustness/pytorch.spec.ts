/**
 * Fuzzing the PyTorch checkpoint reader (`readPytorchCheckpoint`: zip container, legacy container,
 * restricted unpickler) and the SentencePiece model reader with mutated files: bit flips, overwritten
 * bytes, hostile 1/2/4/8-byte integers written over lengths, counts and offsets, truncation, deleted and
 * duplicated ranges. Inputs: small files of chosen layout (test/helpers/torch-writer.ts: every dtype,
 * offsets, strides, shared storages), the real torch output of test/fixtures/hf-pretrained/unsafe/ (memo
 * references, BUILD, a refused global), the 11 MB fixture checkpoints (mutations aimed at their pickle and
 * ZIP structures) and spiece.model.
 *
 * The laws: the only error is FormatError (never a RangeError, TypeError or stack overflow); each call
 * returns within a time limit; no typed array or buffer larger than the input is allocated (wrapped
 * constructors record every allocation; the tokenizer's fixed 1 KiB table of byte pieces aside); and a file that is accepted has every tensor either as a view
 * of the input's bytes or in a gathered copy, with all copies together at most the input's size.
 *
 * Seeded by spec/setup.ts (FC_SEED replays a failure).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readPytorchCheckpoint } from '../../src/io/pytorch/checkpoint.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece/tokenizer.js';
import { f32Bytes, type TorchTensor, torchLegacy, torchZip } from '../../test/helpers/torch-writer.js';
import { largestAllocation } from '../../test/robustness/helpers.js';
import { runs } from '../helpers/runs.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'hf-pretrained');
const fixture = (...p: string[]): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, ...p)));
const TIME_LIMIT_MS = 3000;

/** A mutation of a file, applied to a copy. */
const arbMutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('int' as const),
    at: fc.nat(),
    width: fc.constantFrom(1, 2, 4, 8),
    value: fc.oneof(
      fc.constantFrom(
        0n,
        1n,
        0x7fn,
        0x80n,
        0xffn,
        0xffffn,
        0x7fffffffn,
        0x80000000n,
        0xffffffffn,
        2n ** 53n,
        2n ** 63n - 1n,
        2n ** 64n - 1n,
      ),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ),
  }),
  // the operand of the k-th BININT1/BININT2/BININT opcode (offsets, sizes, strides, counts in a pickle)
  fc.record({ kind: fc.constant('operand' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
);
type Mutation = typeof arbMutation extends fc.Arbitrary<infer T> ? T : never;

/** Applies `m` at a position inside [lo, hi) of `b` (the whole file by default). */
function mutate(b: Uint8Array, m: Mutation, lo = 0, hi = b.length): Uint8Array {
  const at = lo + (m.at % Math.max(1, hi - lo));
  const out = b.slice();
  switch (m.kind) {
    case 'flip':
      out[at]! ^= 1 << m.bit;
      return out;
    case 'byte':
      out[at] = m.value;
      return out;
    case 'int': {
      let v = m.value;
      for (let i = 0; i < m.width && at + i < out.length; i++) {
        out[at + i] = Number(v & 0xffn);
        v >>= 8n;
      }
      return out;
    }
    case 'operand': {
      const ops: number[] = [];
      for (let i = lo; i < hi - 1; i++) if (b[i] === 0x4b || b[i] === 0x4d || b[i] === 0x4a) ops.push(i + 1);
      if (ops.length > 0) out[ops[m.at % ops.length]!] = m.value;
      return out;
    }
    case 'truncate':
      return b.slice(0, at);
    case 'delete':
      return concat(b.subarray(0, at), b.subarray(at + m.len));
    case 'duplicate':
      return concat(b.subarray(0, at + m.len), b.subarray(at, at + m.len), b.subarray(at + m.len));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Runs the reader on `bytes` and checks the laws. `verifyCrc: false` lets mutations of a zip file reach
 * the pickle and the records instead of stopping at the checksum.
 */
function checkReader(bytes: Uint8Array, verifyCrc = true): void {
  const t0 = performance.now();
  let result: ReturnType<typeof readPytorchCheckpoint> | null = null;
  const { bytes: largest, error } = largestAllocation(() => {
    result = readPytorchCheckpoint(bytes, { name: 'fuzz.bin', verifyCrc });
  });
  const ms = performance.now() - t0;
  if (error !== null) {
    expect(
      error instanceof FormatError,
      `unexpected ${(error as Error)?.name}: ${(error as Error)?.message}\n${(error as Error)?.stack}`,
    ).toBe(true);
    expect((error as Error).message.startsWith('fuzz.bin')).toBe(true);
  }
  expect(ms).toBeLessThan(TIME_LIMIT_MS);
  expect(largest, 'largest allocation').toBeLessThanOrEqual(bytes.length);
  if (result !== null) {
    const r = result as ReturnType<typeof readPytorchCheckpoint>;
    expect(r.copiedBytes).toBeLessThanOrEqual(bytes.length);
    let copied = 0;
    for (const n of r.tensors.names()) {
      const e = r.tensors.entry(n);
      if (e.bytes.buffer !== bytes.buffer) copied += e.bytes.byteLength;
      else expect(e.bytes.byteOffset + e.bytes.byteLength).toBeLessThanOrEqual(bytes.byteOffset + bytes.byteLength);
    }
    expect(copied).toBe(r.copiedBytes);
    // every accepted tensor's bytes fit its dtype and shape: reading the values works
    for (const n of r.tensors.names()) expect(r.tensors.float64(n).length).toBe(r.tensors.entry(n).shape.reduce((a, b) => a * b, 1));
  }
}

const dtypes = ['F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL'] as const;
const ITEM = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** Small valid checkpoints: random dtypes, shapes, a shared storage with an offset view and a transposed view. */
const arbSmallCheckpoint = fc
  .record({
    format: fc.constantFrom('zip', 'legacy'),
    tensors: fc.array(
      fc.record({ dtype: fc.constantFrom(...dtypes), rows: fc.integer({ min: 0, max: 4 }), cols: fc.integer({ min: 1, max: 4 }) }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ format, tensors }) => {
    const list: TorchTensor[] = [];
    tensors.forEach((t, i) => {
      const storage = new Uint8Array(t.rows * t.cols * ITEM[t.dtype]).map((_, j) => (j * 37 + i) & 0xff);
      list.push({ name: `t${i}`, key: String(1000 - i), dtype: t.dtype, storage, shape: [t.rows, t.cols] });
    });
    const shared = f32Bytes([1, 2, 3, 4, 5, 6]);
    list.push({ name: 'shared', key: '7', dtype: 'F32', storage: shared, shape: [2, 3] });
    list.push({ name: 'shared.tail', key: '7', dtype: 'F32', storage: shared, shape: [3], offset: 3 });
    list.push({ name: 'shared.T', key: '7', dtype: 'F32', storage: shared, shape: [3, 2], stride: [1, 3] });
    return format === 'zip' ? torchZip(list) : torchLegacy(list);
  });

describe('readPytorchCheckpoint under mutation', () => {
  it('small files of every dtype and layout: valid ones read, mutated ones give FormatError only, bounded allocation', () => {
    fc.assert(
      fc.property(arbSmallCheckpoint, fc.array(arbMutation, { minLength: 0, maxLength: 3 }), fc.boolean(), (file, ms, crc) => {
        checkReader(
          ms.reduce((b, m) => mutate(b, m), file),
          crc,
        );
      }),
      { numRuns: runs(400) },
    );
  });

  it("torch's own output (the unsafe/ files: memo, BUILD, a refused global) under mutation", () => {
    const files = [fixture('unsafe', 'zip', 'pytorch_model.bin'), fixture('unsafe', 'legacy', 'pytorch_model.bin')];
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.array(arbMutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (i, ms, crc) => {
        checkReader(
          ms.reduce((b, m) => mutate(b, m), files[i]!),
          crc,
        );
      }),
      { numRuns: runs(300) },
    );
  });

  it('the 11 MB checkpoints, mutations aimed at the pickles and the ZIP records', () => {
    const zip = fixture('zip', 'pytorch_model.bin');
    const legacy = fixture('legacy', 'pytorch_model.bin');
    // legacy: the five pickles take the first ~20 kB; zip: data.pkl at the start, the directory at the end
    const targets: [Uint8Array, number, number][] = [
      [legacy, 0, 20_000],
      [zip, 0, 17_400],
      [zip, zip.length - 8_000, zip.length],
    ];
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 2), arbMutation, fc.boolean(), (t, m, crc) => {
        const [file, lo, hi] = targets[t]!;
        checkReader(mutate(file, m, lo, hi), crc);
      }),
      { numRuns: runs(16) },
    );
  });

  it('random bytes behind a PyTorch signature', () => {
    fc.assert(
      fc.property(fc.constantFrom([0x50, 0x4b, 3, 4], [0x80, 2, 0x8a, 10]), fc.uint8Array({ maxLength: 300 }), (head, tail) => {
        checkReader(new Uint8Array([...head, ...tail]));
      }),
      { numRuns: runs(300) },
    );
  });
});

describe('SentencePiece model reader under mutation', () => {
  it('a mutated spiece.model is read or refused with FormatError; encoding with what was read never throws anything else', () => {
    const model = fixture('spiece.model');
    // the pieces come first (~5 kB), the normalizer's charsmap is most of the file
    fc.assert(
      fc.property(arbMutation, fc.boolean(), (m, inPieces) => {
        const bytes = inPieces ? mutate(model, m, 0, 6000) : mutate(model, m);
        let tok: SentencePieceTokenizer | null = null;
        const read = largestAllocation(() => {
          tok = SentencePieceTokenizer.fromModelBytes(bytes);
        });
        const typed = (e: unknown): void =>
          void expect(e === null || e instanceof FormatError, `unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`).toBe(true);
        typed(read.error);
        // fixed tables (256 byte-piece ids) aside, nothing larger than the file
        expect(read.bytes, 'largest allocation while reading').toBeLessThanOrEqual(Math.max(bytes.length, 1024));
        if (tok === null) return;
        const t = tok as SentencePieceTokenizer;
        try {
          for (const text of ['Raskolnikov said: “Sonia!”', ' ﬁ ①  e\u0301 жжж 😀 ']) t.decode(t.encode(text));
        } catch (e) {
          typed(e); // a corrupted normalization table is found while encoding
        }
      }),
      { numRuns: runs(200) },
    );
  });
});
