/**
 * Loading a checkpoint for a command (eval, generate, verify, train --checkpoint, convert): the folder
 * as it is (reformer-ts checkpoint, run directory or HF folder, see ../checkpoint.ts), notes about it on
 * the log (a recovered backup, where the weights came from, 2020 config keys HF ignores, for inference
 * a damaged trainer state), the model on the backend (its preset named, from the trainer state), and
 * the checkpoint's tokenizer (SentencePiece from spiece.model, else bytes).
 */
import { legacyConfigNotes } from '../../config/legacy-keys.js';
import { tokenizerForCheckpoint } from '../../tokenizer/index.js';
import type { Tokenizer } from '../../train/tokenizer.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { engineForConfig, parseConfigJson, type EngineModel } from '../engine.js';
import type { BackendKind, CliContext } from './context.js';
import { runExtra } from './run-extra.js';

/** How a command uses the checkpoint it loads. */
export interface CheckpointUse {
  /**
   * The command that needs only the model (`eval`, `generate`, `verify`): the checkpoint is loaded with
   * `inferenceOnly`, and each problem of its trainer files (missing, differing from the manifest, not a
   * valid trainer state) is a `warning:` note naming the command, instead of a refusal. Absent: the
   * trainer files must be intact (train, convert).
   */
  readonly inferenceFor?: string;
}

/** The tokenizer of a loaded checkpoint (`config`: its parsed config.json). @throws FormatError (see tokenizerForCheckpoint). */
export function checkpointTokenizer(ck: LoadedCheckpoint, config: Record<string, unknown>): Tokenizer {
  const recorded = ck.snapshot?.state.extra?.tokenizer;
  return tokenizerForCheckpoint({
    spieceModel: ck.tokenizer,
    vocabSize: typeof config.vocab_size === 'number' ? config.vocab_size : 320, // HF's default vocab_size
    recorded: typeof recorded === 'string' ? recorded : null,
    where: ck.dir,
  });
}

/**
 * Reads a checkpoint and the notes the user should know about it (a recovered backup, where the weights
 * came from, 2020 config keys HF ignores, with `use.inferenceFor` the trainer files left out), to print
 * once the checkpoint is known to be usable.
 * @throws what `loadCheckpoint` throws.
 */
export function readCheckpointNoted(
  path: string,
  flag: string | undefined,
  use: CheckpointUse = {},
): { ck: LoadedCheckpoint; config: Record<string, unknown>; notes: string[] } {
  const command = use.inferenceFor;
  const ck = loadCheckpoint(path, flag, { inferenceOnly: command !== undefined });
  const notes: string[] = [];
  if (ck.recovered) notes.push(`note: ${path} was incomplete (a save was interrupted); using its backup ${ck.dir}`);
  for (const w of ck.warnings) {
    notes.push(`warning: ${w}; ${command} does not need the trainer state, going on (resuming this run would be refused)`);
  }
  if (ck.weightsSource !== 'model.safetensors') notes.push(`note: weights read from ${ck.weightsSource}`);
  const config = parseConfigJson(ck.config, `${ck.dir}/config.json`);
  for (const n of legacyConfigNotes(config)) notes.push(`note: config.json: ${n}`);
  return { ck, config, notes };
}

export interface LoadedModel {
  readonly ck: LoadedCheckpoint;
  readonly em: EngineModel;
  readonly tokenizer: Tokenizer;
}

/** readCheckpointNoted + the backend + the model (its preset named, from the trainer state) + its tokenizer. */
export async function loadCheckpointModel(
  path: string,
  flag: string | undefined,
  backendKind: BackendKind,
  threads: number | undefined,
  ctx: CliContext,
  log: (line: string) => void,
  use: CheckpointUse = {},
): Promise<LoadedModel> {
  const { ck, config, notes } = readCheckpointNoted(path, flag, use);
  const tokenizer = checkpointTokenizer(ck, config); // before the backend: a missing tokenizer fails fast
  const { backend, note } = await ctx.createBackend(backendKind, threads);
  const preset = runExtra(ck.snapshot).preset ?? undefined;
  const em = engineForConfig(config, ctx.engines, ck.dir).load(backend, config, ck.weights, preset);
  for (const n of notes) log(n);
  if (note) log(`note: ${note}`);
  return { ck, em, tokenizer };
}
