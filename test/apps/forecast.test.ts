/**
 * The time-series application (src/apps/forecast.ts, forecast-model.ts): CSV parsing with missing
 * days under each gap rule; the Chronos quantization round trip within half a bin (property); MASE,
 * the pinball loss and WQL on hand-computed cases; the naive and seasonal-naive baselines on a toy
 * series; path quantiles against numpy's rule; the training windows and the sampled paths of a tiny model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError, ShapeError } from '../../src/errors.js';
import {
  binCentres,
  binWidth,
  dequantize,
  maseScale,
  mase,
  meanScale,
  naiveForecast,
  parseSeriesCsv,
  pathQuantiles,
  pointQuantiles,
  quantileLoss,
  quantize,
  scoreForecast,
  seasonalNaiveForecast,
  weightedQuantileLoss,
  WQL_LEVELS,
} from '../../src/apps/forecast.js';
import {
  axialShape,
  type ForecastModelSpec,
  forecastConfig,
  sampleForecastPaths,
  ScaledWindowBatches,
} from '../../src/apps/forecast-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';

const CSV = 'date,value\n2020-01-01,1\n2020-01-03,3\r\n2020-01-04,NA\n\n2020-01-05,5\n';

describe('series CSV', () => {
  it('forward-fills, interpolates or drops missing days (absent rows and NA values)', () => {
    const f = parseSeriesCsv(CSV, 'ffill');
    expect(f.dates).toEqual(['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-04', '2020-01-05']);
    expect([...f.values]).toEqual([1, 1, 3, 3, 5]);
    expect([...f.observed]).toEqual([1, 0, 1, 0, 1]);
    expect([...parseSeriesCsv(CSV, 'linear').values]).toEqual([1, 2, 3, 4, 5]);
    const n = parseSeriesCsv(CSV, 'none');
    expect(n.dates).toEqual(['2020-01-01', '2020-01-03', '2020-01-05']);
    expect([...n.values]).toEqual([1, 3, 5]);
    expect([...n.observed]).toEqual([1, 1, 1]);
  });

  it('crosses month and leap-year boundaries on the calendar grid', () => {
    const s = parseSeriesCsv('d,v\n2020-02-28,1\n2020-03-01,4\n', 'linear');
    expect(s.dates).toEqual(['2020-02-28', '2020-02-29', '2020-03-01']);
    expect([...s.values]).toEqual([1, 2.5, 4]);
  });

  it('names the line of a bad row', () => {
    expect(() => parseSeriesCsv('d,v\n2020-01-01,1\n2020-13-01,2\n', 'none')).toThrow(/line 3: date "2020-13-01" is not an ISO date/);
    expect(() => parseSeriesCsv('d,v\n2020-01-02,1\n2020-01-01,2\n', 'none')).toThrow(
      /line 3: date 2020-01-01 does not come after 2020-01-02/,
    );
    expect(() => parseSeriesCsv('d,v\n2020-01-01,1\n2020-01-02,abc\n', 'none')).toThrow(/line 3: value "abc" is not a number/);
    expect(() => parseSeriesCsv('d,v\n2020-01-01,1,2\n', 'none')).toThrow(FormatError);
    expect(() => parseSeriesCsv('d,v\n2020-01-01,1\n', 'none')).toThrow(/1 observed value/);
    expect(() => parseSeriesCsv(CSV, 'zero' as never)).toThrow(ConfigError);
  });
});

describe('Chronos quantization', () => {
  it('round-trips every in-range value within half a bin, and clips outside', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4096 }),
        fc.double({ min: -20, max: 20, noNaN: true }),
        fc.double({ min: 1e-3, max: 40, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }),
        (bins, low, span, scale, us) => {
          const q = { bins, low, high: low + span };
          const xs = us.map((u) => (low + u * span) * scale);
          const back = dequantize(quantize(xs, scale, q), scale, q);
          const half = (binWidth(q) * scale) / 2;
          for (const [t, x] of xs.entries()) expect(Math.abs(back[t]! - x)).toBeLessThanOrEqual(half * (1 + 1e-9) + 1e-12 * Math.abs(x));
          const out = quantize([(low - 1) * scale, (low + span + 1) * scale], scale, q);
          expect([...out]).toEqual([0, bins - 1]);
        },
      ),
    );
  });

  it('uses bin centres low + j(high − low)/(B − 1), ties to the upper bin', () => {
    const q = { bins: 5, low: -1, high: 1 };
    expect([...binCentres(q)]).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect([...quantize([-0.25, 0.2, 0.26, 0.75], 1, q)]).toEqual([2, 2, 3, 4]);
    expect([...dequantize([0, 4], 10, q)]).toEqual([-10, 10]);
    expect(() => dequantize([5], 1, q)).toThrow(ShapeError);
    expect(() => quantize([1], 0, q)).toThrow(/scale/);
    expect(() => quantize([1], 1, { bins: 1, low: 0, high: 1 })).toThrow(/bins/);
  });

  it("takes Chronos' mean scale mean|x|, 1 for an all-zero context", () => {
    expect(meanScale([-2, 4, 0, 6])).toBe(3);
    expect(meanScale([9, -2, 4, 100], 1, 3)).toBe(3);
    expect(meanScale([0, 0])).toBe(1);
    expect(() => meanScale([1], 0, 2)).toThrow(ShapeError);
  });
});

describe('forecast metrics', () => {
  it('MASE: the MAE over the in-sample seasonal-naive MAE', () => {
    expect(maseScale([1, 2, 4, 7], 1)).toBe(2); // |2−1|, |4−2|, |7−4|
    expect(maseScale([1, 2, 4, 7, 5], 2)).toBe(3); // |4−1|, |7−2|, |5−4|
    expect(mase([8, 10], [7, 7], 2)).toBe(1); // (1 + 3)/2 / 2
    expect(() => maseScale([1, 2], 2)).toThrow(/more than the season 2/);
    expect(() => maseScale([3, 3, 3], 1)).toThrow(/is 0/);
  });

  it('pinball loss and WQL over three levels, by hand', () => {
    expect(quantileLoss(8, 10, 0.1)).toBeCloseTo(0.2, 15);
    expect(quantileLoss(12, 10, 0.9)).toBeCloseTo(0.2, 15);
    // truth [10, 20]; Σ|y| = 30; per level 2·ΣQL/30: 0.1 → 0.8/30, 0.5 → 2/30, 0.9 → 1.4/30
    const w = weightedQuantileLoss(
      [10, 20],
      [
        [8, 18],
        [10, 22],
        [12, 25],
      ],
      [0.1, 0.5, 0.9],
    );
    expect(w).toBeCloseTo(4.2 / 90, 14);
    expect(() => weightedQuantileLoss([10], [[1]], [0.1, 0.5])).toThrow(ShapeError);
    expect(() => weightedQuantileLoss([0, 0], [[1, 1]], [0.5])).toThrow(/Σ\|y\|/);
  });

  it('scores a point forecast as equal quantiles: WQL = Σ|y − ŷ| / Σ|y| for symmetric levels', () => {
    const y = [10, 20, 30];
    const p = [12, 18, 33];
    const s = scoreForecast(y, pointQuantiles(p), 2);
    expect(s.wql).toBeCloseTo(7 / 60, 14);
    expect(s.mae).toBeCloseTo(7 / 3, 14);
    expect(s.mase).toBeCloseTo(7 / 6, 14);
    // only observed steps count
    const o = scoreForecast(y, pointQuantiles(p), 2, [1, 0, 1]);
    expect(o.mae).toBeCloseTo(2.5, 14);
    expect(o.wql).toBeCloseTo(5 / 40, 14);
  });

  it('naive and seasonal-naive forecasts of a toy series', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([...naiveForecast(x, 3)]).toEqual([10, 10, 10]);
    expect([...seasonalNaiveForecast(x, 5, 3)]).toEqual([8, 9, 10, 8, 9]);
    expect([...seasonalNaiveForecast(x, 2, 1)]).toEqual([10, 10]);
    // a pure seasonal series is forecast exactly by seasonal naive: MASE 0
    const season = Array.from({ length: 40 }, (_, t) => [3, 1, 4, 1][t % 4]!);
    const sn = seasonalNaiveForecast(season.slice(0, 32), 8, 4);
    expect([...sn]).toEqual(season.slice(32));
    expect(() => seasonalNaiveForecast([1, 2], 2, 3)).toThrow(/season 3/);
  });

  it("path quantiles interpolate order statistics as numpy's np.quantile", () => {
    const paths = [
      [5, 0],
      [1, 0],
      [3, 0],
      [2, 0],
      [4, 10],
    ];
    const [q10, q50, q90] = pathQuantiles(paths, [0.1, 0.5, 0.9]);
    expect(q10![0]).toBeCloseTo(1.4, 14);
    expect(q50![0]).toBe(3);
    expect(q90![0]).toBeCloseTo(4.6, 14);
    expect(q90![1]).toBeCloseTo(6, 14);
    expect(pathQuantiles(paths).length).toBe(WQL_LEVELS.length);
    expect(() => pathQuantiles([[1], [1, 2]])).toThrow(ShapeError);
  });
});

const TINY: ForecastModelSpec = {
  window: 32,
  context: 16,
  quantizer: { bins: 16, low: 0.5, high: 1.5 },
  hidden: 8,
  heads: 2,
  feedForward: 8,
  layers: ['local', 'lsh'],
  chunk: 8,
  hashes: 1,
};

describe('forecast model', () => {
  it('has an HF config whose axial shape multiplies to the window', () => {
    expect(axialShape(1024)).toEqual([32, 32]);
    expect(axialShape(2048)).toEqual([32, 64]);
    const c = new ReformerConfig(forecastConfig(TINY));
    expect(c.axial_pos_shape).toEqual([4, 8]);
    expect(c.vocab_size).toBe(16);
    expect(() => forecastConfig({ ...TINY, chunk: 5 })).toThrow(/chunk_length.*5 does not divide/);
    expect(() => forecastConfig({ ...TINY, context: 32 })).toThrow(/context/);
  });

  it('draws windows scaled by their first C values, resumably', () => {
    const values = Float64Array.from({ length: 100 }, (_, t) => 10 + Math.sin(t / 3) + t / 50);
    const a = new ScaledWindowBatches(values, TINY, { batch: 3, seed: 4 });
    const state = a.state();
    const b1 = a.next();
    expect(b1.inputIds.length).toBe(3 * 32);
    // every row equals the tokens of some window start
    const starts = Array.from({ length: 100 - 32 + 1 }, (_, o) => [...a.windowTokens(o)].join());
    for (let r = 0; r < 3; r++) expect(starts).toContain([...b1.inputIds.subarray(r * 32, (r + 1) * 32)].join());
    const o = 5;
    expect([...a.windowTokens(o)]).toEqual([...quantize(values.subarray(o, o + 32), meanScale(values, o, o + 16), TINY.quantizer)]);
    const b2 = a.next();
    a.restore(state);
    expect(a.next().inputIds).toEqual(b1.inputIds);
    expect(a.next().inputIds).toEqual(b2.inputIds);
    expect(() => new ScaledWindowBatches(values.subarray(0, 20), TINY, { batch: 1, seed: 1 })).toThrow(/window/);
  });

  it('samples N finite paths of H steps in the series units, seeded', () => {
    const lm = new ReformerModelWithLMHead(new ReferenceBackend(), new ReformerConfig(forecastConfig(TINY)), { seed: 2 });
    const history = Float64Array.from({ length: 40 }, (_, t) => 100 + t);
    const run = () => sampleForecastPaths(lm, history, TINY, { horizon: 10, samples: 3, seed: 7 });
    const r = run();
    expect(r.scale).toBeCloseTo(meanScale(history, 24, 40), 12);
    expect(r.paths.length).toBe(3);
    const centres = new Set([...binCentres(TINY.quantizer)].map((c) => c * r.scale));
    for (const p of r.paths) {
      expect(p.length).toBe(10);
      for (const v of p) expect(centres.has(v)).toBe(true);
    }
    expect(() => sampleForecastPaths(lm, history, TINY, { horizon: 17, samples: 1, seed: 1 })).toThrow(/exceeds the window 32/);
    expect(() => sampleForecastPaths(lm, history.subarray(0, 8), TINY, { horizon: 4, samples: 1, seed: 1 })).toThrow(/context/);
  });
});
