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
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, FormatError, ShapeError, UsageError } from '../errors.js';
import { bytesArg, describeValue, optionsArg, pathArg } from '../util/args.js';
import { CHECKPOINT_FILES, decodeTrainerSnapshot, encodeTrainerSnapshot } from '../train/checkpoint.js';
import type { TrainerSnapshot } from '../train/trainer.js';
import {
  MANIFEST,
  readDirChecked,
  resolveCompleteDir,
  sha256,
  writeDirAtomic,
  writeManifest,
  type AtomicDirHooks,
  type Manifest,
} from './atomic.js';
import { readHfFolder } from './hf-folder.js';
import { displayPath, pathError, statOrNull } from './paths.js';
import { SPIECE_MODEL } from '../tokenizer/index.js';

/** Name of the checkpoint directory inside a run directory. */
export const CHECKPOINT_SUBDIR = 'checkpoint';

/** What a checkpoint holds besides the manifest. */
export interface CheckpointParts {
  /** `config.json` text or bytes (e.g. `lmCheckpointToBytes(lm).config`). */
  readonly config: string | Uint8Array;
  /** `model.safetensors` bytes. */
  readonly weights: Uint8Array;
  /** Trainer state; absent for an inference-only checkpoint. */
  readonly snapshot?: TrainerSnapshot | null;
  /** `spiece.model` bytes of a SentencePiece model (written next to the weights); absent: byte tokenizer. */
  readonly tokenizer?: Uint8Array | null;
}

/** Writes a checkpoint directory atomically (the previous one stays intact until the new one is complete). */
export function saveCheckpoint(dir: string, parts: CheckpointParts, hooks: AtomicDirHooks = {}): void {
  pathArg('saveCheckpoint', 'dir', dir);
  optionsArg('saveCheckpoint', parts, '{ config: em.configJson(), weights: em.weights() }', false);
  if (typeof parts.config !== 'string' && !(parts.config instanceof Uint8Array)) {
    throw new ShapeError(`saveCheckpoint: parts.config must be the config.json text or bytes, got ${describeValue(parts.config)}`);
  }
  bytesArg('saveCheckpoint', 'parts.weights', parts.weights);
  if (parts.tokenizer != null) bytesArg('saveCheckpoint', 'parts.tokenizer', parts.tokenizer);
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
  /**
   * With `inferenceOnly`: why the trainer files were left out (missing, differing from the manifest, or
   * not a valid trainer state), one message each; empty otherwise.
   */
  readonly warnings: readonly string[];
}

/** Options of `loadCheckpoint`. */
export interface LoadCheckpointOptions {
  /**
   * The caller needs only the model (`config.json`, `model.safetensors`): a damaged or missing
   * `trainer_state.json` / `optimizer.safetensors` is reported in `warnings` and `snapshot` is null,
   * instead of refusing the checkpoint (eval, generate, verify). Default false (resume needs them).
   */
  readonly inferenceOnly?: boolean;
}

/** The trainer's files of a checkpoint (what `inferenceOnly` may do without). */
const TRAINER_FILES: readonly string[] = [CHECKPOINT_FILES.trainerState, CHECKPOINT_FILES.optimizer];

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
  pathArg('checkpointDirFor', 'path', path);
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
 *   corrupted, and for a file edited on purpose how to record it: `reformer checkpoint rehash`), or an
 *   HF folder's weights cannot be read (a refused pickle names the global). With
 *   `options.inferenceOnly`, problems of the trainer files are `warnings` instead.
 */
export function loadCheckpoint(path: string, flag?: string, options: LoadCheckpointOptions = {}): LoadedCheckpoint {
  pathArg('loadCheckpoint', 'path', path);
  optionsArg('loadCheckpoint', options, '{ inferenceOnly: true }');
  const subject = flag ? `${flag} ${path}` : path;
  try {
    return loadCheckpointUnchecked(path, flag, options.inferenceOnly === true);
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
  pathArg('checkCheckpointPath', 'path', path);
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

function loadCheckpointUnchecked(path: string, flag: string | undefined, inferenceOnly: boolean): LoadedCheckpoint {
  const dir = checkCheckpointPath(path, flag);
  const tolerate = inferenceOnly ? TRAINER_FILES : [];
  let found = resolveCompleteDir(dir);
  if (found === null) {
    if (isHuggingFaceFolder(dir)) return loadHuggingFaceFolder(dir);
    if (!(existsSync(dir) && statSync(dir).isDirectory())) throw new FormatError(`${path}: not a complete checkpoint`);
    readDirChecked(dir, false, tolerate); // throws the precise reason, unless only tolerated files differ
    found = dir;
  }
  const { files, manifest, problems } = readDirChecked(found, true, tolerate);
  for (const name of [CHECKPOINT_FILES.config, CHECKPOINT_FILES.weights]) {
    if (!files[name]) throw new FormatError(`${found}: no ${name}`);
  }
  const warnings = problems.map((p) => p.message);
  let snapshot: TrainerSnapshot | null = null;
  if (files[CHECKPOINT_FILES.trainerState] && warnings.length === 0) {
    try {
      snapshot = decodeTrainerSnapshot(files, found);
    } catch (e) {
      if (!inferenceOnly || !(e instanceof FormatError)) throw e;
      warnings.push(e.message);
    }
  }
  return {
    dir: found,
    recovered: found !== dir,
    config: files[CHECKPOINT_FILES.config]!,
    weights: files[CHECKPOINT_FILES.weights]!,
    snapshot,
    manifest,
    tokenizer: files[SPIECE_MODEL] ?? null,
    weightsSource: CHECKPOINT_FILES.weights,
    warnings,
  };
}

/** What `rehashCheckpoint` recorded for one file. */
export interface RehashedFile {
  readonly name: string;
  readonly bytes: number;
  /** Size in the old manifest (null: the file was not listed). */
  readonly previousBytes: number | null;
  /** Whether the contents differ from what the old manifest recorded. */
  readonly changed: boolean;
  /** A trainer file that was deleted (the checkpoint becomes inference-only): no longer listed. */
  readonly removed: boolean;
}

/**
 * Records the current contents of a checkpoint's files in a new `manifest.json`, after a file was
 * edited on purpose (e.g. a field of `config.json`): the files are checked first (`validate`, e.g.
 * that the model loads from config.json + model.safetensors; `trainer_state.json` must be a valid
 * trainer state), then a new manifest listing them replaces the old one atomically (`writeManifest`;
 * the files are not rewritten). Trainer files that were deleted are no longer listed.
 * @param validate throws for files that do not make a usable checkpoint (FormatError / ConfigError).
 * @throws UsageError if `path` is not a checkpoint directory with a manifest (an HF folder has none and
 *   needs none); FormatError if a listed file is missing or the trainer state is not valid (with how to
 *   keep an inference-only checkpoint); what `validate` throws.
 */
export function rehashCheckpoint(
  path: string,
  validate: (config: Uint8Array, weights: Uint8Array, dir: string) => void,
  flag = 'checkpoint rehash',
): { dir: string; files: RehashedFile[] } {
  pathArg('rehashCheckpoint', 'path', path);
  if (typeof validate !== 'function') {
    throw new ConfigError(
      'validate',
      `rehashCheckpoint needs a function that checks config.json + model.safetensors, got ${describeValue(validate)}`,
    );
  }
  const dir = checkCheckpointPath(path, flag);
  const mpath = join(dir, MANIFEST);
  if (!existsSync(mpath)) {
    throw new UsageError(
      `${flag} ${path}: ${displayPath(dir)} has no ${MANIFEST}${isHuggingFaceFolder(dir) ? ' (a HuggingFace folder: it is read as it is, with nothing to rehash)' : '; not a reformer-ts checkpoint'}`,
    );
  }
  let old: Manifest;
  try {
    old = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
  } catch (e) {
    throw new FormatError(`${mpath}: not valid JSON (${(e as Error).message})`);
  }
  if (old?.format !== 'reformer-ts.checkpoint' || typeof old.files !== 'object' || old.files === null) {
    throw new FormatError(`${mpath}: not a reformer-ts checkpoint manifest`);
  }
  const files: Record<string, Uint8Array> = {};
  const removed: string[] = [];
  for (const name of Object.keys(old.files)) {
    if (name !== basename(name) || name === MANIFEST) throw new FormatError(`${mpath}: lists "${name}", which is not a plain file name`);
    const p = join(dir, name);
    if (!existsSync(p) || !statSync(p).isFile()) {
      if (TRAINER_FILES.includes(name)) {
        removed.push(name); // an inference-only checkpoint needs no trainer files
        continue;
      }
      throw new FormatError(
        `${dir}: ${name} is listed in the manifest but missing; restore it (a checkpoint cannot be rehashed without it)`,
      );
    }
    files[name] = new Uint8Array(readFileSync(p));
  }
  const config = files[CHECKPOINT_FILES.config];
  const weights = files[CHECKPOINT_FILES.weights];
  if (!config || !weights)
    throw new FormatError(`${dir}: the manifest does not list ${CHECKPOINT_FILES.config} and ${CHECKPOINT_FILES.weights}`);
  try {
    validate(config, weights, dir);
  } catch (e) {
    // name the folder the bad config.json / model.safetensors came from (nothing has been written)
    if (!(e instanceof FormatError) || e.message.includes(dir)) throw e;
    throw new FormatError(`${displayPath(dir)}: ${e.message}; nothing was rewritten`);
  }
  if (files[CHECKPOINT_FILES.trainerState] || files[CHECKPOINT_FILES.optimizer]) {
    try {
      decodeTrainerSnapshot(files, dir);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      throw new FormatError(
        `${e.message}; fix it, or delete both ${CHECKPOINT_FILES.trainerState} and ${CHECKPOINT_FILES.optimizer} and rehash again to keep an inference-only checkpoint (eval, generate, verify)`,
      );
    }
  }
  const listed = old.files as Record<string, { bytes?: unknown; sha256?: unknown }>;
  const previous = (name: string): number | null => (typeof listed[name]?.bytes === 'number' ? (listed[name].bytes as number) : null);
  const report: RehashedFile[] = [
    ...Object.entries(files).map(([name, bytes]) => ({
      name,
      bytes: bytes.byteLength,
      previousBytes: previous(name),
      changed: previous(name) !== bytes.byteLength || listed[name]?.sha256 !== sha256(bytes),
      removed: false,
    })),
    ...removed.map((name) => ({ name, bytes: 0, previousBytes: previous(name), changed: true, removed: true })),
  ];
  writeManifest(dir, files);
  return { dir, files: report };
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
  return { dir, recovered: false, ...f, snapshot: null, manifest: null, warnings: [] };
}
