/**
 * Law: the WASM kernels (plain and relaxed SIMD builds) have the non-finite semantics of the f32
 * reference backend. For every float op of the Backend interface (non-finite-cases.ts, non-finite-attention.ts),
 * moderate random inputs get NaN / +Infinity / −Infinity injected at random positions of random
 * buffers (none, one or several); the per-element class of every output (finite, NaN, +Infinity,
 * −Infinity) must be the same on both backends. With no injection this also says that finite
 * inputs give finite outputs.
 *
 * The class of an IEEE sum or product of the same terms does not depend on the order of evaluation
 * (NaN if a term is NaN or +∞ and −∞ meet, else ±∞ if a term is infinite), so the f32 kernels and the
 * f64 reference loops agree exactly as long as nothing overflows: the inputs stay moderate (|x| ≤ 5).
 * No law needs a weaker "finite vs non-finite" comparison.
 *
 * LSH hashing has integer outputs: each slice's bucket digit must be equal wherever the slice of
 * rotated values holds a non-finite value (the rule of LshHashParams decides it) or where the finite
 * winner is not within f32 rounding of the runner-up (as in lsh.spec.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float, LshHashParams } from '../../src/backend/backend.js';
import { Rng } from '../../src/util/rng.js';
import { runs } from '../helpers/runs.js';
import { ATTENTION_LAWS } from './non-finite-attention.js';
import { type KernelCall, LAWS } from './non-finite-cases.js';
import { VARIANTS, floatsOf, randomFloats, ref, wasmBackend } from './util.js';

type Class = 'finite' | 'NaN' | '+Inf' | '-Inf';

function classOf(x: number): Class {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return 'finite';
}

/** One injected value: buffer (index into `inject`), element, value. */
type Injection = [number, number, number];

const special = fc.constantFrom(Number.NaN, Infinity, -Infinity);
const injection: fc.Arbitrary<Injection> = fc.tuple(fc.nat(), fc.nat(), special);
/** None, one, or several injected values. */
const injections = fc.oneof(
  fc.constant([] as Injection[]),
  injection.map((i) => [i]),
  fc.array(injection, { minLength: 2, maxLength: 6 }),
);

function inject(call: KernelCall, list: readonly Injection[]): string[] {
  const done: string[] = [];
  for (const [b, at, value] of list) {
    const name = call.inject[b % call.inject.length]!;
    const buf = call.floats[name]!;
    const i = at % buf.length;
    buf[i] = value;
    done.push(`${name}[${i}] = ${value}`);
  }
  return done;
}

/** Runs the call on `be` with copies of its buffers; returns the outputs as f64 copies. */
function execute(be: Backend, call: KernelCall): Record<string, Float64Array> {
  return be.scope(() => {
    const f: Record<string, Float> = {};
    for (const [name, a] of Object.entries(call.floats)) {
      const b = be.floats(a.length);
      b.set(a);
      f[name] = b;
    }
    const i: Record<string, Int32Array> = {};
    for (const [name, a] of Object.entries(call.ints ?? {})) {
      const b = be.ints(a.length);
      b.set(a);
      i[name] = b;
    }
    const ret = call.run(be, f, i);
    const out: Record<string, Float64Array> = {};
    for (const name of call.outputs) out[name] = Float64Array.from(f[name]!);
    if (ret !== undefined) out.return = Float64Array.of(ret);
    return out;
  });
}

function expectSameClasses(got: Record<string, Float64Array>, want: Record<string, Float64Array>, what: string): void {
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    for (let i = 0; i < w.length; i++) {
      const cw = classOf(w[i]!);
      const cg = classOf(g[i]!);
      if (cg !== cw) {
        expect.fail(`${what}: ${name}[${i}] is ${cg} (${g[i]}) on WASM, ${cw} (${w[i]}) on the reference`);
      }
    }
  }
}

// ---- LSH hashing: per-slice bucket digits

interface HashCase {
  p: LshHashParams;
  /** [numHashes·rows·factors]: compare this digit (non-finite slice, or a finite one decided beyond rounding) */
  decided: boolean[];
}

function hashCase(seed: number, list: readonly Injection[]): { c: HashCase; injected: string[] } {
  const rng = new Rng(seed);
  const rows = 1 + rng.int(9);
  const dHead = 1 + rng.int(9);
  const numHashes = 1 + rng.int(3);
  const factors = [[2], [4], [8], [6, 10], [34]][rng.int(5)]!;
  const half = factors.reduce((s, f) => s + f / 2, 0);
  const call: KernelCall = {
    floats: { x: randomFloats(rng, rows * dHead), rotations: randomFloats(rng, dHead * numHashes * half) },
    inject: ['x', 'rotations'],
    outputs: [],
    run: () => undefined,
  };
  const injected = inject(call, list);
  const x = call.floats.x!;
  const rot = call.floats.rotations!;
  const p: LshHashParams = { x, ldx: dHead, rows, dHead, rotations: rot, numHashes, factors, buckets: new Int32Array(numHashes * rows) };
  const decided: boolean[] = [];
  const width = numHashes * half;
  for (let h = 0; h < numHashes; h++) {
    for (let t = 0; t < rows; t++) {
      let start = 0;
      for (const f of factors) {
        const vals: number[] = [];
        for (let c = 0; c < f / 2; c++) {
          let acc = 0;
          for (let i = 0; i < dHead; i++) acc += x[t * dHead + i]! * rot[i * width + h * half + start + c]!;
          vals.push(acc, -acc);
        }
        if (vals.some((v) => !Number.isFinite(v))) decided.push(true);
        else {
          vals.sort((a, b) => b - a);
          decided.push(vals.length < 2 || vals[0]! - vals[1]! > 1e-5 * Math.max(1, dHead));
        }
        start += f / 2;
      }
    }
  }
  return { c: { p, decided }, injected };
}

function hashOn(be: Backend, p: LshHashParams): Int32Array {
  return be.scope(() => {
    const x = be.floats(p.x.length);
    x.set(p.x);
    const rotations = be.floats(p.rotations.length);
    rotations.set(p.rotations);
    const buckets = be.ints(p.buckets.length);
    be.lshHash({ ...p, x, rotations, buckets });
    return Int32Array.from(buckets);
  });
}

describe('non-finite values: WASM kernels == f32 reference, class by class', () => {
  for (const law of [...LAWS, ...ATTENTION_LAWS]) {
    it(law.name, () => {
      fc.assert(
        fc.property(fc.integer(), injections, (seed, list) => {
          const call = law.build(new Rng(seed));
          const injected = inject(call, list);
          const want = execute(ref, call);
          for (const variant of VARIANTS) {
            const got = execute(wasmBackend(variant), call);
            expectSameClasses(got, want, `${law.name}, ${variant}, injected [${injected.join(', ')}]`);
          }
        }),
        { numRuns: runs(law.runs) },
      );
    });
  }

  it('countNonFinite counts exactly the NaN and ±Infinity elements (vector body and tail)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70 }), fc.integer(), fc.array(injection, { maxLength: 12 }), (n, seed, list) => {
        const call: KernelCall = { floats: { x: randomFloats(new Rng(seed), n + 1) }, inject: ['x'], outputs: [], run: () => undefined };
        inject(call, list);
        const x = call.floats.x!;
        let want = 0;
        for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) want++;
        expect(ref.countNonFinite(x, n)).toBe(want);
        for (const variant of VARIANTS) {
          const be = wasmBackend(variant);
          expect(
            be.scope(() => be.countNonFinite(floatsOf(be, x), n)),
            variant,
          ).toBe(want);
        }
      }),
      { numRuns: runs(100) },
    );
  });

  it('lshHash (bucket digits of slices with non-finite rotated values follow the documented rule)', () => {
    fc.assert(
      fc.property(fc.integer(), injections, (seed, list) => {
        const { c, injected } = hashCase(seed, list);
        const { p, decided } = c;
        const want = hashOn(ref, p);
        for (const variant of VARIANTS) {
          const got = hashOn(wasmBackend(variant), p);
          let k = 0;
          for (let b = 0; b < want.length; b++) {
            let w = want[b]!;
            let g = got[b]!;
            for (const f of p.factors) {
              if (decided[k++]) {
                expect(g % f, `${variant}: bucket ${b}, factor ${f}, injected [${injected.join(', ')}]`).toBe(w % f);
              }
              w = Math.floor(w / f);
              g = Math.floor(g / f);
            }
          }
        }
      }),
      { numRuns: runs(80) },
    );
  });
});
