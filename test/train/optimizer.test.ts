/** AdamW against a hand-computed step, global-norm clipping, and the state round trip. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError, FormatError, NumericalError } from '../../src/errors.js';
import { AdamW, clipGradNorm } from '../../src/train/optimizer.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });

describe('AdamW', () => {
  it('matches a hand-computed two-step example (torch.optim.AdamW semantics)', () => {
    // lr 0.1, β1 0.9, β2 0.999, ε 1e-8, λ 0.01, no clipping
    const opt = new AdamW(f64, 2, { weightDecay: 0.01, maxGradNorm: 0 });
    const p = Float64Array.from([1, -2]);
    const g = Float64Array.from([0.5, -1]);
    opt.update(p, g, 0.1);
    // step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², update = g/(|g| + ε) = sign(g)·(1 − ε/|g|)
    // p = p(1 − 0.001) − 0.1·sign(g)·|g|/(|g| + ε)
    const want1 = [1 * 0.999 - (0.1 * 0.5) / (0.5 + 1e-8), -2 * 0.999 + (0.1 * 1) / (1 + 1e-8)];
    expect(p[0]).toBeCloseTo(want1[0]!, 14);
    expect(p[1]).toBeCloseTo(want1[1]!, 14);
    expect(Array.from(opt.m)).toEqual([0.05, -0.1].map((x) => expect.closeTo(x, 15)));
    // step 2 with g' = (−0.5, 2): m = 0.9m + 0.1g', v = 0.999v + 0.001g'²
    g.set([-0.5, 2]);
    opt.update(p, g, 0.1);
    const m = [0.9 * 0.05 + 0.1 * -0.5, 0.9 * -0.1 + 0.1 * 2];
    const v = [0.999 * 0.00025 + 0.001 * 0.25, 0.999 * 0.001 + 0.001 * 4];
    const bc1 = 1 - 0.9 ** 2;
    const bc2 = 1 - 0.999 ** 2;
    const want2 = want1.map((w, i) => w * (1 - 0.1 * 0.01) - (0.1 / bc1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + 1e-8)));
    expect(p[0]).toBeCloseTo(want2[0]!, 13);
    expect(p[1]).toBeCloseTo(want2[1]!, 13);
    expect(opt.step).toBe(2);
  });

  it('saves and restores its moments and step exactly', () => {
    const a = new AdamW(f64, 3);
    const p = Float64Array.from([1, 2, 3]);
    a.update(p, Float64Array.from([0.1, -0.2, 0.3]), 1e-2);
    const b = new AdamW(f64, 3);
    b.loadBytes(a.toBytes());
    expect(b.step).toBe(1);
    expect(Array.from(b.m)).toEqual(Array.from(a.m));
    expect(Array.from(b.v)).toEqual(Array.from(a.v));
    const p2 = p.slice();
    a.update(p, Float64Array.from([1, 1, 1]), 1e-2);
    b.update(p2, Float64Array.from([1, 1, 1]), 1e-2);
    expect(Array.from(p2)).toEqual(Array.from(p));
    expect(() => new AdamW(f64, 4).loadBytes(a.toBytes())).toThrow(FormatError);
    expect(() => new AdamW(f64, 4).loadBytes(a.toBytes())).toThrow(/shape \[3\], expected \[4\]/);
  });

  it('update refuses a NaN, infinite or negative lr with ConfigError("lr"), before clipping: parameters, gradient and state unchanged', () => {
    const opt = new AdamW(f64, 3);
    const p = Float64Array.from([1, 2, 3]);
    opt.update(p, Float64Array.from([0.1, -0.2, 0.3]), 1e-2);
    const state = opt.toBytes();
    const params = Array.from(p);
    for (const lr of [NaN, Infinity, -Infinity, -1e-3, '0.1' as unknown as number]) {
      const g = Float64Array.from([30, -40, 0]); // norm 50: clipping would scale it
      let err: unknown;
      try {
        opt.update(p, g, lr);
      } catch (e) {
        err = e;
      }
      expect(err, String(lr)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe('lr');
      expect((err as Error).message).toMatch(
        /^lr: AdamW\.update needs a finite learning rate ≥ 0, got .+; the parameters and the optimizer state were not changed$/,
      );
      expect((err as Error).message).toContain(`got ${typeof lr === 'number' ? String(lr) : 'string "0.1"'}`);
      expect(Array.from(p)).toEqual(params);
      expect(Array.from(g)).toEqual([30, -40, 0]);
      expect(opt.toBytes()).toEqual(state);
      expect(opt.step).toBe(1);
    }
    opt.update(p, Float64Array.from([0.1, -0.2, 0.3]), 0); // lr 0 is allowed
    expect(opt.step).toBe(2);
  });

  it('rejects invalid hyper-parameters with the field name', () => {
    expect(() => new AdamW(f64, 2, { beta1: 1 })).toThrow(ConfigError);
    expect(() => new AdamW(f64, 2, { beta2: -0.1 })).toThrow(/beta2: must be in \[0, 1\)/);
    expect(() => new AdamW(f64, 2, { eps: 0 })).toThrow(/eps/);
  });

  it('rejects an unknown option key (a typo, an option of Adafactor) naming it and listing the valid options', () => {
    const options = /\(its options: beta1, beta2, eps, weightDecay, maxGradNorm\)$/;
    for (const [o, key] of [
      [{ betas: [0.9, 0.99] }, 'betas'],
      [{ beta1: 0.9, weight_decay: 0 }, 'weight_decay'],
      [{ clipThreshold: 1 }, 'clipThreshold'],
      [{ lr: undefined }, 'lr'],
    ] as const) {
      let err: unknown;
      try {
        new AdamW(f64, 2, o as never);
      } catch (e) {
        err = e;
      }
      expect(err, key).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(new RegExp(`^optimizer: "${key}" is not an option of AdamW `));
      expect((err as Error).message).toMatch(options);
    }
    expect(() => new AdamW(f64, 2, null as never)).toThrow(
      /^optimizer: the options of AdamW must be an object such as \{ beta1: … \}, got null$/,
    );
    expect(() => new AdamW(f64, 2, [0.9] as never)).toThrow(/must be an object .*, got an array$/);
    expect(new AdamW(f64, 2, { beta1: undefined }).config.beta1).toBe(0.9); // a known key left undefined takes its default
  });
});

describe('clipGradNorm', () => {
  it('scales a gradient above the threshold to norm maxNorm and reports the original norm', () => {
    const g = Float64Array.from([3, 4]); // norm 5
    const r = clipGradNorm(f64, g, 2, 1);
    expect(r.gradNorm).toBe(5);
    expect(r.clipCoef).toBeCloseTo(1 / (5 + 1e-6), 15);
    expect(Math.hypot(g[0]!, g[1]!)).toBeCloseTo(1, 6);
    expect(g[0]! / g[1]!).toBeCloseTo(0.75, 14); // direction kept
  });

  it('leaves a gradient below the threshold (or with clipping off) unchanged', () => {
    const g = Float64Array.from([0.3, 0.4]);
    expect(clipGradNorm(f64, g, 2, 1).clipCoef).toBe(1);
    expect(Array.from(g)).toEqual([0.3, 0.4]);
    const h = Float64Array.from([30, 40]);
    expect(clipGradNorm(f64, h, 2, 0).gradNorm).toBe(50);
    expect(Array.from(h)).toEqual([30, 40]);
  });

  it('throws NumericalError for a NaN or infinite gradient', () => {
    expect(() => clipGradNorm(f64, Float64Array.from([1, NaN]), 2, 1)).toThrow(NumericalError);
    expect(() => clipGradNorm(f64, Float64Array.from([Infinity, 0]), 2, 1)).toThrow(/gradient norm is Infinity/);
  });
});
