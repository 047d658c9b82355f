/**
 * Crash-safe writes.
 *
 * File: `writeFileAtomic(path, data)` writes `<path>.tmp-<pid>` in the same directory, fsyncs it,
 * renames it over `path` (atomic on POSIX file systems) and fsyncs the directory. A reader sees the old
 * file or the new one, never a mix.
 *
 * Directory: `writeDirAtomic(dir, files)` writes every file into `<dir>.tmp-<pid>` (each fsynced), then
 * `manifest.json` LAST (file names, byte sizes, SHA-256), fsyncs the directory, and swaps it in:
 *
 *   rename(dir -> <dir>.old-<pid>);  rename(<dir>.tmp-<pid> -> dir);  fsync(parent);  delete <dir>.old-<pid>
 *
 * so the previous version stays complete on disk until the new one is complete. After a crash:
 * - during the writing: `dir` is the previous version, untouched; a stale `.tmp-<pid>` is left and
 *   removed by the next write (its process is gone);
 * - between the two renames: `dir` is missing and `<dir>.old-<pid>` holds the previous version;
 *   `resolveCompleteDir(dir)` finds it (and the next write restores it first).
 * A directory counts as complete only if its manifest exists and every listed file has the listed size
 * (and hash, when verified).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FormatError, ShapeError } from '../errors.js';
import { describeValue, optionsArg, pathArg } from '../util/args.js';
import { displayPath, pathError } from './paths.js';

export const MANIFEST = 'manifest.json';

/** Stages of `writeDirAtomic`, for tests that simulate a crash at each. */
export interface AtomicDirHooks {
  /** After each data file is written and fsynced into the temporary directory. */
  afterFile?(name: string): void;
  /** After the manifest, before anything is renamed. */
  beforeSwap?(): void;
  /** After the previous version was moved aside, before the new one is renamed into place. */
  afterBackup?(): void;
}

export interface Manifest {
  readonly format: 'reformer-ts.checkpoint';
  readonly version: 1;
  readonly created: string;
  readonly files: Readonly<Record<string, { readonly bytes: number; readonly sha256: string }>>;
}

/** Writes `data` to `path` atomically (temp file in the same directory + fsync + rename + directory fsync). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  pathArg('writeFileAtomic', 'path', path);
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new ShapeError(`writeFileAtomic: data must be a string or a Uint8Array, got ${describeValue(data)}`);
  }
  const dir = dirname(resolve(path));
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dir, { recursive: true });
    writeSynced(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true, recursive: true });
    throw pathError(e, `writeFileAtomic ${path}`, 'pass the path of a file in a directory this user can write to');
  }
  fsyncDir(dir);
}

/**
 * Writes `files` (name -> content; plain names, no sub-folders) as the directory `dir`, atomically (see
 * the file header). `manifest.json` is added.
 * @throws FormatError for a file name with a path separator or named like the manifest.
 */
export function writeDirAtomic(dir: string, files: Readonly<Record<string, Uint8Array | string>>, hooks: AtomicDirHooks = {}): void {
  pathArg('writeDirAtomic', 'dir', dir);
  optionsArg('writeDirAtomic', files, "{ 'config.json': text, 'model.safetensors': bytes }", false);
  for (const [name, content] of Object.entries(files)) {
    if (typeof content !== 'string' && !(content instanceof Uint8Array)) {
      throw new ShapeError(`writeDirAtomic: ${name} must be a string or a Uint8Array, got ${describeValue(content)}`);
    }
  }
  optionsArg('writeDirAtomic: hooks', hooks, '{ afterFile(name) {} }');
  const target = resolve(dir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  removeStale(target);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const encoded: Record<string, Uint8Array> = {};
  for (const [name, content] of Object.entries(files)) {
    checkFileName(name);
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    writeSynced(join(tmp, name), bytes);
    encoded[name] = bytes;
    hooks.afterFile?.(name);
  }
  writeSynced(join(tmp, MANIFEST), manifestText(encoded));
  fsyncDir(tmp);
  hooks.beforeSwap?.();
  let backup: string | null = null;
  if (existsSync(target) && !isComplete(target)) {
    rmSync(tmp, { recursive: true, force: true });
    throw new FormatError(
      `${target} exists but is not a complete checkpoint (no valid ${MANIFEST}); move it away or choose another output directory`,
    );
  }
  if (existsSync(target)) {
    backup = `${target}.old-${process.pid}`;
    rmSync(backup, { recursive: true, force: true });
    renameSync(target, backup);
    hooks.afterBackup?.();
  }
  renameSync(tmp, target);
  fsyncDir(parent);
  if (backup) rmSync(backup, { recursive: true, force: true });
}

/** A listed file that `readDirChecked` was told to tolerate and that failed its check. */
export interface ManifestProblem {
  readonly name: string;
  /** The error it would have thrown. */
  readonly message: string;
}

/** What `readDirChecked` returns: the files that passed, the manifest, and the tolerated files that did not. */
export interface CheckedDir {
  readonly files: Record<string, Uint8Array>;
  readonly manifest: Manifest;
  /** Tolerated files (`tolerate`) that are missing or differ from the manifest (left out of `files`). */
  readonly problems: readonly ManifestProblem[];
}

/**
 * The advice appended to a file that differs from the manifest: an edit on purpose is recorded with
 * `reformer checkpoint rehash`.
 */
export function rehashHint(dir: string): string {
  return `if you changed it on purpose, record the new contents with \`reformer checkpoint rehash ${displayPath(dir)}\` (it checks the files first); else restore the file or use another checkpoint`;
}

function checkFileName(name: string): void {
  if (name === MANIFEST || name !== basename(name) || name === '' || name.startsWith('.')) {
    throw new FormatError(`checkpoint file name "${name}" is not allowed (plain names only, not ${MANIFEST})`);
  }
}

/** The `manifest.json` text listing `files` (sizes and SHA-256). */
function manifestText(files: Readonly<Record<string, Uint8Array>>): string {
  const listed: Record<string, { bytes: number; sha256: string }> = {};
  for (const [name, bytes] of Object.entries(files)) listed[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
  const manifest: Manifest = { format: 'reformer-ts.checkpoint', version: 1, created: new Date().toISOString(), files: listed };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * Replaces the manifest of `dir` (atomically: `writeFileAtomic`) by one listing `files` as they are
 * now, which must be the contents of the files of those names in `dir` (`rehashCheckpoint` reads them
 * from there). The files themselves are not touched.
 * @throws FormatError for a file name that is not a plain name.
 */
export function writeManifest(dir: string, files: Readonly<Record<string, Uint8Array>>): void {
  pathArg('writeManifest', 'dir', dir);
  optionsArg('writeManifest', files, "{ 'config.json': bytes, 'model.safetensors': bytes }", false);
  for (const [name, bytes] of Object.entries(files)) {
    checkFileName(name);
    if (!(bytes instanceof Uint8Array)) throw new ShapeError(`writeManifest: ${name} must be a Uint8Array, got ${describeValue(bytes)}`);
  }
  writeFileAtomic(join(dir, MANIFEST), manifestText(files));
}

/**
 * Reads and checks a directory written by `writeDirAtomic`.
 * @param verifyHashes also check each file's SHA-256 (default true).
 * @param tolerate listed files whose absence or mismatch is reported in `problems` instead of thrown.
 * @throws FormatError if the manifest is missing or malformed, or a listed file (not tolerated) is
 *   missing or differs (the message says how to record an edit made on purpose).
 */
export function readDirChecked(dir: string, verifyHashes = true, tolerate: readonly string[] = []): CheckedDir {
  pathArg('readDirChecked', 'dir', dir);
  const mpath = join(dir, MANIFEST);
  if (!existsSync(mpath)) {
    throw new FormatError(`${dir}: no ${MANIFEST}; not a complete checkpoint (a save may have been interrupted)`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
  } catch (e) {
    throw new FormatError(`${mpath}: not valid JSON (${(e as Error).message})`);
  }
  if (manifest?.format !== 'reformer-ts.checkpoint' || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new FormatError(`${mpath}: not a reformer-ts checkpoint manifest`);
  }
  const files: Record<string, Uint8Array> = {};
  const problems: ManifestProblem[] = [];
  for (const [name, info] of Object.entries(manifest.files as Record<string, unknown>)) {
    // a hand-edited or corrupted manifest must not read outside the directory or crash on a bad entry
    if (name === '' || name !== basename(name) || name === '.' || name === '..' || name === MANIFEST) {
      throw new FormatError(`${mpath}: lists "${name}", which is not a plain file name of the checkpoint directory`);
    }
    const entry = info as { bytes?: unknown; sha256?: unknown } | null;
    if (
      entry === null ||
      typeof entry !== 'object' ||
      !Number.isSafeInteger(entry.bytes) ||
      (entry.bytes as number) < 0 ||
      typeof entry.sha256 !== 'string'
    ) {
      throw new FormatError(
        `${mpath}: the entry of ${name} must be {"bytes": <non-negative integer>, "sha256": "<hex>"}, got ${JSON.stringify(info)}`,
      );
    }
    const bytes = readListedFile(
      dir,
      name,
      entry as { bytes: number; sha256: string },
      verifyHashes,
      tolerate.includes(name) ? problems : null,
    );
    if (bytes !== null) files[name] = bytes;
  }
  return { files, manifest, problems };
}

/**
 * One listed file, checked against its manifest entry; null (and a problem recorded) when it fails and
 * `problems` is given (a tolerated file).
 */
function readListedFile(
  dir: string,
  name: string,
  entry: { bytes: number; sha256: string },
  verifyHashes: boolean,
  problems: ManifestProblem[] | null,
): Uint8Array | null {
  const failed = (why: string, differs: boolean): null => {
    const message = `${dir}: ${name} ${why}${differs ? `; ${rehashHint(dir)}` : ''}`;
    if (problems === null) throw new FormatError(message);
    problems.push({ name, message });
    return null;
  };
  const p = join(dir, name);
  if (!existsSync(p)) return failed('is listed in the manifest but missing', false);
  const st = statSync(p);
  if (!st.isFile()) return failed('is listed in the manifest but is not a regular file', false);
  // sizes are compared before reading, so a wrong file is never read whole
  if (st.size !== entry.bytes) return failed(`has ${st.size} bytes, the manifest says ${entry.bytes}`, true);
  const bytes = new Uint8Array(readFileSync(p));
  if (bytes.byteLength !== entry.bytes) return failed(`has ${bytes.byteLength} bytes, the manifest says ${entry.bytes}`, true);
  if (verifyHashes && sha256(bytes) !== entry.sha256)
    return failed('does not match its SHA-256 in the manifest (corrupted, or edited)', true);
  return bytes;
}

/**
 * The complete version of `dir`: `dir` itself if its manifest checks out, else the newest complete
 * `<dir>.old-<pid>` left by a crash between the two renames, else null.
 */
export function resolveCompleteDir(dir: string): string | null {
  pathArg('resolveCompleteDir', 'dir', dir);
  const target = resolve(dir);
  if (isComplete(target)) return target;
  const parent = dirname(target);
  const prefix = `${basename(target)}.old-`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return null; // a parent that cannot be listed (not a directory, permission denied) holds no backup we can use
  }
  const candidates = names
    .filter((n) => n.startsWith(prefix))
    .map((n) => join(parent, n))
    .filter(isComplete)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0] ?? null;
}

function isComplete(dir: string): boolean {
  try {
    readDirChecked(dir, false);
    return true;
  } catch {
    return false;
  }
}

/**
 * Before a write: put back a `<dir>.old-*` if `dir` is missing (crash between the renames), and delete
 * temporary and backup directories of processes that no longer run.
 */
function removeStale(target: string): void {
  const parent = dirname(target);
  if (!existsSync(parent)) return;
  const base = basename(target);
  if (!isComplete(target)) {
    const old = resolveCompleteDir(target);
    if (old && old !== target) {
      rmSync(target, { recursive: true, force: true });
      renameSync(old, target);
    }
  }
  for (const n of readdirSync(parent)) {
    const m = /^(.*)\.(tmp|old)-(\d+)$/.exec(n);
    if (!m || m[1] !== base) continue;
    const pid = Number(m[3]);
    if (pid !== process.pid && isAlive(pid)) continue;
    rmSync(join(parent, n), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeSynced(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some platforms (Windows) cannot fsync a directory; the rename is still atomic there
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** SHA-256 of `bytes`, lowercase hex (the manifest's `sha256`). */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
