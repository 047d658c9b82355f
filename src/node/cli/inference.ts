/**
 * What `reformer eval`, `generate` and `verify` share: loading a checkpoint for inference only (a
 * damaged trainer state is a warning, not a refusal: they do not need it), and the `--num-hashes`
 * check. The commands are in eval.ts and generate.ts.
 */
import { ConfigError, UsageError } from '../../errors.js';
import { numHashesCall, type ModelCallOptions } from '../../train/generate.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { engineForConfig, parseConfigJson, type EngineModel } from '../engine.js';
import type { BackendKind, CliContext } from './context.js';
import { runExtra } from './run-extra.js';

/**
 * Loads `path` for inference (`loadCheckpoint` with `inferenceOnly`); each problem of the trainer files
 * is one `warning:` line on `info`, naming the command that goes on without it.
 */
export function loadForInference(path: string, command: string, info: (l: string) => void): LoadedCheckpoint {
  const ck = loadCheckpoint(path, undefined, { inferenceOnly: true });
  if (ck.recovered) info(`note: ${path} was incomplete (a save was interrupted); using its backup ${ck.dir}`);
  for (const w of ck.warnings)
    info(`warning: ${w}; ${command} does not need the trainer state, going on (resuming this run would be refused)`);
  return ck;
}

/** The checkpoint's model on the backend of `--backend`/`--threads` (its preset named, from the trainer state). */
export async function loadModel(
  path: string,
  command: string,
  backendKind: BackendKind,
  threads: number | undefined,
  ctx: CliContext,
  info: (l: string) => void,
): Promise<{ em: EngineModel; ck: LoadedCheckpoint }> {
  const ck = loadForInference(path, command, info);
  const { backend, note } = await ctx.createBackend(backendKind, threads);
  if (note) info(`note: ${note}`);
  const cfg = parseConfigJson(ck.config, `${ck.dir}/config.json`);
  const preset = runExtra(ck.snapshot).preset;
  const em = engineForConfig(cfg, ctx.engines, ck.dir).load(backend, cfg, ck.weights, preset ?? undefined);
  return { em, ck };
}

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
