/**
 * HF `ReformerClassificationHead` as a forward/backward pair, on m pooled rows x [m, 2D] (position 0
 * of each sequence of the encoder output):
 *
 *   x0     = Dropout(x)                       p = classifier_dropout ?? hidden_dropout_prob
 *   z      = x0·W_denseᵀ + b_dense            [m, D]      classifier.dense (2D → D)
 *   a      = tanh(z)
 *   a0     = Dropout(a)
 *   logits = a0·W_outᵀ + b_out                [m, n]      classifier.out_proj (D → num_labels)
 *
 * Dropout masks are functions of (seed, batch row), so the backward replays them. tanh runs as a plain
 * loop (m·D values per batch: a few rows, no kernel needed).
 */
import type { Backend, Float } from '../../backend/backend.js';
import { applyDropout } from '../../nn/dropout.js';
import { linearBackward, linearForward } from '../../nn/linear.js';

/** Views of the head's parameters (or of their gradients). */
export interface ClassifierWeights {
  /** classifier.dense.weight [D, 2D] */ readonly denseWeight: Float;
  /** classifier.dense.bias [D] */ readonly denseBias: Float;
  /** classifier.out_proj.weight [n, D] */ readonly outWeight: Float;
  /** classifier.out_proj.bias [n] */ readonly outBias: Float;
}

/** Sizes and dropout of a call. */
export interface ClassifierSpec {
  /** hidden_size D (the input is 2D wide). */
  readonly hidden: number;
  readonly numLabels: number;
  /** Dropout probability (0 in evaluation). */
  readonly dropout: number;
  /** Seeds of the two dropout sites, null when dropout is off. */
  readonly seeds: { readonly input: number; readonly hidden: number } | null;
}

/** What the backward needs (buffers of the caller's scope). */
export interface ClassifierCache {
  readonly x0: Float;
  /** dense output before the tanh [m, D] (HF `cap:eval.classifier_dense`). */
  readonly z: Float;
  readonly a: Float;
  readonly a0: Float;
}

/**
 * Forward on rows x [m, 2D] (batch rows firstRow … firstRow + m − 1, for the dropout masks); writes
 * logits [m, n]; returns the cache (allocated in the caller's scope).
 */
export function classifierForward(
  be: Backend,
  spec: ClassifierSpec,
  w: ClassifierWeights,
  x: Float,
  m: number,
  firstRow: number,
  logits: Float,
): ClassifierCache {
  const D = spec.hidden;
  const x0 = be.floats(m * 2 * D);
  x0.set(x.subarray(0, m * 2 * D));
  if (spec.seeds) applyDropout(x0, m, 2 * D, spec.dropout, spec.seeds.input, firstRow);
  const z = be.floats(m * D);
  linearForward(be, x0, m, 2 * D, w.denseWeight, D, w.denseBias, z);
  const a = be.floats(m * D);
  for (let i = 0; i < m * D; i++) a[i] = Math.tanh(z[i]!);
  const a0 = be.floats(m * D);
  a0.set(a);
  if (spec.seeds) applyDropout(a0, m, D, spec.dropout, spec.seeds.hidden, firstRow);
  linearForward(be, a0, m, D, w.outWeight, spec.numLabels, w.outBias, logits);
  return { x0, z, a, a0 };
}

/**
 * Backward: given dLogits [m, n], ACCUMULATES the head's parameter gradients into `g` and d(loss)/dx
 * into dx [m, 2D]. Temporaries are freed on return.
 */
export function classifierBackward(
  be: Backend,
  spec: ClassifierSpec,
  w: ClassifierWeights,
  g: ClassifierWeights,
  cache: ClassifierCache,
  m: number,
  firstRow: number,
  dLogits: Float,
  dx: Float,
): void {
  const D = spec.hidden;
  be.scope(() => {
    // logits = a0·W_outᵀ + b_out
    const da = be.floats(m * D);
    linearBackward(be, cache.a0, m, D, w.outWeight, spec.numLabels, dLogits, da, g.outWeight, g.outBias);
    // a0 = Dropout(a)
    if (spec.seeds) applyDropout(da, m, D, spec.dropout, spec.seeds.hidden, firstRow);
    // a = tanh(z)  ⇒  dz = da·(1 − a²)
    for (let i = 0; i < m * D; i++) da[i] = da[i]! * (1 - cache.a[i]! * cache.a[i]!);
    // z = x0·W_denseᵀ + b_dense
    const dx0 = be.floats(m * 2 * D);
    linearBackward(be, cache.x0, m, 2 * D, w.denseWeight, D, da, dx0, g.denseWeight, g.denseBias);
    // x0 = Dropout(x)
    if (spec.seeds) applyDropout(dx0, m, 2 * D, spec.dropout, spec.seeds.input, firstRow);
    be.axpy(dx, 1, dx0, m * 2 * D);
  });
}
