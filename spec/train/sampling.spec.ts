/** Laws of next-token sampling: temperature, top-k, top-p, greedy, seeded determinism, repetition penalty. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, drawFrom, sampleToken, samplingDistribution } from '../../src/train/sampling.js';
import { Rng } from '../../src/util/rng.js';

const logitsArb = fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 40 });
/** Coarse logits so that ties happen. */
const tiedLogitsArb = fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 20 });

/** Ids sorted by logit, highest first, ties by id. */
function ranking(logits: number[]): number[] {
  return logits.map((_, j) => j).sort((a, b) => logits[b]! - logits[a]! || a - b);
}

describe('samplingDistribution', () => {
  it('is a probability distribution', () => {
    fc.assert(
      fc.property(
        logitsArb,
        fc.double({ min: 0.05, max: 5, noNaN: true }),
        fc.nat(45),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (logits, temperature, topK, topP) => {
          const p = samplingDistribution(logits, { temperature, topK, topP });
          expect(p.every((x) => x >= 0)).toBe(true);
          expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
        },
      ),
    );
  });

  it('top-k never gives probability outside the k best logits', () => {
    fc.assert(
      fc.property(fc.oneof(logitsArb, tiedLogitsArb), fc.integer({ min: 1, max: 10 }), (logits, k) => {
        const p = samplingDistribution(logits, { temperature: 1, topK: k });
        const best = new Set(ranking(logits).slice(0, k));
        p.forEach((x, j) => {
          if (!best.has(j)) expect(x).toBe(0);
        });
        // and, with k smaller than the vocabulary, sampling never picks outside them
        const rng = new Rng(k);
        for (let i = 0; i < 50; i++) expect(best.has(sampleToken(logits, { topK: k }, rng))).toBe(true);
      }),
    );
  });

  it('top-p keeps the smallest prefix of the ranking whose mass reaches p', () => {
    fc.assert(
      fc.property(logitsArb, fc.double({ min: 0.01, max: 0.999, noNaN: true }), (logits, topP) => {
        const full = samplingDistribution(logits, { temperature: 1 });
        const p = samplingDistribution(logits, { temperature: 1, topP });
        const order = ranking(logits);
        const kept = order.filter((j) => p[j]! > 0);
        // kept is a prefix of the ranking
        expect(kept).toEqual(order.slice(0, kept.length));
        const mass = kept.reduce((a, j) => a + full[j]!, 0);
        expect(mass).toBeGreaterThanOrEqual(topP - 1e-12);
        // minimal: without the last kept token the mass is below p
        expect(mass - full[kept[kept.length - 1]!]!).toBeLessThan(topP + 1e-12);
        // renormalised in proportion to the full distribution
        for (const j of kept) expect(p[j]!).toBeCloseTo(full[j]! / mass, 10);
      }),
    );
  });

  it('temperature 0 is the argmax (lowest id on ties), whatever top-k/top-p say', () => {
    fc.assert(
      fc.property(fc.oneof(logitsArb, tiedLogitsArb), fc.nat(5), (logits, topK) => {
        const argmax = ranking(logits)[0]!;
        const p = samplingDistribution(logits, { temperature: 0, topK, topP: 0.5 });
        expect(Array.from(p)).toEqual(logits.map((_, j) => (j === argmax ? 1 : 0)));
        expect(sampleToken(logits, { temperature: 0 }, new Rng(1))).toBe(argmax);
      }),
    );
  });

  it('temperature T is softmax(logits / T)', () => {
    fc.assert(
      fc.property(logitsArb, fc.double({ min: 0.1, max: 4, noNaN: true }), (logits, t) => {
        const p = samplingDistribution(logits, { temperature: t });
        const m = Math.max(...logits);
        const e = logits.map((z) => Math.exp((z - m) / t));
        const s = e.reduce((a, b) => a + b, 0);
        e.forEach((x, j) => {
          expect(p[j]!).toBeCloseTo(x / s, 12);
        });
      }),
    );
  });

  it('−Infinity logits are never sampled', () => {
    fc.assert(
      fc.property(logitsArb, fc.nat(), (logits, seed) => {
        fc.pre(logits.length > 1);
        const banned = seed % logits.length;
        const l = logits.slice();
        l[banned] = -Infinity;
        const rng = new Rng(seed);
        for (let i = 0; i < 30; i++) expect(sampleToken(l, {}, rng)).not.toBe(banned);
      }),
    );
  });
});

describe('drawing', () => {
  it('the same seed draws the same sequence', () => {
    fc.assert(
      fc.property(logitsArb, fc.integer(), (logits, seed) => {
        const a = new Rng(seed);
        const b = new Rng(seed);
        for (let i = 0; i < 20; i++) expect(sampleToken(logits, { topP: 0.9 }, a)).toBe(sampleToken(logits, { topP: 0.9 }, b));
      }),
    );
  });

  it('draw frequencies follow the distribution (chi-square bound on a fixed case)', () => {
    const probs = Float64Array.from([0.5, 0.25, 0, 0.125, 0.125]);
    const rng = new Rng(42);
    const counts = [0, 0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[drawFrom(probs, rng)]!++;
    expect(counts[2]).toBe(0);
    let chi2 = 0;
    probs.forEach((p, j) => {
      if (p > 0) chi2 += (counts[j]! - n * p) ** 2 / (n * p);
    });
    expect(chi2).toBeLessThan(16.3); // 3 degrees of freedom, p = 0.001
  });
});

describe('repetition penalty (HF RepetitionPenaltyLogitsProcessor)', () => {
  const prevArb = fc.array(fc.nat(45), { maxLength: 30 });

  it('penalty 1 changes nothing; ids never seen keep their logit; a seen id is divided (> 0) or multiplied (≤ 0) by p, once', () => {
    fc.assert(
      fc.property(logitsArb, prevArb, fc.double({ min: 0.1, max: 10, noNaN: true }), (logits, prev, p) => {
        const same = Float64Array.from(logits);
        applyRepetitionPenalty(same, prev, 1);
        expect(Array.from(same)).toEqual(logits);
        const row = Float64Array.from(logits);
        applyRepetitionPenalty(row, prev, p);
        const seen = new Set(prev.filter((id) => id < logits.length));
        logits.forEach((z, j) => {
          const want = seen.has(j) ? (z > 0 ? z / p : z * p) : z;
          expect(row[j]).toBe(want);
        });
        // repeating the history does not penalise twice
        const twice = Float64Array.from(logits);
        applyRepetitionPenalty(twice, [...prev, ...prev], p);
        expect(Array.from(twice)).toEqual(Array.from(row));
      }),
    );
  });

  it('p > 1 never raises the odds of a seen id against an unseen one (temperature 1)', () => {
    fc.assert(
      fc.property(logitsArb, prevArb, fc.double({ min: 1, max: 10, noNaN: true }), (logits, prev, p) => {
        const before = samplingDistribution(logits, { temperature: 1 });
        const row = Float64Array.from(logits);
        applyRepetitionPenalty(row, prev, p);
        const after = samplingDistribution(row, { temperature: 1 });
        const seen = new Set(prev);
        for (let i = 0; i < logits.length; i++) {
          if (!seen.has(i)) continue;
          for (let j = 0; j < logits.length; j++) {
            if (seen.has(j) || before[i] === 0 || before[j] === 0 || after[j] === 0) continue;
            expect(after[i]! / after[j]!).toBeLessThanOrEqual((before[i]! / before[j]!) * (1 + 1e-9));
          }
        }
      }),
    );
  });

  it('rejects a penalty that is not a finite number > 0, naming the option', () => {
    for (const p of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => applyRepetitionPenalty(new Float64Array(3), [1], p)).toThrow(/^repetition_penalty: must be a finite number > 0/);
    }
  });
});
