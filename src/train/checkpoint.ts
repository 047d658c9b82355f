/**
 * Training checkpoints as a set of named files (browser-safe; `node/checkpoint.ts` puts them on disk).
 *
 * A checkpoint directory holds
 *   config.json             the model's configuration (HF `config.json` for the Reformer)
 *   model.safetensors       the model's parameters (HF `state_dict()` names for the Reformer)
 *   trainer_state.json      `TrainerState`: step, sampler and model RNG, options, caller fields
 *   optimizer.safetensors   the optimizer's state and step: AdamW moments `m`, `v` (format
 *                           `reformer-ts.adamw`), or Adafactor's `<tensor>.row`/`.col`/`.v` (and `.m`)
 *                           (`reformer-ts.adafactor`); `trainer_state.json` names the optimizer
 *   manifest.json           written last by the Node adapter: file names, sizes and SHA-256
 * The first two come from the model side; this module encodes and decodes the trainer's two files.
 */
import { FormatError } from '../errors.js';
import { bytesArg, optionsArg } from '../util/args.js';
import type { TrainerSnapshot, TrainerState } from './trainer.js';

export const CHECKPOINT_FILES = {
  config: 'config.json',
  weights: 'model.safetensors',
  trainerState: 'trainer_state.json',
  optimizer: 'optimizer.safetensors',
} as const;

/** The trainer's files of a checkpoint. */
export function encodeTrainerSnapshot(snapshot: TrainerSnapshot): Record<string, Uint8Array> {
  optionsArg('encodeTrainerSnapshot', snapshot, 'trainer.snapshot()', false);
  optionsArg('encodeTrainerSnapshot', snapshot.state, 'trainer.snapshot().state', false);
  bytesArg('encodeTrainerSnapshot', 'snapshot.optimizer', snapshot.optimizer);
  return {
    [CHECKPOINT_FILES.trainerState]: new TextEncoder().encode(`${JSON.stringify(snapshot.state, null, 2)}\n`),
    [CHECKPOINT_FILES.optimizer]: snapshot.optimizer,
  };
}

/**
 * Reads the trainer's files of a checkpoint (other files are ignored).
 * @throws FormatError if a file is missing, not JSON, or not a version-1 trainer state.
 */
export function decodeTrainerSnapshot(files: Readonly<Record<string, Uint8Array>>, where = 'checkpoint'): TrainerSnapshot {
  optionsArg('decodeTrainerSnapshot', files, "{ 'trainer_state.json': bytes, 'optimizer.safetensors': bytes }", false);
  const stateBytes = files[CHECKPOINT_FILES.trainerState];
  const optimizer = files[CHECKPOINT_FILES.optimizer];
  if (!stateBytes) throw new FormatError(`${where}: no ${CHECKPOINT_FILES.trainerState} (not a training checkpoint?)`);
  if (!optimizer) throw new FormatError(`${where}: no ${CHECKPOINT_FILES.optimizer}`);
  bytesArg('decodeTrainerSnapshot', CHECKPOINT_FILES.trainerState, stateBytes);
  bytesArg('decodeTrainerSnapshot', CHECKPOINT_FILES.optimizer, optimizer);
  let state: unknown;
  try {
    state = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(stateBytes));
  } catch (e) {
    throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const s = state as Partial<TrainerState> | null;
  if (s === null || typeof s !== 'object' || s.format !== 'reformer-ts.trainer-state') {
    throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: "format" is not "reformer-ts.trainer-state"`);
  }
  if (s.version !== 1)
    throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: version ${String(s.version)} is not supported (expected 1)`);
  for (const k of ['step', 'tokensSeen', 'elapsedMs'] as const) {
    if (typeof s[k] !== 'number' || !(s[k]! >= 0))
      throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: "${k}" must be a non-negative number, got ${JSON.stringify(s[k])}`);
  }
  if (typeof s.sampler !== 'object' || s.sampler === null)
    throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: missing "sampler"`);
  if (typeof s.options !== 'object' || s.options === null)
    throw new FormatError(`${where}/${CHECKPOINT_FILES.trainerState}: missing "options"`);
  return {
    state: { modelRandom: null, lastValidation: null, extra: {}, ...s } as TrainerState,
    optimizer,
  };
}
