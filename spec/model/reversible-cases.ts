/**
 * The measurements behind the reversible laws (spec/model/reversible.spec.ts, and the ratio tables of
 * reversible-ratios.spec.ts): each case is run on the f32 and f64 reference backends with the SAME
 * values (parameters, inputs and LSH rotations drawn once in f32 and copied into f64), so the f64
 * store-activations run is the float64 truth of the f32 computation, and the errors of the f32 paths
 * are rounding errors only.
 *
 * Gradient laws, per segment (a parameter tensor, an input gradient), with truth = f64 store:
 *   es  = |store32 − truth|       the plain f32 path's error
 *   er  = |rev32 − truth|         the reversible f32 path's error
 *   d64 = |rev64 − truth|         the reversible f64 path's difference
 *   f32 law: er  ≤ k·(es + 2^29·d64 + u32·scale)
 *     the reversible path's f32 error is the stored path's plus the effect of the f32 reconstruction
 *     error, and that effect is measured in f64 (d64, 2^29 times smaller to first order: a
 *     reconstruction error of ~u·|Y| moving the recomputed activations);
 *   f64 law: d64 ≤ k·(2^-29·(es + er) + u64·scale)
 *     both f64 paths err by 2^-29 times what the same f32 paths err by (to first order).
 * Each law alone could pass a bug the other measures (a bug shared by both precisions inflates er;
 * an f32-only bug inflates er only): together they cannot, since a bug's error does not scale with u.
 *
 * Inverse laws, per stream (X1, X2), against the exact inputs of each precision:
 *   e32, e64  = |rebuilt − input| in f32, f64;  fwd32 = |Y32 − Y64| (the f32 forward's error)
 *   f32 law: e32 ≤ k·(fwd32 + u32·scale)         (rebuilding rounds like the forward it undoes)
 *   f64 law: e64 ≤ k·(2^-29·e32 + u64·scale)
 * with scale = max(|X|, |Y|): subtracting F(X2) from Y1 cancels, so rounding follows the size of
 * the residual stream, not of X.
 */
import fc from 'fast-check';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { rotationShape } from '../../src/attention/hashing.js';
import { resolveNumBuckets } from '../../src/config/buckets.js';
import type { FeedForwardSpec, FeedForwardWeights } from '../../src/nn/feed-forward.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import {
  reversibleBackward,
  reversibleForward,
  reversibleInverse,
  type ReversibleBlock,
  type ReversibleRecord,
  type SublayerCall,
} from '../../src/model/reversible.js';
import { FeedForwardSublayer } from '../../src/model/sublayers.js';
import { Rng } from '../../src/util/rng.js';
import { type MeasuredError, type Segment, U32, U64, U64_PER_U32, maxAbs, maxAbsDiff, whole } from '../helpers/error-bounds.js';
import type { TinyCase } from './arbitraries.js';

export const f64 = new ReferenceBackend({ dtype: 'f64' });
export const f32 = new ReferenceBackend({ dtype: 'f32' });

/** The rows of the two gradient laws of one case. */
export interface GradientLawRows {
  readonly f32: MeasuredError[];
  readonly f64: MeasuredError[];
}

/** The rows of the two inverse laws of one case. */
export interface InverseLawRows {
  readonly f32: MeasuredError[];
  readonly f64: MeasuredError[];
}

/** Gradients of one run: a flat buffer with its segments, plus named input gradients. */
interface GradRun {
  readonly grads: ArrayLike<number>;
  readonly segments: readonly Segment[];
  readonly inputs: ReadonlyArray<readonly [string, ArrayLike<number>]>;
}

/** The laws' rows from the four runs truth (f64 store), rev64, store32, rev32. */
export function gradientRows(truth: GradRun, rev64: GradRun, store32: GradRun, rev32: GradRun): GradientLawRows {
  const rows: GradientLawRows = { f32: [], f64: [] };
  const add = (
    what: string,
    t: ArrayLike<number>,
    r64: ArrayLike<number>,
    s32: ArrayLike<number>,
    r32: ArrayLike<number>,
    seg: Segment,
  ) => {
    const scale = maxAbs(t, seg);
    const es = maxAbsDiff(s32, t, seg);
    const er = maxAbsDiff(r32, t, seg);
    const d64 = maxAbsDiff(r64, t, seg);
    rows.f32.push({ what: `${what} (f32)`, err: er, ref: es + d64 / U64_PER_U32, u: U32, scale });
    rows.f64.push({ what: `${what} (f64)`, err: d64, ref: U64_PER_U32 * (es + er), u: U64, scale });
  };
  for (const seg of truth.segments) add(seg.name, truth.grads, rev64.grads, store32.grads, rev32.grads, seg);
  for (const [i, [name, t]] of truth.inputs.entries()) {
    add(name, t, rev64.inputs[i]![1], store32.inputs[i]![1], rev32.inputs[i]![1], whole(name, t));
  }
  return rows;
}

/** The inverse laws' rows from the rebuilt inputs, the inputs and the last layer's outputs of both precisions. */
export function inverseRows(
  streams: ReadonlyArray<{
    name: string;
    rebuilt32: ArrayLike<number>;
    input32: ArrayLike<number>;
    rebuilt64: ArrayLike<number>;
    input64: ArrayLike<number>;
  }>,
  y32: ReadonlyArray<ArrayLike<number>>,
  y64: ReadonlyArray<ArrayLike<number>>,
): InverseLawRows {
  let fwd32 = 0;
  let scale = 0;
  for (const [i, y] of y64.entries()) {
    fwd32 = Math.max(fwd32, maxAbsDiff(y32[i]!, y));
    scale = Math.max(scale, maxAbs(y));
  }
  for (const s of streams) scale = Math.max(scale, maxAbs(s.input64));
  const rows: InverseLawRows = { f32: [], f64: [] };
  for (const s of streams) {
    const e32 = maxAbsDiff(s.rebuilt32, s.input32);
    const e64 = maxAbsDiff(s.rebuilt64, s.input64);
    rows.f32.push({ what: `${s.name} (f32)`, err: e32, ref: fwd32, u: U32, scale });
    rows.f64.push({ what: `${s.name} (f64)`, err: e64, ref: U64_PER_U32 * e32, u: U64, scale });
  }
  return rows;
}

/** `n` N(0, std²) values rounded to f32 (so f32 and f64 runs see the same numbers). */
function f32Normal(n: number, rng: Rng, std = 1): Float32Array {
  const out = new Float32Array(n);
  rng.fillNormal(out, 0, std);
  return out;
}

function on(be: Backend, values: ArrayLike<number>): Float {
  const out = be.floats(values.length);
  out.set(values as ArrayLike<number> & Float32Array);
  return out;
}

// ------------------------------------------------------------------ machinery with FF sub-layers

/** A stack of reversible layers with F = G = feed-forward, on `rows` rows of D features. */
export interface StackCase {
  readonly layers: number;
  readonly D: number;
  readonly F: number;
  readonly rows: number;
  readonly dropout: number;
  readonly chunk: number;
  readonly seed: number;
}

/**
 * Stacks with D = minD … 7 features. The laws use D ≥ 4 (`LAW_MIN_D`): a LayerNorm over D features has
 * condition ~1/σ (σ the spread of its inputs), and P(σ < s) ∝ s^(D−1), so for D ≤ 3 badly conditioned
 * rows come often and the ratio err / ref has a heavy tail (measured: max 2.4e3 at D = 2, 97 at D = 3 in
 * ~2,000 stacks each, against ≤ 30 for D ≥ 4). At D = 2 the LayerNorm outputs ±1 whatever its input:
 * its input gradient is ~0 in exact arithmetic and both paths compute rounding noise amplified by
 * rstd (the D = 2 example in reversible.spec.ts). The measurement tool draws D from 2 to show this.
 */
/** Smallest D of the laws' stacks (see `arbStack`). */
export const LAW_MIN_D = 4;

export function arbStack(minD: number = LAW_MIN_D): fc.Arbitrary<StackCase> {
  return fc.record({
    layers: fc.integer({ min: 1, max: 4 }),
    D: fc.integer({ min: minD, max: 7 }),
    F: fc.integer({ min: 2, max: 9 }),
    rows: fc.integer({ min: 1, max: 12 }),
    dropout: fc.constantFrom(0, 0.3),
    chunk: fc.constantFrom(0, 2, 5),
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
  });
}

interface Stack {
  blocks: ReversibleBlock[];
  grads: Float;
  segments: Segment[];
}

const FF_TENSORS = ['lnWeight', 'lnBias', 'w1', 'b1', 'w2', 'b2'] as const;

/** The stack on `be`, its parameters N(0, 0.25) from `s.seed` (rounded to f32). */
export function ffStack(be: Backend, s: StackCase): Stack {
  const { D, F } = s;
  const sizes = [D, D, F * D, F, D * F, D];
  const per = sizes.reduce((a, b) => a + b, 0);
  const params = on(be, f32Normal(2 * s.layers * per, new Rng(s.seed), 0.5));
  const grads = be.floats(params.length);
  const spec: FeedForwardSpec = { hidden: D, inner: F, act: 'gelu_new', eps: 1e-12, chunkSize: s.chunk, dropout: s.dropout };
  const segments: Segment[] = [];
  let off = 0;
  const sublayer = (label: string): FeedForwardSublayer => {
    const w: Record<string, Float> = {};
    const g: Record<string, Float> = {};
    for (const [j, name] of FF_TENSORS.entries()) {
      const n = sizes[j]!;
      w[name] = params.subarray(off, off + n);
      g[name] = grads.subarray(off, off + n);
      segments.push({ name: `${label}.${name}`, offset: off, size: n });
      off += n;
    }
    return new FeedForwardSublayer(be, spec, w as unknown as FeedForwardWeights, g as unknown as FeedForwardWeights);
  };
  const blocks: ReversibleBlock[] = [];
  for (let l = 0; l < s.layers; l++) {
    const f = sublayer(`layer ${l} F`);
    const g = sublayer(`layer ${l} G`);
    blocks.push({ f, g });
  }
  return { blocks, grads, segments };
}

/** The stack's inputs X1, X2 and output gradients dY1, dY2 (rounded to f32). */
function stackData(s: StackCase) {
  const n = s.rows * s.D;
  return {
    n,
    x1: f32Normal(n, new Rng(s.seed + 1)),
    x2: f32Normal(n, new Rng(s.seed + 2)),
    dy1: f32Normal(n, new Rng(s.seed + 4)),
    dy2: f32Normal(n, new Rng(s.seed + 5)),
  };
}

function stackCall(s: StackCase): SublayerCall {
  return { batch: 1, seqLen: s.rows, training: true, attentionMask: null, rng: new Rng(s.seed + 3) };
}

/** Gradients (parameters, dX1, dX2) of the stack on `be`, by the reversible or the store-activations backward. */
export function stackGradients(be: Backend, s: StackCase, mode: 'reversible' | 'store', forge: Forge = (rec) => rec): GradRun {
  const st = ffStack(be, s);
  const d = stackData(s);
  const rec = forge(reversibleForward(be, st.blocks, on(be, d.x1), on(be, d.x2), d.n, stackCall(s), mode), be);
  const dy1 = on(be, d.dy1);
  const dy2 = on(be, d.dy2);
  reversibleBackward(be, st.blocks, rec, dy1, dy2);
  return {
    grads: st.grads,
    segments: st.segments,
    inputs: [
      ['dX1', dy1],
      ['dX2', dy2],
    ],
  };
}

/**
 * Edits a reversible run's forward record before its backward or inverse (the specs that show a law
 * can fail plant a bug this way); `be` says which precision's run it is.
 */
export type Forge = (rec: ReversibleRecord, be: Backend) => ReversibleRecord;

/** The gradient laws' rows of one stack; `forge` edits the reversible runs. */
export function stackGradientRows(s: StackCase, forge?: Forge): GradientLawRows {
  return gradientRows(
    stackGradients(f64, s, 'store'),
    stackGradients(f64, s, 'reversible', forge),
    stackGradients(f32, s, 'store'),
    stackGradients(f32, s, 'reversible', forge),
  );
}

/** The inverse laws' rows of one stack (reversible forward, then `reversibleInverse`); `forge` edits the record. */
export function stackInverseRows(s: StackCase, forge: Forge = (rec) => rec): InverseLawRows {
  const d = stackData(s);
  const run = (be: Backend) => {
    const st = ffStack(be, s);
    const rec = forge(reversibleForward(be, st.blocks, on(be, d.x1), on(be, d.x2), d.n, stackCall(s), 'reversible'), be);
    const y = [Float64Array.from(rec.y1), Float64Array.from(rec.y2)];
    reversibleInverse(be, st.blocks, rec, rec.y1, rec.y2);
    return { x1: rec.y1, x2: rec.y2, y };
  };
  const a = run(f32);
  const b = run(f64);
  return inverseRows(
    [
      { name: 'X1', rebuilt32: a.x1, input32: d.x1, rebuilt64: b.x1, input64: d.x1 },
      { name: 'X2', rebuilt32: a.x2, input32: d.x2, rebuilt64: b.x2, input64: d.x2 },
    ],
    a.y,
    b.y,
  );
}

// ------------------------------------------------------------------ whole models

/** LSH rotations for every LSH layer of the case (rounded to f32), injected in every run. */
function rotationsOf(c: TinyCase): Array<Float32Array | null> {
  const cfg = c.config;
  const rng = new Rng(c.seed ^ 0x2545f491);
  return cfg.attn_layers.map((kind) => {
    if (kind !== 'lsh') return null;
    const shape = rotationShape(cfg.num_attention_heads, cfg.attention_head_size, cfg.num_hashes, resolveNumBuckets(cfg, c.seqLen));
    return f32Normal(
      shape.reduce((a, b) => a * b, 1),
      rng,
    );
  });
}

/** f32 parameters of the case (the model's HF initialisation from `c.seed` on the f32 backend). */
function f32Params(c: TinyCase): Float32Array {
  return Float32Array.from(new ReformerModelWithLMHead(f32, c.config, { seed: c.seed }).params);
}

/** One LM training step: the loss, every parameter gradient (by tensor) and d(loss)/d(embedding). */
export function lmGradients(be: Backend, c: TinyCase, reversible: boolean, params: Float32Array): GradRun & { loss: number } {
  const m = new ReformerModelWithLMHead(be, c.config, { seed: c.seed, reversible });
  m.parameters.params.set(params);
  const r = m.forwardBackward(
    { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, labels: c.labels },
    { rotations: rotationsOf(c) },
  );
  const segments = m.paramTensors.map((t, i) => ({ name: t.name ?? `tensor ${i}`, offset: t.offset, size: t.size }));
  return { loss: r.loss, grads: m.grads, segments, inputs: [['d embedding', r.dEmbedding]] };
}

/** The gradient laws' rows of one LM case, and the losses of the reversible and store runs per precision. */
export function lmGradientRows(c: TinyCase): GradientLawRows & { losses: { f32: [number, number]; f64: [number, number] } } {
  const p = f32Params(c);
  const truth = lmGradients(f64, c, false, p);
  const rev64 = lmGradients(f64, c, true, p);
  const store32 = lmGradients(f32, c, false, p);
  const rev32 = lmGradients(f32, c, true, p);
  return { ...gradientRows(truth, rev64, store32, rev32), losses: { f32: [rev32.loss, store32.loss], f64: [rev64.loss, truth.loss] } };
}

/** The inverse laws' rows of one encoder case: the layer-0 inputs rebuilt from a training forward. */
export function encoderInverseRows(c: TinyCase): InverseLawRows {
  const p = Float32Array.from(new ReformerModel(f32, c.config, { options: { seed: c.seed } }).parameters.params);
  const run = (be: Backend) => {
    const model = new ReformerModel(be, c.config, { options: { seed: c.seed } });
    model.parameters.params.set(p);
    const fwd = model.forward({
      inputIds: c.ids,
      batch: c.batch,
      seqLen: c.seqLen,
      attentionMask: c.mask,
      training: true,
      rotations: rotationsOf(c),
    });
    const { y1, y2 } = fwd.tape!.run.record;
    const y = [Float64Array.from(y1), Float64Array.from(y2)];
    const { x1, x2 } = model.reconstructInputs(fwd);
    return { x1, x2, y, emb: fwd.embedding };
  };
  const a = run(f32);
  const b = run(f64);
  return inverseRows(
    [
      { name: 'X1', rebuilt32: a.x1, input32: a.emb, rebuilt64: b.x1, input64: b.emb },
      { name: 'X2', rebuilt32: a.x2, input32: a.emb, rebuilt64: b.x2, input64: b.emb },
    ],
    a.y,
    b.y,
  );
}
