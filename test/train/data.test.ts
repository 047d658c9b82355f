/** Train/validation split sizes and the batch sampler: determinism and exact resume. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { BatchSampler, splitTokens } from '../../src/train/data.js';

const stream = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

describe('splitTokens', () => {
  it('holds out ceil(fraction·n) tokens from the end', () => {
    const s = splitTokens(stream(1000), { validationFraction: 0.05, seqLen: 16 });
    expect(s.train.length).toBe(950);
    expect(s.validation.length).toBe(50);
    expect(s.train[949]).toBe(949);
    expect(s.validation[0]).toBe(950);
    const t = splitTokens(stream(1001), { validationFraction: 0.1, seqLen: 16 });
    expect(t.validation.length).toBe(101);
    expect(t.train.length + t.validation.length).toBe(1001);
  });

  it('fraction 0 means no validation split', () => {
    const s = splitTokens(stream(100), { validationFraction: 0, seqLen: 100 });
    expect(s.train.length).toBe(100);
    expect(s.validation.length).toBe(0);
  });

  it('errors clearly when validation cannot hold one full window, or training cannot', () => {
    expect(() => splitTokens(stream(1000), { validationFraction: 0.01, seqLen: 64 })).toThrow(ConfigError);
    expect(() => splitTokens(stream(1000), { validationFraction: 0.01, seqLen: 64 })).toThrow(
      /validation_fraction: the validation split holds 10 tokens \(0\.01 of 1000\), fewer than one window of seq_len 64; raise the fraction to at least 0\.064/,
    );
    expect(() => splitTokens(stream(100), { validationFraction: 0.3, seqLen: 64 })).toThrow(
      /seq_len: the data holds 100 tokens, fewer than two windows of 64 \(one to train on, one to validate\)/,
    );
    expect(() => splitTokens(stream(200), { validationFraction: 0.8, seqLen: 64 })).toThrow(/seq_len: the training split holds 40 tokens/);
    expect(() => splitTokens(stream(50), { validationFraction: 0, seqLen: 64 })).toThrow(/training split holds 50 tokens/);
    expect(() => splitTokens(stream(100), { validationFraction: 1, seqLen: 4 })).toThrow(/must be in \[0, 1\)/);
  });
});

describe('BatchSampler', () => {
  it('returns [batch, seqLen] windows of consecutive tokens at offsets in [0, n − seqLen]', () => {
    const s = new BatchSampler(stream(50), { batch: 3, seqLen: 10, seed: 1 });
    for (let k = 0; k < 200; k++) {
      const b = s.next();
      expect(b.inputIds.length).toBe(30);
      for (let r = 0; r < 3; r++) {
        const first = b.inputIds[r * 10]!;
        expect(first).toBeGreaterThanOrEqual(0);
        expect(first).toBeLessThanOrEqual(40);
        for (let j = 1; j < 10; j++) expect(b.inputIds[r * 10 + j]).toBe(first + j);
      }
    }
  });

  it('covers every offset including the last one', () => {
    const s = new BatchSampler(stream(12), { batch: 4, seqLen: 10, seed: 3 });
    const seen = new Set<number>();
    for (let k = 0; k < 50; k++) for (const o of s.nextOffsets()) seen.add(o);
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = new BatchSampler(stream(10_000), { batch: 4, seqLen: 8, seed: 7 });
    const b = new BatchSampler(stream(10_000), { batch: 4, seqLen: 8, seed: 7 });
    const c = new BatchSampler(stream(10_000), { batch: 4, seqLen: 8, seed: 8 });
    const oa = Array.from({ length: 20 }, () => a.nextOffsets()).flat();
    expect(Array.from({ length: 20 }, () => b.nextOffsets()).flat()).toEqual(oa);
    expect(Array.from({ length: 20 }, () => c.nextOffsets()).flat()).not.toEqual(oa);
  });

  it('restoring a saved state (through JSON) continues exactly', () => {
    const a = new BatchSampler(stream(5000), { batch: 2, seqLen: 16, seed: 11 });
    for (let k = 0; k < 13; k++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state()));
    expect(saved.batchesDrawn).toBe(13);
    const rest = Array.from({ length: 10 }, () => Array.from(a.next().inputIds));
    const b = new BatchSampler(stream(5000), { batch: 2, seqLen: 16, seed: 999 });
    b.restore(saved);
    expect(Array.from({ length: 10 }, () => Array.from(b.next().inputIds))).toEqual(rest);
    expect(b.state().batchesDrawn).toBe(23);
    expect(() => b.restore({ rng: [1, 2, 3] as never, batchesDrawn: 0 })).toThrow(/four unsigned 32-bit integers/);
  });
});
