/** Shape of the learning-rate schedules: linear warm-up, then cosine / inverse-sqrt decay to a floor. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { learningRate, validateSchedule, type LrSchedule } from '../../src/train/schedule.js';

const cosineArb = fc
  .record({
    peakLr: fc.double({ min: 1e-5, max: 1, noNaN: true }),
    warmupSteps: fc.nat(50),
    extra: fc.integer({ min: 1, max: 500 }),
    floorRatio: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(
    ({ peakLr, warmupSteps, extra, floorRatio }): LrSchedule => ({
      kind: 'cosine',
      peakLr,
      warmupSteps,
      totalSteps: warmupSteps + extra,
      minLr: peakLr * floorRatio,
    }),
  );

describe('learningRate', () => {
  it('warm-up rises linearly to the peak, then cosine decays monotonically to the floor and stays there', () => {
    fc.assert(
      fc.property(cosineArb, (s) => {
        validateSchedule(s);
        const w = s.warmupSteps;
        const t = s.totalSteps!;
        for (let k = 1; k <= w; k++) expect(learningRate(k, s)).toBeCloseTo((s.peakLr * k) / w, 12);
        if (w > 0) expect(learningRate(w, s)).toBeCloseTo(s.peakLr, 12);
        let prev = Infinity;
        for (let k = w + 1; k <= t + 5; k++) {
          const lr = learningRate(k, s);
          expect(lr).toBeLessThanOrEqual(prev + 1e-15);
          expect(lr).toBeGreaterThanOrEqual(s.minLr! - 1e-15);
          expect(lr).toBeLessThanOrEqual(s.peakLr + 1e-15);
          prev = lr;
        }
        expect(learningRate(t, s)).toBeCloseTo(s.minLr!, 12);
        expect(learningRate(t + 100, s)).toBeCloseTo(s.minLr!, 12);
      }),
    );
  });

  it('cosine passes through the midpoint half-way through the decay', () => {
    const s: LrSchedule = { kind: 'cosine', peakLr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.2 };
    expect(learningRate(60, s)).toBeCloseTo(0.6, 12);
    expect(learningRate(1, s)).toBeCloseTo(0.1, 12);
  });

  it('inverse-sqrt is peak·sqrt(W/s) after warm-up, never below the floor', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 10_000 }), (w, k) => {
        const s: LrSchedule = { kind: 'inverse-sqrt', peakLr: 0.01, warmupSteps: w, minLr: 0.001 };
        const lr = learningRate(k, s);
        if (k <= w) expect(lr).toBeCloseTo((0.01 * k) / w, 14);
        else expect(lr).toBeCloseTo(Math.max(0.001, 0.01 * Math.sqrt(w / k)), 14);
      }),
    );
  });

  it('rejects schedules that cannot work, naming the field', () => {
    expect(() => validateSchedule({ kind: 'cosine', peakLr: 1e-3, warmupSteps: 10 })).toThrow(/steps/);
    expect(() => validateSchedule({ kind: 'cosine', peakLr: 1e-3, warmupSteps: 100, totalSteps: 50 })).toThrow(ConfigError);
    expect(() => validateSchedule({ kind: 'constant', peakLr: -1, warmupSteps: 0 })).toThrow(/lr: must be a positive/);
    expect(() => validateSchedule({ kind: 'constant', peakLr: 1, warmupSteps: 0, minLr: 2 })).toThrow(/min_lr/);
  });
});
