/**
 * Paths the user passes (`--checkpoint`, `--resume`, `--out`): file-system failures that another path
 * would fix (a file where a directory is expected, a path through a file, permission denied) become one
 * UsageError line naming the flag, what was given and what to pass instead, instead of a raw
 * `ENOTDIR: not a directory, scandir ...`. Failures of the machine (EIO, ENOSPC) stay runtime errors.
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { pathArg } from '../util/args.js';

/** The `code` of a Node file-system error (`ENOENT`, `EACCES`, ...), or undefined. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `p` for messages: relative to the working directory when inside it, else absolute. */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), resolve(p));
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? resolve(p) : rel;
}

/** The first existing ancestor of `path` (or `path` itself) that is not a directory; null if none. */
export function fileOnPath(path: string): string | null {
  const chain: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      return null;
    }
    if (!st.isDirectory()) return p;
  }
  return null;
}

/**
 * A UsageError for a file-system error about what the user passed (`subject`, e.g. `--checkpoint runs/x`),
 * or `e` itself when another path would not help (I/O errors, a full disk: runtime failures, exit 1)
 * or it is not a file-system error.
 */
export function pathError(e: unknown, subject: string, fix = 'pass a directory'): unknown {
  const err = e as NodeJS.ErrnoException;
  const where = typeof err?.path === 'string' ? err.path : null;
  switch (errnoCode(e)) {
    case 'ENOTDIR': {
      const file = fileOnPath(where ?? subject);
      return new UsageError(`${subject}: ${file ? displayPath(file) : (where ?? 'a part of the path')} is a file, not a directory; ${fix}`);
    }
    case 'EACCES':
    case 'EPERM':
      return new UsageError(
        `${subject}: permission denied${where ? ` on ${where}` : ''}; give this user access to it or pass another path`,
      );
    case 'ELOOP':
      return new UsageError(`${subject}: too many levels of symbolic links${where ? ` at ${where}` : ''}`);
    case 'ENAMETOOLONG':
      return new UsageError(`${subject}: the path is too long`);
    case 'EISDIR':
      return new UsageError(`${subject}: ${where ?? 'a file of it'} is a directory where a file was expected`);
    case 'ENOENT':
      return new UsageError(
        `${subject}: ${where ?? 'a file of it'} disappeared while it was read (another process changing it?); try again`,
      );
    default:
      return e;
  }
}

/** `statSync(path)`, null if nothing is there; other failures as `pathError(e, subject, fix)`. */
export function statOrNull(path: string, subject: string, fix?: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw pathError(e, subject, fix);
  }
}

/**
 * Checks, before any work, that `path` can be the output directory of a run: it is a directory this user
 * can write into, or it does not exist and its nearest existing ancestor is a writable directory.
 * `subject` names the flag (`--out runs/x`); `unwritable` is the fix for a directory this user cannot write to.
 * @throws UsageError naming the flag, what is there and what to pass instead.
 */
export function checkOutputDir(path: string, subject = String(path), unwritable = 'pass a directory this user can write to'): void {
  pathArg('checkOutputDir', 'path', path);
  const target = resolve(path);
  const fix = 'pass a directory for the run (a new one is created)';
  const file = fileOnPath(target);
  if (file !== null && file !== target)
    throw new UsageError(`${subject}: ${displayPath(file)} is a file, so no directory can be created under it; ${fix}`);
  let p = target;
  let st = statOrNull(p, subject, fix);
  while (st === null && dirname(p) !== p) {
    p = dirname(p);
    st = statOrNull(p, subject, fix);
  }
  if (st === null) throw new UsageError(`${subject}: no existing folder on the path to create it in`);
  if (!st.isDirectory()) throw new UsageError(`${subject}: is a file, not a directory; ${fix}`);
  try {
    accessSync(p, constants.W_OK | constants.X_OK);
  } catch (e) {
    if (errnoCode(e) !== 'EACCES' && errnoCode(e) !== 'EPERM' && errnoCode(e) !== 'EROFS') throw pathError(e, subject);
    const what = p === target ? 'is not writable' : `cannot be created: ${displayPath(p)} is not writable`;
    throw new UsageError(
      `${subject}: ${what} (${errnoCode(e) === 'EROFS' ? 'read-only file system' : 'permission denied'}); ${unwritable}`,
    );
  }
}
