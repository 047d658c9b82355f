/**
 * Adafactor examples: a hand-computed first step, the tensor layout it accepts, hyper-parameters out of
 * range (ConfigError naming HF's field and the range), and damaged or mismatched state (FormatError naming
 * the tensor, nothing changed). The laws are in spec/train/adafactor.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError, FormatError, NumericalError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { Adafactor, type AdafactorOptions } from '../../src/train/adafactor.js';
import { AdamW } from '../../src/train/optimizer.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });

/** A matrix [2, 3] and a vector [2]: both code paths. */
const LAYOUT = [
  { name: 'w', offset: 0, size: 6, shape: [2, 3] },
  { name: 'b', offset: 6, size: 2, shape: [2] },
];

function trained(options: AdafactorOptions = {}, be = f64): { opt: Adafactor; params: Float64Array | Float32Array } {
  const opt = new Adafactor(be, LAYOUT, options);
  const params = be.floats(8);
  params.set([0.5, -1, 2, 0.25, 1, -0.5, 0.1, -0.2]);
  const grads = be.floats(8);
  for (let t = 0; t < 3; t++) {
    grads.set([0.1, -0.2, 0.3, 0.05, 0, -0.1, 0.4, 0.2].map((x) => x * (t + 1)));
    opt.update(params, grads, 0.05);
  }
  return { opt, params };
}

/** `bytes` with one tensor replaced (or removed, or added) and/or metadata changed. */
function edit(
  bytes: Uint8Array,
  change: { tensor?: string; data?: number[] | null; shape?: number[]; metadata?: Record<string, string> },
): Uint8Array {
  const f = parseSafetensors(bytes);
  const tensors: TensorToWrite[] = f.names().flatMap((name) => {
    if (name !== change.tensor) return [{ name, shape: [...f.entry(name).shape], data: f.float64(name) }];
    if (change.data === null) return [];
    return [{ name, shape: change.shape ?? [...f.entry(name).shape], data: Float64Array.from(change.data ?? f.float64(name)) }];
  });
  if (change.tensor && !f.has(change.tensor) && change.data)
    tensors.push({ name: change.tensor, shape: change.shape ?? [change.data.length], data: Float64Array.from(change.data) });
  return serializeSafetensors(tensors, { ...f.metadata, ...change.metadata });
}

describe('Adafactor', () => {
  it('first step by hand: factored matrix and unfactored vector (β2_1 = 0, external lr, RMS scaling, clipping)', () => {
    const opt = new Adafactor(f64, LAYOUT, { maxGradNorm: 0 });
    const p = Float64Array.from([0.5, -1, 2, 0.25, 1, -0.5, 0.1, -0.2]);
    const g = Float64Array.from([0.1, -0.2, 0.3, 0.05, 0, -0.1, 0.4, 0.2]);
    opt.update(p, g, 0.05);
    const eps1 = 1e-30;
    // matrix: r_i = mean_j(g² + ε1), c_j = mean_i(g² + ε1), V̂ = (r/mean r) ⊗ c
    const G = [
      [0.1, -0.2, 0.3],
      [0.05, 0, -0.1],
    ];
    const r = G.map((row) => row.reduce((a, x) => a + x * x + eps1, 0) / 3);
    const c = [0, 1, 2].map((j) => (G[0]![j]! ** 2 + G[1]![j]! ** 2 + 2 * eps1) / 2);
    const rMean = (r[0]! + r[1]!) / 2;
    const D = G.flatMap((row, i) => row.map((x, j) => x / Math.sqrt((r[i]! / rMean) * c[j]!)));
    const rmsD = Math.sqrt(D.reduce((a, x) => a + x * x, 0) / 6);
    const rmsP = Math.sqrt([0.5, -1, 2, 0.25, 1, -0.5].reduce((a, x) => a + x * x, 0) / 6);
    const w0 = [0.5, -1, 2, 0.25, 1, -0.5];
    const want = w0.map((x, k) => x - (0.05 * rmsP * D[k]!) / Math.max(1, rmsD));
    for (let k = 0; k < 6; k++) expect(p[k]).toBeCloseTo(want[k]!, 14);
    // vector at t = 1: v = g² + ε1, Δ = g/|g| = sign(g), RMS(Δ) = 1: no clipping; α = 0.05·max(1e-3, RMS(b))
    const rmsB = Math.sqrt((0.1 ** 2 + 0.2 ** 2) / 2);
    expect(p[6]).toBeCloseTo(0.1 - 0.05 * rmsB, 15);
    expect(p[7]).toBeCloseTo(-0.2 - 0.05 * rmsB, 15);
    expect(opt.step).toBe(1);
  });

  it('relative_step ignores the external lr and reports ρ_t = min(1e-2, 1/√t) (warmup_init: min(1e-6·t, 1/√t))', () => {
    const a = new Adafactor(f64, 4, { relativeStep: true });
    const b = new Adafactor(f64, 4, { relativeStep: true });
    const pa = Float64Array.from([1, 2, 3, 4]);
    const pb = pa.slice();
    expect(a.update(pa, Float64Array.from([1, -1, 2, 0]), 0.5).lr).toBe(1e-2);
    expect(b.update(pb, Float64Array.from([1, -1, 2, 0]), 1e-9).lr).toBe(1e-2);
    expect(Array.from(pb)).toEqual(Array.from(pa));
    const w = new Adafactor(f64, 4, { relativeStep: true, warmupInit: true });
    expect(w.update(pa, Float64Array.from([1, 1, 1, 1]), 1).lr).toBe(1e-6);
    expect(w.update(pa, Float64Array.from([1, 1, 1, 1]), 1).lr).toBe(2e-6);
    expect(new Adafactor(f64, 4).update(pa, Float64Array.from([1, 1, 1, 1]), 0.3).lr).toBeUndefined();
  });

  it('a parameter count is one unfactored tensor "params"; a layout must tile the buffer in order', () => {
    const opt = new Adafactor(f64, 5);
    opt.update(Float64Array.from([1, 2, 3, 4, 5]), Float64Array.from([1, 1, 1, 1, 1]), 0.1);
    expect(parseSafetensors(opt.toBytes()).names()).toEqual(['params.v']);
    expect(
      parseSafetensors(trained({ beta1: 0.9 }).opt.toBytes())
        .names()
        .sort(),
    ).toEqual(['b.m', 'b.v', 'w.col', 'w.m', 'w.row']);
    const bad = (layout: { name?: string; offset: number; size: number; shape: number[] }[], re: RegExp): void => {
      expect(() => new Adafactor(f64, layout)).toThrow(ConfigError);
      expect(() => new Adafactor(f64, layout)).toThrow(re);
    };
    bad([], /tensors: Adafactor needs at least one parameter tensor/);
    bad([{ name: 'w', offset: 0, size: 5, shape: [2, 3] }], /w: size 5 is not the product 6/);
    bad(
      [
        { name: 'w', offset: 0, size: 6, shape: [2, 3] },
        { name: 'b', offset: 7, size: 2, shape: [2] },
      ],
      /b: offset 7, expected 6; .* without gaps or overlaps/,
    );
    bad([{ name: 'w', offset: 0, size: 0, shape: [0] }], /w: shape \[0\] must hold positive integers/);
    bad(
      [
        { name: 'w', offset: 0, size: 2, shape: [2] },
        { name: 'w', offset: 2, size: 2, shape: [2] },
      ],
      /two tensors are named "w"/,
    );
    expect(() => new Adafactor(f64, 0)).toThrow(ConfigError);
    expect(() => opt.update(new Float64Array(4), new Float64Array(4), 0.1)).toThrow(/built for 5 parameters/);
  });

  it('a NaN or infinite gradient is a NumericalError and changes nothing', () => {
    const { opt, params } = trained();
    const before = opt.toBytes();
    const p = Array.from(params);
    expect(() => opt.update(params, Float64Array.from([1, NaN, 0, 0, 0, 0, 0, 0]), 0.1)).toThrow(NumericalError);
    expect(Array.from(params)).toEqual(p);
    expect(opt.toBytes()).toEqual(before);
  });

  it('update refuses a NaN, infinite or negative lr with ConfigError("lr"), before clipping: parameters, gradient and state unchanged', () => {
    for (const options of [{}, { relativeStep: true, beta1: 0.9 }] as AdafactorOptions[]) {
      const { opt, params } = trained(options);
      const before = opt.toBytes();
      const p = Array.from(params);
      for (const lr of [NaN, Infinity, -Infinity, -0.05]) {
        const g = Float64Array.from([30, -40, 0, 0, 0, 0, 1, 1]); // norm > 1: clipping would scale it
        let err: unknown;
        try {
          opt.update(params, g, lr);
        } catch (e) {
          err = e;
        }
        expect(err, `${lr} ${JSON.stringify(options)}`).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).field).toBe('lr');
        expect((err as Error).message).toBe(
          `lr: Adafactor.update needs a finite learning rate ≥ 0, got ${lr}; the parameters and the optimizer state were not changed`,
        );
        expect(Array.from(params)).toEqual(p);
        expect(Array.from(g)).toEqual([30, -40, 0, 0, 0, 0, 1, 1]);
        expect(opt.toBytes()).toEqual(before);
        expect(opt.step).toBe(3);
      }
    }
  });

  it("hyper-parameters out of range: ConfigError naming HF's field and the allowed range", () => {
    const cases: [AdafactorOptions, RegExp][] = [
      [{ eps: [-1e-30, 1e-3] }, /^eps: eps1 \(added to the squared gradient\) must be ≥ 0 and finite, got -1e-30$/],
      [{ eps: [1e-30, NaN] }, /^eps: eps2 \(floor of the parameter RMS\) must be ≥ 0 and finite, got NaN$/],
      [{ eps: [1e-30] as unknown as [number, number] }, /^eps: must be a pair \(eps1, eps2\)/],
      [{ clipThreshold: 0 }, /^clip_threshold: must be a positive finite number, got 0$/],
      [{ decayRate: 0.5 }, /^decay_rate: must be ≤ 0 and finite \(β2_t = 1 − t\^decay_rate must lie in \[0, 1\)\), got 0.5$/],
      [{ beta1: 1 }, /^beta1: must be null \(no first moment\) or in \[0, 1\), got 1$/],
      [{ weightDecay: -0.1 }, /^weight_decay: must be ≥ 0 and finite, got -0.1$/],
      [{ scaleParameter: 'yes' as unknown as boolean }, /^scale_parameter: must be true or false, got "yes"$/],
      [{ warmupInit: true }, /^warmup_init: true requires relative_step: true/],
      [{ maxGradNorm: -1 }, /^max_grad_norm: must be ≥ 0/],
    ];
    for (const [o, re] of cases) {
      let err: unknown;
      try {
        new Adafactor(f64, 4, o);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(o)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
    }
    // unknown keys (HF's snake_case spelling, an AdamW option, a typo) name the key and list the valid options
    for (const key of ['clip_threshold', 'beta2', 'lr']) {
      expect(() => new Adafactor(f64, 4, { [key]: 1 } as AdafactorOptions), key).toThrow(ConfigError);
      expect(() => new Adafactor(f64, 4, { [key]: 1 } as AdafactorOptions), key).toThrow(
        `optimizer: "${key}" is not an option of Adafactor (its options: eps, clipThreshold, decayRate, beta1, weightDecay, scaleParameter, relativeStep, warmupInit, maxGradNorm)`,
      );
    }
    expect(() => new Adafactor(f64, 4, 'adafactor' as never)).toThrow(
      /^optimizer: the options of Adafactor must be an object such as \{ eps: … \}, got string "adafactor"$/,
    );
    // HF's defaults (relative_step false here: the trainer's schedule gives lr)
    expect(new Adafactor(f64, 4).config).toEqual({
      eps: [1e-30, 1e-3],
      clipThreshold: 1,
      decayRate: -0.8,
      beta1: null,
      weightDecay: 0,
      scaleParameter: true,
      relativeStep: false,
      warmupInit: false,
      maxGradNorm: 1,
    });
  });
});

describe('Adafactor state files', () => {
  for (const [label, be] of [
    ['f64', f64],
    ['f32', f32],
  ] as const) {
    it(`${label}: round trip at the backend's precision, metadata with the hyper-parameters`, () => {
      const { opt } = trained({ beta1: 0.5, weightDecay: 0.01 }, be);
      const f = parseSafetensors(opt.toBytes());
      expect(f.entry('w.row').dtype).toBe(label === 'f64' ? 'F64' : 'F32');
      expect(f.entry('w.row').shape).toEqual([2]);
      expect(f.entry('w.col').shape).toEqual([3]);
      expect(f.entry('w.m').shape).toEqual([2, 3]);
      expect(f.entry('b.v').shape).toEqual([2]);
      expect(f.metadata).toMatchObject({
        format: 'reformer-ts.adafactor',
        step: '3',
        beta1: '0.5',
        weight_decay: '0.01',
        decay_rate: '-0.8',
        eps1: '1e-30',
        eps2: '0.001',
      });
      const b = new Adafactor(be, LAYOUT, { beta1: 0.5, weightDecay: 0.01 });
      b.loadBytes(opt.toBytes());
      expect(b.toBytes()).toEqual(opt.toBytes());
    });
  }

  /** Loads `bytes` into a trained optimizer: FormatError matching `re`, and the state left exactly as it was. */
  function refused(bytes: Uint8Array, re: RegExp, options: AdafactorOptions = {}): void {
    const { opt } = trained(options);
    const before = opt.toBytes();
    let err: unknown;
    try {
      opt.loadBytes(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toMatch(re);
    expect(opt.toBytes()).toEqual(before);
    expect(opt.step).toBe(3);
  }

  it('damaged state: NaN, infinity, a negative second moment, in any tensor → FormatError naming it, nothing changed', () => {
    const good = new Adafactor(f64, LAYOUT, { beta1: 0.9 });
    const p = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    good.update(p, Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 0.1);
    const bytes = good.toBytes();
    refused(
      edit(bytes, { tensor: 'w.col', data: [1, NaN, 1] }),
      /tensor "w\.col"\[1\] = NaN \(must be finite and ≥ 0: a running mean of squares\); the file is damaged/,
      { beta1: 0.9 },
    );
    refused(edit(bytes, { tensor: 'b.v', data: [1, -1e-9] }), /tensor "b\.v"\[1\] = -1e-9 \(must be finite and ≥ 0/, { beta1: 0.9 });
    refused(edit(bytes, { tensor: 'w.row', data: [Infinity, 1] }), /tensor "w\.row"\[0\] = Infinity/, { beta1: 0.9 });
    refused(edit(bytes, { tensor: 'w.m', data: [0, 0, 0, 0, 0, -Infinity] }), /tensor "w\.m"\[5\] = -Infinity \(must be finite\)/, {
      beta1: 0.9,
    });
    // a negative first moment is fine
    const neg = new Adafactor(f64, LAYOUT, { beta1: 0.9 });
    neg.loadBytes(edit(bytes, { tensor: 'w.m', data: [-1, -1, -1, -1, -1, -1] }));
  });

  it('mismatched state: another model, other hyper-parameters, the other optimizer, a bad step → FormatError, nothing changed', () => {
    const bytes = trained().opt.toBytes();
    refused(
      edit(bytes, { tensor: 'w.col', data: [1, 1, 1, 1], shape: [4] }),
      /tensor "w\.col" has shape \[4\], expected \[3\] \(was it saved for another model\?\)/,
    );
    refused(edit(bytes, { tensor: 'b.v', data: null }), /tensor "b\.v" is missing, expected \[2\]/);
    refused(
      edit(bytes, { tensor: 'b.m', data: [0, 0] }),
      /unexpected tensor "b\.m" \(this Adafactor has no first moment and expects 3 tensors/,
    );
    refused(bytes, /tensor "w\.m" is missing/, { beta1: 0.9 }); // saved without a first moment, loaded with one
    const other = new Adafactor(f64, [
      { name: 'w', offset: 0, size: 6, shape: [6] },
      { name: 'b', offset: 6, size: 2, shape: [2] },
    ]);
    other.update(new Float64Array(8).fill(1), new Float64Array(8).fill(1), 0.1);
    refused(other.toBytes(), /unexpected tensor "w\.v"/); // the same sizes, not factored
    const adamw = new AdamW(f64, 8);
    adamw.update(new Float64Array(8).fill(1), new Float64Array(8).fill(1), 0.1);
    refused(
      adamw.toBytes(),
      /optimizer state: AdamW's state, expected "reformer-ts\.adafactor" \(Adafactor\); a run keeps the optimizer it started with/,
    );
    expect(() => adamw.loadBytes(bytes)).toThrow(/optimizer state: Adafactor's state, expected "reformer-ts\.adamw" \(AdamW\)/);
    refused(edit(bytes, { metadata: { step: '-1' } }), /step "-1" is not a non-negative integer/);
    refused(edit(bytes, { metadata: { format: 'other' } }), /metadata format "other", expected "reformer-ts\.adafactor"/);
    refused(new Uint8Array([1, 2, 3]), /./);
  });
});
