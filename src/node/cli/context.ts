/**
 * What the CLI commands run against: output streams, the model engines, the backend factory and the
 * package root. `defaultContext()` is the real one; tests pass their own (other streams, the bigram
 * engine) to `runCli`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../backend/backend.js';
import { ReferenceBackend } from '../../backend/reference.js';
import { ReformerError, UsageError } from '../../errors.js';
import { bigramEngine } from '../bigram-engine.js';
import type { ModelEngine } from '../engine.js';
import { reformerEngine } from '../reformer-engine.js';
import { loadWasmBackend } from '../wasm.js';

/** Exit codes of `reformer` (documented in `--help`). */
export const EXIT = {
  ok: 0,
  /** runtime failure: NumericalError, ResourceError, I/O errors, anything unexpected */
  failure: 1,
  /** usage or input error: UsageError, ConfigError, FormatError, ShapeError, bad flags */
  usage: 2,
  /** the command or option is not available in this build yet */
  unavailable: 3,
} as const;

/** A command whose engine is not in this build yet (exit code 3). */
export class NotAvailableError extends ReformerError {}

export type BackendKind = 'auto' | 'wasm' | 'reference';
export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'wasm', 'reference'];

export interface OutStream {
  write(text: string): boolean;
  isTTY?: boolean;
}

export interface CliContext {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** Engine of new models (`train`, `demo`). */
  readonly engine: ModelEngine;
  /** Engines that load checkpoints, chosen by config.json's `model_type`. */
  readonly engines: readonly ModelEngine[];
  /** The compute backend (`threads`: `--threads`, undefined = all cores); `note` is printed (e.g. why a fallback was taken). */
  createBackend(kind: BackendKind, threads: number | undefined): Promise<{ backend: Backend; note: string | null }>;
  /** Package root (holds `data/` and `package.json`). */
  readonly packageRoot: string;
  /** Install SIGINT/SIGTERM handlers during training (off for in-process tests). */
  readonly handleSignals: boolean;
  /** Milliseconds after the first signal in which another is a copy of it (StopSignals; default 500). */
  readonly signalDuplicateWindowMs?: number;
}

/** The package root: the nearest ancestor of this file with the package.json of reformer-ts. */
export function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'reformer-ts') return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('reformer: cannot find the package root (package.json of reformer-ts)');
    dir = up;
  }
}

/**
 * Reference or WASM backend. `auto` = WASM if its builds load, else the reference backend (with a note).
 * The WASM backend runs on `threads` threads (undefined: all cores); the reference backend on one.
 */
export async function createBackend(kind: BackendKind, threads: number | undefined): Promise<{ backend: Backend; note: string | null }> {
  const threadNote = threads !== undefined && threads > 1 ? `--threads ${threads}: the reference backend runs on one thread` : null;
  if (kind === 'reference') return { backend: new ReferenceBackend(), note: threadNote };
  try {
    const backend = await loadWasmBackend(threads !== undefined ? { threads } : {});
    return { backend, note: null };
  } catch (e) {
    if (kind === 'wasm') {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--backend wasm: the WASM backend cannot be loaded here (${(e as Error).message})`);
    }
    const why = `the WASM backend is unavailable (${(e as Error).message}); using the slower reference backend`;
    return { backend: new ReferenceBackend(), note: threadNote ? `${why}; ${threadNote}` : why };
  }
}

export function defaultContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    engine: reformerEngine,
    engines: [reformerEngine, bigramEngine],
    createBackend,
    packageRoot: findPackageRoot(),
    handleSignals: true,
  };
}
