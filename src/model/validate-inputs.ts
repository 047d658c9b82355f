/**
 * Validation of what callers hand to the model's public entry points (`ReformerModel.forward`,
 * `ReformerModelWithLMHead.lossAndGrad/forwardBackward/loss/logits/evaluate`), before anything reaches
 * the kernels. Every failure is a `ShapeError` naming the HF tensor (`input_ids`, `attention_mask`,
 * `labels`, `rotations[i]`), what was expected, what was given, and how to fix it; a NaN or infinite
 * injected rotation is a `NumericalError` (as every non-finite value: model/numerics.ts).
 *
 * Cost: the structural checks are O(1); the value checks are one pass over each input
 * (token ids: `checkTokenIds` in nn/embeddings.ts; masks and labels: in the model; rotations: here).
 * Weights are checked once, when a checkpoint is loaded (`model/checkpoint.ts`), never per step.
 */
import { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import { backendArg } from '../util/args.js';

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `a plain Array of ${v.length}`;
  if (ArrayBuffer.isView(v))
    return `a ${v.constructor.name} of ${(v as unknown as ArrayLike<unknown>).length ?? (v as DataView).byteLength}`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'no prototype'})`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * The model constructors take a validated `ReformerConfig`; a plain object (JavaScript callers) would
 * skip every rule, so it is refused with the way to build one.
 * @throws ConfigError (field `config`).
 */
export function requireReformerConfig(config: unknown, where: string): void {
  if (!(config instanceof ReformerConfig)) {
    throw new ConfigError(
      'config',
      `${where} needs a ReformerConfig, got ${describe(config)}; build it with new ReformerConfig({...}) or ReformerConfig.fromJSON(text), which validate every field`,
    );
  }
}

/**
 * The first two arguments of every model constructor: a compute backend and a `ReformerConfig`.
 * @throws ConfigError (field `backend` or `config`).
 */
export function requireModelArgs(where: string, backend: unknown, config: unknown): void {
  backendArg(where, backend);
  requireReformerConfig(config, where);
}

function positiveInt(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new ShapeError(`${where}: ${name} must be a positive integer, got ${describe(v)}`);
  }
  return v;
}

/** An Int32Array of exactly `n` elements (or, if `optional`, null/undefined). */
function int32Tensor(where: string, name: string, v: unknown, n: number, shape: string, optional: boolean): void {
  if (v === null || v === undefined) {
    if (optional) return;
    throw new ShapeError(`${where}: ${name} is required: an Int32Array of shape ${shape} = ${n} elements`);
  }
  if (!(v instanceof Int32Array)) {
    throw new ShapeError(
      `${where}: ${name} must be an Int32Array of shape ${shape} = ${n} elements, got ${describe(v)}; convert it with Int32Array.from(...)`,
    );
  }
  if (v.length !== n) {
    throw new ShapeError(
      `${where}: ${name} must have shape ${shape} = ${n} elements, got ${v.length}; batch and seqLen must describe the arrays`,
    );
  }
}

/**
 * The structure of a `TokenBatch` / `EncoderInput`: an object with positive integer `batch` and
 * `seqLen`, `inputIds` an Int32Array of `batch·seqLen` ids, optional `attentionMask` and `labels` of
 * the same shape. Values (id range, mask 0/1, label range) are checked by the model in one pass.
 * @throws ShapeError naming the field.
 */
export function validateTokenBatch(batch: unknown, where = 'ReformerModel'): void {
  if (batch === null || typeof batch !== 'object' || Array.isArray(batch)) {
    throw new ShapeError(
      `${where}: expected a batch {inputIds: Int32Array, batch, seqLen, attentionMask?, labels?}, got ${describe(batch)}`,
    );
  }
  const b = batch as Record<string, unknown>;
  const B = positiveInt(where, 'batch', b.batch);
  const L = positiveInt(where, 'seqLen', b.seqLen);
  const n = B * L;
  if (!Number.isSafeInteger(n) || n > 0x7fffffff) {
    throw new ShapeError(
      `${where}: batch·seqLen = ${B}·${L} exceeds the 2147483647 token positions an Int32Array can hold; split the batch`,
    );
  }
  const shape = `[batch, seqLen] = [${B}, ${L}]`;
  int32Tensor(where, 'input_ids (inputIds)', b.inputIds, n, shape, false);
  int32Tensor(where, 'attention_mask (attentionMask)', b.attentionMask, n, shape, true);
  if ('labels' in b) int32Tensor(where, 'labels', b.labels, n, shape, true);
}

/**
 * Injected LSH rotations: `null` or an array (one entry per layer index) of `null` or a float array
 * holding only finite values (a NaN or infinite rotation makes every bucket, and so the attention, NaN).
 * Their shapes are checked by the attention layer that uses them.
 * @throws ShapeError for a malformed list, NumericalError naming `rotations[layer]` and the first
 *   NaN or infinite element.
 */
export function validateRotations(rotations: unknown, where = 'ReformerModel'): void {
  if (rotations === null || rotations === undefined) return;
  if (!Array.isArray(rotations)) {
    throw new ShapeError(`${where}: rotations must be an array with one entry (or null) per layer, got ${describe(rotations)}`);
  }
  rotations.forEach((r: unknown, layer) => {
    if (r === null || r === undefined) return;
    if (!(r instanceof Float32Array) && !(r instanceof Float64Array)) {
      throw new ShapeError(
        `${where}: rotations[${layer}] must be a Float32Array or Float64Array (or null to draw them), got ${describe(r)}`,
      );
    }
    checkFinite(`${where}: rotations[${layer}]`, r);
  });
}

/**
 * One pass: throws NumericalError at the first NaN or ±Infinity of `values`, naming `what`, the index
 * and how many such values there are.
 */
export function checkFinite(what: string, values: ArrayLike<number>): void {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      // x - x is NaN exactly for NaN and ±Infinity: the rare path counts the rest
      let bad = 0;
      for (let j = i; j < n; j++) if (values[j]! - values[j]! !== 0) bad++;
      throw new NumericalError(`${what}[${i}] = ${x} (${bad} of ${n} values are NaN or infinite); inputs must be finite numbers`);
    }
  }
}
