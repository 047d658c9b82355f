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
  /**
   * Where the residual streams X1, X2 and their gradients live (issue 17; src/backend/host-streams.ts):
   * 'never' = in the backend's memory (the WASM arena); 'always' = in plain JS arrays outside it, every
   * layer streaming row blocks through the arena (same bits, more than 4 GiB in all); 'auto' = host
   * arrays only for a run whose arena estimate exceeds the backend's limit. Needs the reversible
   * backward for training (store-activations keeps every layer in the arena). Default 'auto'.
   */
  readonly hostStreams: 'auto' | 'always' | 'never';
  /**
   * Rows per block streamed between a host-resident buffer and the arena (rounded down to a multiple
   * of 4). Changes memory and speed, never results. Default 4096.
   */
  readonly hostBlockRows: number;
  /**
   * Bytes the host-resident path may take in all (WASM arena + host arrays), checked with its memory
   * estimate before a run; null = no check beyond the arena's limit. The Node adapters pass a share of
   * the machine's memory (`os.totalmem()`). Default null.
   */
  readonly hostMemoryBytes: number | null;
}

export const DEFAULT_OPTIONS: ReformerOptions = Object.freeze({
  reversible: true,
  paperExactAttention: false,
  seed: 0,
  hostStreams: 'auto',
  hostBlockRows: 4096,
  hostMemoryBytes: null,
});

/** Fills defaults and validates. @throws ConfigError naming `options.<field>`. */
export function resolveOptions(options: Partial<ReformerOptions> = {}): ReformerOptions {
  const o = { ...DEFAULT_OPTIONS, ...stripUndefined(optionsArg('ReformerOptions', options, '{ seed: 1 }')) };
  for (const k of ['reversible', 'paperExactAttention'] as const) {
    if (typeof o[k] !== 'boolean') throw new ConfigError(`options.${k}`, `must be true or false, got ${String(o[k])}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new ConfigError('options.seed', `must be an integer, got ${String(o.seed)}`);
  if (o.hostStreams !== 'auto' && o.hostStreams !== 'always' && o.hostStreams !== 'never')
    throw new ConfigError('options.hostStreams', `must be 'auto', 'always' or 'never', got ${String(o.hostStreams)}`);
  if (!Number.isSafeInteger(o.hostBlockRows) || o.hostBlockRows < 4)
    throw new ConfigError('options.hostBlockRows', `must be an integer ≥ 4, got ${String(o.hostBlockRows)}`);
  if (o.hostMemoryBytes !== null && !(typeof o.hostMemoryBytes === 'number' && o.hostMemoryBytes > 0))
    throw new ConfigError('options.hostMemoryBytes', `must be a number of bytes > 0 or null, got ${String(o.hostMemoryBytes)}`);
  return Object.freeze(o);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
