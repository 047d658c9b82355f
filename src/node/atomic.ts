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
import { FormatError } from '../errors.js';

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
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeSynced(tmp, data);
  renameSync(tmp, path);
  fsyncDir(dir);
}

/**
 * Writes `files` (name -> content; plain names, no sub-folders) as the directory `dir`, atomically (see
 * the file header). `manifest.json` is added.
 * @throws FormatError for a file name with a path separator or named like the manifest.
 */
export function writeDirAtomic(dir: string, files: Readonly<Record<string, Uint8Array | string>>, hooks: AtomicDirHooks = {}): void {
  const target = resolve(dir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  removeStale(target);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const listed: Record<string, { bytes: number; sha256: string }> = {};
  for (const [name, content] of Object.entries(files)) {
    if (name === MANIFEST || name !== basename(name) || name === '' || name.startsWith('.')) {
      throw new FormatError(`checkpoint file name "${name}" is not allowed (plain names only, not ${MANIFEST})`);
    }
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    writeSynced(join(tmp, name), bytes);
    listed[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
    hooks.afterFile?.(name);
  }
  const manifest: Manifest = { format: 'reformer-ts.checkpoint', version: 1, created: new Date().toISOString(), files: listed };
  writeSynced(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
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

/**
 * Reads and checks a directory written by `writeDirAtomic`.
 * @param verifyHashes also check each file's SHA-256 (default true).
 * @throws FormatError if the manifest is missing or malformed, or a listed file is missing or differs.
 */
export function readDirChecked(dir: string, verifyHashes = true): { files: Record<string, Uint8Array>; manifest: Manifest } {
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
    const p = join(dir, name);
    if (!existsSync(p)) throw new FormatError(`${dir}: ${name} is listed in the manifest but missing`);
    const st = statSync(p);
    if (!st.isFile()) throw new FormatError(`${dir}: ${name} is listed in the manifest but is not a regular file`);
    // sizes are compared before reading, so a wrong file is never read whole
    if (st.size !== entry.bytes) throw new FormatError(`${dir}: ${name} has ${st.size} bytes, the manifest says ${entry.bytes}`);
    const bytes = new Uint8Array(readFileSync(p));
    if (bytes.byteLength !== entry.bytes)
      throw new FormatError(`${dir}: ${name} has ${bytes.byteLength} bytes, the manifest says ${entry.bytes}`);
    if (verifyHashes && sha256(bytes) !== entry.sha256)
      throw new FormatError(`${dir}: ${name} does not match its SHA-256 in the manifest (corrupted?)`);
    files[name] = bytes;
  }
  return { files, manifest };
}

/**
 * The complete version of `dir`: `dir` itself if its manifest checks out, else the newest complete
 * `<dir>.old-<pid>` left by a crash between the two renames, else null.
 */
export function resolveCompleteDir(dir: string): string | null {
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

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
