/**
 * Training checkpoints on disk: one directory per checkpoint, written atomically (`atomic.ts`), holding
 * the model's files (`config.json`, `model.safetensors`) and the trainer's (`trainer_state.json`,
 * `optimizer.safetensors`), plus `manifest.json`. See `train/checkpoint.ts` for the layout.
 *
 * A training run directory (`--out`) looks like
 *   <out>/checkpoint/        the newest checkpoint (replaced atomically at each save)
 *   <out>/metrics.jsonl      one JSON record per logged step / validation
 *   <out>/training.svg       training and validation bits per byte against step
 * Commands that take a checkpoint accept either the run directory or the checkpoint directory, or a
 * plain HuggingFace model folder (`config.json` + `model.safetensors` or `pytorch_model.bin`, sharded or
 * not, optionally `spiece.model`; no manifest), read as it is (hf-folder.ts; no trainer state: inference
 * and fine-tuning). A checkpoint of a SentencePiece model also holds its `spiece.model`.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import { CHECKPOINT_FILES, decodeTrainerSnapshot, encodeTrainerSnapshot } from '../train/checkpoint.js';
import type { TrainerSnapshot } from '../train/trainer.js';
import { MANIFEST, readDirChecked, resolveCompleteDir, writeDirAtomic, type AtomicDirHooks, type Manifest } from './atomic.js';
import { readHfFolder } from './hf-folder.js';
import { displayPath, pathError, statOrNull } from './paths.js';
import { SPIECE_MODEL } from '../tokenizer/index.js';

/** Name of the checkpoint directory inside a run directory. */
export const CHECKPOINT_SUBDIR = 'checkpoint';

/** What a checkpoint holds besides the manifest. */
export interface CheckpointParts {
  /** `config.json` text. */
  readonly config: string;
  /** `model.safetensors` bytes. */
  readonly weights: Uint8Array;
  /** Trainer state; absent for an inference-only checkpoint. */
  readonly snapshot?: TrainerSnapshot | null;
  /** `spiece.model` bytes of a SentencePiece model (written next to the weights); absent: byte tokenizer. */
  readonly tokenizer?: Uint8Array | null;
}

/** Writes a checkpoint directory atomically (the previous one stays intact until the new one is complete). */
export function saveCheckpoint(dir: string, parts: CheckpointParts, hooks: AtomicDirHooks = {}): void {
  const files: Record<string, Uint8Array | string> = {
    [CHECKPOINT_FILES.config]: parts.config,
    [CHECKPOINT_FILES.weights]: parts.weights,
    ...(parts.snapshot ? encodeTrainerSnapshot(parts.snapshot) : {}),
    ...(parts.tokenizer ? { [SPIECE_MODEL]: parts.tokenizer } : {}),
  };
  writeDirAtomic(dir, files, hooks);
}

export interface LoadedCheckpoint {
  /** The directory actually read. */
  readonly dir: string;
  /** True if `dir` was a backup recovered after a save was interrupted between its two renames. */
  readonly recovered: boolean;
  readonly config: Uint8Array;
  readonly weights: Uint8Array;
  /** Null if the checkpoint has no trainer state (inference only). */
  readonly snapshot: TrainerSnapshot | null;
  /** Null for a plain HuggingFace folder (nothing to verify the files against). */
  readonly manifest: Manifest | null;
  /** `spiece.model` bytes if the checkpoint has one (SentencePiece tokenizer), else null (bytes). */
  readonly tokenizer: Uint8Array | null;
  /** What the weights were read from, e.g. `pytorch_model.bin (PyTorch legacy format)`. */
  readonly weightsSource: string;
}

/** Files of a reformer-ts checkpoint or an HF folder; a folder with none of them is not a checkpoint at all. */
const CHECKPOINT_NAMES: readonly string[] = [
  CHECKPOINT_FILES.config,
  CHECKPOINT_FILES.weights,
  'pytorch_model.bin',
  MANIFEST,
  CHECKPOINT_FILES.trainerState,
  CHECKPOINT_FILES.optimizer,
];

/**
 * The checkpoint directory for `path`: `path/checkpoint` if `path` is a run directory, else `path`.
 * `flag` (e.g. `--checkpoint`) prefixes the messages.
 * @throws UsageError if nothing exists at `path`, it is a file, a part of it is a file, or it cannot be
 *   read (permission denied): one line naming the flag and what to pass instead.
 */
export function checkpointDirFor(path: string, flag?: string): string {
  const subject = flag ? `${flag} ${path}` : path;
  const p = resolve(path);
  const st = statOrNull(p, subject, 'pass the run directory or the checkpoint directory');
  if (st === null) {
    // `<dir>` missing but `<dir>.old-<pid>` complete: a save was interrupted between its two renames
    if (hasBackup(p)) return p;
    throw new UsageError(`${subject}: no such checkpoint directory`);
  }
  if (!st.isDirectory())
    throw new UsageError(`${subject}: is a file; pass the run directory or the checkpoint directory that holds it${holderHint(p, flag)}`);
  try {
    accessSync(p, constants.R_OK | constants.X_OK);
  } catch (e) {
    throw pathError(e, subject);
  }
  const inner = join(p, CHECKPOINT_SUBDIR);
  if (statOrNull(inner, subject, 'pass the run directory or the checkpoint directory')?.isDirectory() || hasBackup(inner)) return inner;
  return p;
}

/** `, e.g. --checkpoint runs/x` when `file` is one of a checkpoint's files (the run or checkpoint directory above it). */
function holderHint(file: string, flag: string | undefined): string {
  if (!CHECKPOINT_NAMES.includes(basename(file)) && !basename(file).endsWith('.safetensors')) return '';
  const dir = dirname(file);
  const run = basename(dir) === CHECKPOINT_SUBDIR ? dirname(dir) : dir;
  return `, e.g. ${flag ? `${flag} ` : ''}${displayPath(run)}`;
}

function hasBackup(dir: string): boolean {
  return resolveCompleteDir(dir) !== null;
}

/**
 * Loads and verifies a checkpoint (run directory or checkpoint directory), or reads a plain HuggingFace
 * model folder (`config.json` + `model.safetensors`, no `manifest.json` and none of our trainer files).
 * `flag` (e.g. `--resume`) prefixes the messages about the path.
 * @throws UsageError if the path does not exist, is a file, cannot be read, or is a folder with none of a
 *   checkpoint's files; FormatError if it is not a complete checkpoint (message says what is missing or
 *   corrupted), or an HF folder's weights cannot be read (a refused pickle names the global).
 */
export function loadCheckpoint(path: string, flag?: string): LoadedCheckpoint {
  const subject = flag ? `${flag} ${path}` : path;
  try {
    return loadCheckpointUnchecked(path, flag);
  } catch (e) {
    throw pathError(e, subject); // a raw EACCES/ENOTDIR from a file inside becomes one typed line
  }
}

/**
 * `checkpointDirFor`, and a folder with none of a checkpoint's files (no config.json, model.safetensors,
 * manifest.json or trainer files, and no backup of an interrupted save) is refused as not a checkpoint at
 * all: the CLI runs this on `--checkpoint`/`--resume` before any work. Returns the checkpoint directory.
 * @throws UsageError naming `flag` (as `checkpointDirFor`, and for a folder that is not a checkpoint).
 */
export function checkCheckpointPath(path: string, flag?: string): string {
  const subject = flag ? `${flag} ${path}` : path;
  const dir = checkpointDirFor(path, flag);
  if (existsSync(dir) && !CHECKPOINT_NAMES.some((n) => existsSync(join(dir, n))) && !hasBackup(dir)) {
    throw new UsageError(
      `${subject}${dir !== resolve(path) ? ` (${displayPath(dir)})` : ''}: not a checkpoint (no ${CHECKPOINT_FILES.config}, ${CHECKPOINT_FILES.weights} or ${MANIFEST}); ` +
        `pass a run directory (holding ${CHECKPOINT_SUBDIR}/), a checkpoint directory, or a HuggingFace folder`,
    );
  }
  return dir;
}

function loadCheckpointUnchecked(path: string, flag: string | undefined): LoadedCheckpoint {
  const dir = checkCheckpointPath(path, flag);
  const found = resolveCompleteDir(dir);
  if (found === null) {
    if (isHuggingFaceFolder(dir)) return loadHuggingFaceFolder(dir);
    if (existsSync(dir) && statSync(dir).isDirectory()) readDirChecked(dir); // throws the precise reason
    throw new FormatError(`${path}: not a complete checkpoint`);
  }
  const { files, manifest } = readDirChecked(found);
  for (const name of [CHECKPOINT_FILES.config, CHECKPOINT_FILES.weights]) {
    if (!files[name]) throw new FormatError(`${found}: no ${name}`);
  }
  const snapshot = files[CHECKPOINT_FILES.trainerState] ? decodeTrainerSnapshot(files, found) : null;
  return {
    dir: found,
    recovered: found !== dir,
    config: files[CHECKPOINT_FILES.config]!,
    weights: files[CHECKPOINT_FILES.weights]!,
    snapshot,
    manifest,
    tokenizer: files[SPIECE_MODEL] ?? null,
    weightsSource: CHECKPOINT_FILES.weights,
  };
}

/**
 * A folder HF's `save_pretrained` could have written: a `config.json`, no manifest, and none of our
 * trainer files (a reformer-ts checkpoint that lost its manifest is an interrupted save, not this).
 */
function isHuggingFaceFolder(dir: string): boolean {
  const has = (name: string): boolean => existsSync(join(dir, name));
  return (
    existsSync(dir) &&
    statSync(dir).isDirectory() &&
    has(CHECKPOINT_FILES.config) &&
    !has(MANIFEST) &&
    !has(CHECKPOINT_FILES.trainerState) &&
    !has(CHECKPOINT_FILES.optimizer)
  );
}

/** Reads an HF folder (hf-folder.ts); the model validates config and weights when it loads them. */
function loadHuggingFaceFolder(dir: string): LoadedCheckpoint {
  const f = readHfFolder(dir);
  return { dir, recovered: false, ...f, snapshot: null, manifest: null };
}
