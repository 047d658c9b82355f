/**
 * HF's published checkpoint formats (test/fixtures/hf-pretrained): `pytorch_model.bin` in the zip and the
 * legacy container, read by `readPytorchCheckpoint`, loaded into `ReformerModelWithLMHead` with the 2020
 * config.json as it is, and compared with the logits HF computed (fixture rule: scaled error ≤ 2e-5).
 * The `unsafe/` pickles call `builtins.print`: refused by name, nothing printed.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { FormatError } from '../../src/errors.js';
import { readPytorchCheckpoint } from '../../src/io/pytorch/checkpoint.js';
import { lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { expectTyped } from '../robustness/helpers.js';
import { pretrainedExpected, readFixture } from './hf-pretrained.js';

const expected = pretrainedExpected();
const FORMATS = ['zip', 'legacy'] as const;

function scaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let err = 0;
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
  }
  return err / Math.max(1, maxAbs);
}

describe('pytorch_model.bin (zip and legacy) of the crime-and-punishment architecture', () => {
  it('the copied fixture files are the ones expected.json describes (sha256)', () => {
    for (const [path, info] of Object.entries(expected.json.files as Record<string, { bytes: number; sha256: string }>)) {
      const bytes = readFixture(...path.split('/'));
      expect(bytes.length, path).toBe(info.bytes);
      expect(createHash('sha256').update(bytes).digest('hex'), path).toBe(info.sha256);
    }
  });

  for (const format of FORMATS) {
    it(`${format}: every state_dict entry in file order, with its shape and dtype; tied biases share one storage`, () => {
      const ck = readPytorchCheckpoint(readFixture(format, 'pytorch_model.bin'));
      expect(ck.format).toBe(format);
      const listing = expected.json.state_dict as { name: string; shape: number[]; dtype: string }[];
      expect(ck.tensors.names()).toEqual(listing.map((t) => t.name));
      for (const t of listing) {
        expect(ck.tensors.entry(t.name).shape, t.name).toEqual(t.shape);
        expect(ck.tensors.entry(t.name).dtype).toBe('F32');
      }
      expect(ck.storages).toBe(expected.json.legacy_storage_count);
      expect(ck.copiedBytes).toBe(0);
      const a = ck.tensors.entry('lm_head.bias').bytes;
      const b = ck.tensors.entry('lm_head.decoder.bias').bytes;
      expect(a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length).toBe(true);
    });
  }

  it('both formats read to identical tensors (bit for bit)', () => {
    const z = readPytorchCheckpoint(readFixture('zip', 'pytorch_model.bin')).tensors;
    const l = readPytorchCheckpoint(readFixture('legacy', 'pytorch_model.bin')).tensors;
    expect(l.names()).toEqual(z.names());
    for (const n of z.names()) expect(Buffer.from(l.entry(n).bytes).equals(Buffer.from(z.entry(n).bytes)), n).toBe(true);
  });

  for (const format of FORMATS) {
    it(`${format}: the model built from config.json + pytorch_model.bin reproduces HF's logits (len16, len70 with HF's rotations)`, () => {
      const be = new ReferenceBackend();
      const ck = readPytorchCheckpoint(readFixture(format, 'pytorch_model.bin'));
      const lm = lmFromCheckpoint(be, { config: readFixture(format, 'config.json'), safetensors: ck.tensors });
      for (const len of ['len16', 'len70'] as const) {
        const ids = expected.tensors.int32(`in:${len}.input_ids`);
        const rotations = lm.config.attn_layers.map((_, i) =>
          expected.tensors.has(`cap:${len}.layers.${i}.rotations`) ? expected.tensors.float32(`cap:${len}.layers.${i}.rotations`) : null,
        );
        const { logits, encoder } = lm.evaluate({ inputIds: ids, batch: 1, seqLen: ids.length }, { rotations });
        const want = expected.tensors.float32(`out:${len}.logits`);
        const err = scaledError(logits, want);
        console.log(`${format} ${len}: worst scaled error vs HF fp32 ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(expected.json.tolerance.rtol_recommended_vs_out);
        // expected.json's first row is the same numbers as expected.safetensors (the fixture pair is consistent)
        expect(Array.from(want.subarray(0, 320))).toEqual(expected.json.inputs[len].logits_first8[0].map(Math.fround));
        if (len === 'len70') {
          for (const i of [1, 3, 5]) {
            // every position of both heads, the padding bucket of positions 70..127 included
            const hf = expected.tensors.int32(`cap:len70.layers.${i}.buckets`);
            expect(Array.from(encoder.buckets[i]!), `layer ${i} buckets`).toEqual(Array.from(hf));
          }
        }
      }
    });
  }
});

describe('unsafe pickles (they call builtins.print when unpickled without restrictions)', () => {
  for (const format of FORMATS) {
    it(`${format}: refused with a FormatError naming __builtin__.print, and nothing is printed`, () => {
      const log = vi.spyOn(console, 'log');
      const write = vi.spyOn(process.stdout, 'write');
      try {
        expectTyped(
          () => readPytorchCheckpoint(readFixture('unsafe', format, 'pytorch_model.bin')),
          FormatError,
          /global __builtin__\.print is not allowed/,
          /nothing was executed/,
        );
        expect(log).not.toHaveBeenCalled();
        expect(write).not.toHaveBeenCalled();
      } finally {
        log.mockRestore();
        write.mockRestore();
      }
    });
  }
});
