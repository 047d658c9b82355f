/**
 * Non-finite checks of the models' public entry points: a NaN or ±Infinity in the hidden states, the
 * outputs, the logits or the loss is a `NumericalError` naming where it appeared and why, never a
 * silently returned number (the kernels propagate NaN and infinities with IEEE semantics on both
 * backends: src/backend/backend.ts).
 *
 * What is checked, with one `Backend.countNonFinite` pass each (memory-bound, split over threads):
 * - after every layer of a forward (evaluation and training), its two residual streams: Y1 as
 *   "layer i (lsh): the attention branch output", then Y2 as "… the feed-forward branch output";
 * - the encoder output (`ReformerModel.forward`, and each block of rows that `forwardRows` / `trainRows`
 *   hand to their consumer: the final LayerNorm), the logits, and the loss (a scalar).
 * On a failure (rare path) the diagnosis scans the parameters: the first parameter holding a NaN or
 * ±Infinity is named with its first bad index and value (a damaged checkpoint, a diverged run); if
 * every parameter is finite, the activations overflowed float32 and the message says so.
 *
 * Cost: 2·rows·hidden values read per layer, well under 1% of a layer's work (docs/benchmarks.md).
 * Weights are checked once when a checkpoint is loaded (model/checkpoint.ts), injected rotations when
 * a call starts (model/validate-inputs.ts); both use `nonFiniteSummary` for their messages.
 */
import type { Backend, Float } from '../backend/backend.js';
import { countNonFiniteStream } from '../backend/host-streams.js';
import type { AttnLayerType } from '../config/fields.js';
import { NumericalError } from '../errors.js';
import type { OutputSink } from './encoder-types.js';
import type { Parameters } from './parameters.js';

/** What a check needs: the backend that ran the call and the parameters it used. */
export interface NumericsScope {
  readonly be: Backend;
  readonly params: Parameters;
}

/**
 * `"holds 3 NaN or infinite value(s) of 258 (first at index 7: NaN)"` for `values`, or null when
 * every value is finite (one pass; the count only on the rare path).
 */
export function nonFiniteSummary(values: ArrayLike<number>): string | null {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      // x − x is NaN exactly for NaN and ±Infinity
      let count = 0;
      for (let j = i; j < n; j++) if (values[j]! - values[j]! !== 0) count++;
      return `holds ${count} NaN or infinite value(s) of ${n} (first at index ${i}: ${x})`;
    }
  }
  return null;
}

/** The first parameter (layout order) holding a NaN or ±Infinity, with its summary; null if all are finite. */
export function findNonFiniteParameter(scope: NumericsScope): { name: string; summary: string } | null {
  const { be, params } = scope;
  if (be.countNonFinite(params.params, params.size) === 0) return null;
  for (const e of params.entries) {
    const summary = nonFiniteSummary(params.params.subarray(e.offset, e.offset + e.size));
    if (summary !== null) return { name: e.name, summary };
  }
  return null;
}

/** The NumericalError of a non-finite `what` ("the logits holds 12 NaN or infinite value(s) of 4096"), with its cause. */
export function nonFiniteError(scope: NumericsScope, what: string): NumericalError {
  const p = findNonFiniteParameter(scope);
  if (p) {
    return new NumericalError(
      `${what} is not finite because parameter "${p.name}" ${p.summary}; the weights are damaged ` +
        '(a diverged training run or a corrupted file): load an earlier checkpoint',
    );
  }
  return new NumericalError(
    `${what} is not finite although every parameter is finite: the activations overflowed float32 ` +
      '(weights or inputs too large); check the checkpoint, or lower the learning rate if it comes from training',
  );
}

/** Throws NumericalError (see `nonFiniteError`) if x[0 … n) holds a NaN or ±Infinity. */
export function checkFiniteValues(scope: NumericsScope, what: string, x: Float, n: number): void {
  const bad = countNonFiniteStream(scope.be, x, n); // x may be a host-resident stream
  if (bad > 0) throw nonFiniteError(scope, `${what} (${bad} NaN or infinite value(s) of ${n})`);
}

/** Throws NumericalError (see `nonFiniteError`) if a scalar result (the loss) is NaN or ±Infinity. */
export function checkFiniteScalar(scope: NumericsScope, what: string, value: number): void {
  if (!Number.isFinite(value)) throw nonFiniteError(scope, `${what} (${value})`);
}

/**
 * The per-layer check of a forward (`SublayerCall.onLayerOutput`): Y1 = X1 + F(X2), then
 * Y2 = X2 + G(Y1), each n = rows·hidden values, named by layer index and attention type.
 */
export function layerOutputCheck(
  scope: NumericsScope,
  layerTypes: readonly AttnLayerType[],
  n: number,
): (layer: number, y1: Float, y2: Float) => void {
  return (layer, y1, y2) => {
    const name = `layer ${layer} (${layerTypes[layer] ?? '?'})`;
    checkFiniteValues(scope, `${name}: the attention branch output`, y1, n);
    checkFiniteValues(scope, `${name}: the feed-forward branch output`, y2, n);
  };
}

/** `sink` behind a check of every block of output rows (`width` values per row) before it sees them. */
export function checkedRows(scope: NumericsScope, what: string, width: number, sink: OutputSink): OutputSink {
  return (r0, n, h, dh) => {
    checkFiniteValues(scope, `${what}, rows ${r0}…${r0 + n - 1}`, h, n * width);
    sink(r0, n, h, dh);
  };
}
