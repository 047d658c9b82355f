/**
 * The genome task (src/apps/genome.ts, genome-markov.ts): base tokens, the contiguous split, the
 * evaluation windows (every base but the first scored once, with at least C/2 context), the Markov
 * counts and both smoothing rules on hand-computed cases, the bits of a region summed by hand, and
 * (fast-check) that every Markov distribution sums to 1 over A, C, G, T and that the cached fast path
 * (`MarkovStats`) gives exactly the bits of the reference distribution.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError } from '../../src/errors.js';
import type { CausalLanguageModel, TokenBatch } from '../../src/model/language-model.js';
import {
  axialFactors,
  BASE_N,
  baseTokens,
  evaluateGenome,
  genomeEvalWindows,
  genomeModelConfig,
  genomeSplit,
} from '../../src/apps/genome.js';
import {
  ADD_ALPHA_GRID,
  INTERPOLATED_BETA_GRID,
  MarkovCounts,
  markovDistribution,
  MarkovStats,
  selectMarkov,
  type MarkovSetting,
} from '../../src/apps/genome-markov.js';

const ids = (s: string): Int32Array => baseTokens(new TextEncoder().encode(s));

describe('baseTokens', () => {
  it('maps A C G T/U to 0…3 and every other letter to N, either case', () => {
    expect([...ids('ACGTUNacgtuRYn')]).toEqual([0, 1, 2, 3, 3, 4, 0, 1, 2, 3, 3, 4, 4, 4]);
  });
  it('refuses gaps and stops, naming the position', () => {
    expect(() => ids('AC-GT')).toThrow(FormatError);
    expect(() => ids('AC-GT')).toThrow(/base 2: "-"/);
  });
});

describe('genomeSplit', () => {
  it('holds out the last 10%, then validates on the last 10% of the rest', () => {
    expect(genomeSplit(100)).toEqual({
      train: { start: 0, end: 81 },
      validation: { start: 81, end: 90 },
      heldOut: { start: 90, end: 100 },
    });
  });
  it('gives three contiguous regions that cover the genome, in order, of the asked sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2000, max: 1e7 }),
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
        (n, h, v) => {
          const s = genomeSplit(n, h, v);
          expect(s.train.start).toBe(0);
          expect(s.train.end).toBe(s.validation.start);
          expect(s.validation.end).toBe(s.heldOut.start);
          expect(s.heldOut.end).toBe(n);
          expect(s.heldOut.end - s.heldOut.start).toBe(Math.ceil(h * n));
          expect(s.validation.end - s.validation.start).toBe(Math.ceil(v * (n - Math.ceil(h * n))));
        },
      ),
    );
  });
  it('refuses fractions out of range and regions too short', () => {
    expect(() => genomeSplit(100, 0)).toThrow(ConfigError);
    expect(() => genomeSplit(100, 0.1, 1)).toThrow(/validation_fraction/);
    expect(() => genomeSplit(10, 0.1, 0.1, 5)).toThrow(/fewer than 5/);
  });
});

describe('genomeEvalWindows', () => {
  it('scores every base but the first exactly once, each with ≥ min(position, C/2) bases of context', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 2, max: 700 }), (n, C) => {
        const seen = new Uint8Array(n);
        let shortContext = 0;
        for (const w of genomeEvalWindows(n, C)) {
          expect(w.start).toBeGreaterThanOrEqual(0);
          expect(w.start + w.length).toBeLessThanOrEqual(n);
          expect(w.length).toBe(Math.min(n, C));
          for (let p = Math.max(1, w.firstCounted); p < w.length; p++) {
            seen[w.start + p]!++;
            if (p < Math.min(w.start + p, Math.floor(C / 2))) shortContext++;
          }
        }
        expect(shortContext).toBe(0);
        expect(seen[0]).toBe(0);
        expect(seen.subarray(1).every((c) => c === 1)).toBe(true);
      }),
    );
  });
  it('uses one window for a region shorter than the context', () => {
    expect(genomeEvalWindows(10, 64)).toEqual([{ start: 0, length: 10, firstCounted: 1 }]);
    expect(genomeEvalWindows(8, 4)).toEqual([
      { start: 0, length: 4, firstCounted: 1 },
      { start: 2, length: 4, firstCounted: 2 },
      { start: 4, length: 4, firstCounted: 2 },
    ]);
  });
});

describe('evaluateGenome', () => {
  // a model that gives every base probability 1/4: 2 bits for each counted target
  const uniform: CausalLanguageModel = {
    backend: { scope: <T>(f: () => T): T => f() } as unknown as CausalLanguageModel['backend'],
    vocabSize: 5,
    params: new Float32Array(0),
    grads: new Float32Array(0),
    loss(b: TokenBatch) {
      let tokens = 0;
      for (let i = 0; i < b.batch; i++) for (let p = 1; p < b.seqLen; p++) if (b.labels![i * b.seqLen + p] !== -100) tokens++;
      return { loss: Math.log(4), tokens };
    },
    lossAndGrad() {
      throw new Error('not used');
    },
    logits() {
      throw new Error('not used');
    },
  } as unknown as CausalLanguageModel;
  it('counts the bases 1…n−1 that are not N, at 2 bits each under a uniform model', () => {
    const region = ids('ACGTNACGTACGTNNACGTACGTACGTA');
    for (const context of [4, 7, 16, 64]) {
      const r = evaluateGenome(uniform, region, { context, tokensPerForward: 16 });
      expect(r.targets).toBe(region.length - 1 - [...region].filter((x) => x === BASE_N).length);
      expect(r.bitsPerBase).toBeCloseTo(2, 12);
      expect(r.context).toBe(Math.min(context, region.length));
    }
  });
});

describe('MarkovCounts and the smoothing rules (hand cases)', () => {
  // train: A C A C A G → order 1: n(A→C) 2, n(A→G) 1, n(A) 3; n(C→A) 2, n(C) 2; order 0: A 3, C 2, G 1 of 6
  const counts = MarkovCounts.fit(ids('ACACAG'), 2);
  it('counts (k+1)-mers by context', () => {
    expect(counts.counts(0, 0, 0)).toEqual({ nx: 3, nc: 6 });
    expect(counts.counts(0, 0, 3)).toEqual({ nx: 0, nc: 6 });
    expect(counts.counts(1, 0, 1)).toEqual({ nx: 2, nc: 3 }); // A → C
    expect(counts.counts(1, 0, 2)).toEqual({ nx: 1, nc: 3 }); // A → G
    expect(counts.counts(1, 1, 0)).toEqual({ nx: 2, nc: 2 }); // C → A
    expect(counts.counts(1, 3, 0)).toEqual({ nx: 0, nc: 0 }); // T never seen
    // order 2, context "CA" (code: nearest letter least significant: A + 4·C = 4): → C once, → G once
    expect(counts.counts(2, 4, 1)).toEqual({ nx: 1, nc: 2 });
    expect(counts.total(0)).toBe(6);
    expect(counts.total(2)).toBe(4);
  });
  it('add-α: (n(c, x) + α) / (n(c) + 4α)', () => {
    const p = markovDistribution(counts, ids('AT'), 1, { order: 1, smoothing: 'add-alpha', strength: 1 });
    expect([...p]).toEqual([1 / 7, 3 / 7, 2 / 7, 1 / 7]);
  });
  it('interpolated: p_j = (n(c_j, x) + β p_{j−1}) / (n(c_j) + β), from 1/4', () => {
    const p = markovDistribution(counts, ids('AT'), 1, { order: 1, smoothing: 'interpolated', strength: 1 });
    const p0 = [3.25 / 7, 2.25 / 7, 1.25 / 7, 0.25 / 7];
    const want = [(0 + p0[0]!) / 4, (2 + p0[1]!) / 4, (1 + p0[2]!) / 4, (0 + p0[3]!) / 4];
    for (const [x, w] of want.entries()) expect(p[x]).toBeCloseTo(w, 14);
  });
  it('sums the bits of a region, and backs off at an N', () => {
    const s: MarkovSetting = { order: 1, smoothing: 'add-alpha', strength: 1 };
    // A C A G: p(C|A) 3/7, p(A|C) (2+1)/(2+4), p(G|A) 2/7
    const stats = new MarkovStats(counts, ids('ACAG'));
    expect(stats.targets).toBe(3);
    expect(stats.bits(s)).toBeCloseTo(-Math.log2(3 / 7) - Math.log2(1 / 2) - Math.log2(2 / 7), 12);
    // A N C: the N is not scored; C follows an N, so order 0: (2 + 1) / (6 + 4)
    const withN = new MarkovStats(counts, ids('ANC'));
    expect(withN.targets).toBe(1);
    expect(withN.bits(s)).toBeCloseTo(-Math.log2(3 / 10), 12);
  });
  it('refuses orders above 15 or the counts, unknown ids and bad strengths', () => {
    expect(() => MarkovCounts.fit(ids('ACGT'), 16)).toThrow(/max_order/);
    expect(() => MarkovCounts.fit(Int32Array.of(0, 7), 2)).toThrow(/base ids must be 0…4/);
    expect(() => markovDistribution(counts, ids('AC'), 1, { order: 3, smoothing: 'add-alpha', strength: 1 })).toThrow(/max order 2/);
    expect(() => new MarkovStats(counts, ids('AC')).bits({ order: 1, smoothing: 'add-alpha', strength: 0 })).toThrow(ConfigError);
  });
});

describe('Markov laws (fast-check)', () => {
  const arbTokens = (min: number, max: number) =>
    fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(4)), { minLength: min, maxLength: max }).map((a) => Int32Array.from(a));
  const arbSetting = (maxOrder: number) =>
    fc.record({
      order: fc.integer({ min: 0, max: maxOrder }),
      smoothing: fc.constantFrom('add-alpha' as const, 'interpolated' as const),
      strength: fc.oneof(fc.constantFrom(...ADD_ALPHA_GRID, ...INTERPOLATED_BETA_GRID), fc.double({ min: 1e-3, max: 100, noNaN: true })),
    });
  it('the probabilities of A, C, G, T sum to 1 and are positive, for any counts, context and setting', () => {
    fc.assert(
      fc.property(arbTokens(0, 120), arbTokens(1, 40), arbSetting(5), fc.nat(), (train, query, s, at) => {
        const counts = MarkovCounts.fit(train, 5);
        const p = markovDistribution(counts, query, at % query.length, s);
        expect(p.length).toBe(4);
        for (const q of p) expect(q).toBeGreaterThan(0);
        expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
      }),
    );
  });
  it('MarkovStats.bits (cached counts) equals Σ −log2 of the reference distribution', () => {
    fc.assert(
      fc.property(arbTokens(0, 150), arbTokens(2, 60), arbSetting(4), (train, region, s) => {
        const counts = MarkovCounts.fit(train, 4);
        let want = 0;
        for (let t = 1; t < region.length; t++)
          if (region[t]! < 4) want -= Math.log2(markovDistribution(counts, region, t, s)[region[t]!]!);
        expect(new MarkovStats(counts, region).bits(s)).toBeCloseTo(want, 9);
      }),
    );
  });
});

describe('selectMarkov', () => {
  it('finds the order of a periodic sequence and scores it far below 2 bits', () => {
    const period = 'ACGGTCA'; // order 1 is ambiguous (A→C and A→A, G→G and G→T); 2 letters determine the next
    const train = ids(period.repeat(200));
    const { perOrder, best } = selectMarkov(new MarkovStats(MarkovCounts.fit(train, 4), ids(period.repeat(20))));
    expect(perOrder.map((o) => o.order)).toEqual([0, 1, 2, 3, 4]);
    expect(best.order).toBeGreaterThanOrEqual(2);
    expect(best.bitsPerBase).toBeLessThan(0.1);
    expect(perOrder[0]!.addAlpha.bitsPerBase).toBeGreaterThan(1.5);
  });
});

describe('genomeModelConfig', () => {
  it('is a valid causal Reformer over 5 ids with axial embeddings covering the training length', () => {
    const c = new ReformerConfig(
      genomeModelConfig({ hidden: 16, heads: 2, feedForward: 32, layers: ['local', 'lsh'], chunk: 32, seqLen: 512, numHashes: 1 }),
    );
    expect(c.vocab_size).toBe(5);
    expect(c.axial_pos_shape).toEqual([16, 32]);
    expect(axialFactors(65536)).toEqual([256, 256]);
    expect(axialFactors(1000)).toEqual([8, 125]);
  });
  it('names the bad field', () => {
    const ok = {
      hidden: 16,
      heads: 2,
      feedForward: 32,
      layers: ['local', 'lsh'] as ('local' | 'lsh')[],
      chunk: 32,
      seqLen: 512,
      numHashes: 1,
    };
    expect(() => genomeModelConfig({ ...ok, hidden: 15 })).toThrow(/hidden/);
    expect(() => genomeModelConfig({ ...ok, chunk: 30 })).toThrow(/30 does not divide/);
  });
});
