/**
 * Our own model options: switches that are not HF `ReformerConfig` fields and therefore never go into
 * config.json's HF keys. They change how the model computes, not what it is: a checkpoint trained with
 * one setting loads with any other.
 */
import { ConfigError } from '../errors.js';
import { optionsArg } from '../util/args.js';

export interface ReformerOptions {
  /**
   * Backward by reversal (paper Sec. 3, HF `_ReversibleFunction`): keep only the last layer's outputs
   * and rebuild each layer's inputs going backward (`X2 = Y2 − FF(Y1)`, `X1 = Y1 − Attn(X2)`).
   * false = store every layer's inputs (more memory, no inversion error). Same gradients. Default true.
   */
  readonly reversible: boolean;
  /**
   * LSH attention as in the paper's App. A (cross-bucket pairs masked, duplicates corrected by
   * `log N_ij`) instead of HF's. Not HF-compatible numerically; weights still load either way. Default false.
   */
  readonly paperExactAttention: boolean;
  /**
   * Seed of the model's generator: initialisation, and the per-forward draws of hash rotations (when
   * `hash_seed` is null) and dropout seeds. Default 0.
   */
  readonly seed: number;
}

export const DEFAULT_OPTIONS: ReformerOptions = Object.freeze({ reversible: true, paperExactAttention: false, seed: 0 });

/** Fills defaults and validates. @throws ConfigError naming `options.<field>`. */
export function resolveOptions(options: Partial<ReformerOptions> = {}): ReformerOptions {
  const o = { ...DEFAULT_OPTIONS, ...stripUndefined(optionsArg('ReformerOptions', options, '{ seed: 1 }')) };
  for (const k of ['reversible', 'paperExactAttention'] as const) {
    if (typeof o[k] !== 'boolean') throw new ConfigError(`options.${k}`, `must be true or false, got ${String(o[k])}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new ConfigError('options.seed', `must be an integer, got ${String(o.seed)}`);
  return Object.freeze(o);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
