/**
 * What `reformer eval` and `generate` share besides loading the checkpoint (load-model.ts): the
 * `--num-hashes` check. The commands are in eval.ts and generate.ts.
 */
import { ConfigError, UsageError } from '../../errors.js';
import { numHashesCall, type ModelCallOptions } from '../../train/generate.js';
import type { EngineModel } from '../engine.js';

/**
 * The per-call options of `--num-hashes n` for this model.
 * @throws UsageError naming the flag when the model has no LSH layers to change.
 */
export function numHashesFlag(em: EngineModel, numHashes: number | undefined): ModelCallOptions {
  try {
    return numHashesCall(em.model, numHashes, `--num-hashes ${numHashes}`);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message.replace(/^num_hashes: /, ''));
    throw e;
  }
}
