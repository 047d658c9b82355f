/**
 * Node adapter of the WASM backend: reads the kernel builds from this package's `build/` folder,
 * enables relaxed SIMD in V8 before compiling, and picks the best build this process can run.
 *
 *   const be = await loadWasmBackend();                       // relaxed if possible, shared memory, all cores
 *   const be = loadWasmBackendSync({ variant: 'simd' });      // force the plain SIMD build
 *   const be = await loadWasmBackend({ threads: 1 });         // no worker threads
 *   be.close();                                               // stops the workers (they never keep the process alive)
 *
 * Relaxed SIMD: Node 20 (V8 11.3) rejects relaxed opcodes unless `--experimental-wasm-relaxed-simd` is
 * set; this module sets it with `v8.setFlagsFromString` (allowed after start-up for this flag, and
 * modules compiled afterwards can also be used by workers), then asks `WebAssembly.validate` whether
 * the relaxed build is accepted; if not, the plain SIMD build is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { optionsArg, pathArg } from '../util/args.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import { UsageError } from '../errors.js';
import {
  instantiateWasmBackend,
  instantiateWasmBackendSync,
  sharedMemoryAvailable,
  wasmBuildFileName,
  type WasmBackendOptions,
  type WasmVariant,
} from '../backend/wasm/load.js';
import type { WasmBackend } from '../backend/wasm/wasm-backend.js';
import { WorkerPool } from './threads/pool.js';

export interface LoadWasmBackendOptions extends WasmBackendOptions {
  /** 'auto' (default): relaxed SIMD if this engine accepts it, else plain SIMD. */
  variant?: 'auto' | WasmVariant;
  /** 'auto' (default): a shared memory if SharedArrayBuffer is available. */
  shared?: 'auto' | boolean;
  /** Folder with the `kernels.*.wasm` builds. Default: the package's `build/`. */
  buildDir?: string;
  /**
   * Compute threads, the calling thread included (an integer in [1, 256]). Default: all cores
   * (`os.availableParallelism()`), or 1 when the memory is not shared. More than 1 starts
   * `threads − 1` worker threads on the shared memory (src/node/threads/pool.ts); results are
   * bit-identical for any thread count. Stop them with `backend.close()` (they are unref'ed: an
   * idle pool never keeps the process alive).
   */
  threads?: number;
  /** Milliseconds the threads spin before sleeping after a split operation. Default 0.5. */
  spinMs?: number;
}

/** Default `threads`: the cores this process may use. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(256, availableParallelism()));
}

/** The thread count to use, or a UsageError for an invalid or impossible request. */
function resolveThreads(options: LoadWasmBackendOptions, shared: boolean): number {
  const t = options.threads;
  if (t === undefined) return shared ? defaultThreads() : 1;
  if (!Number.isInteger(t) || t < 1 || t > 256) throw new UsageError(`threads must be an integer in [1, 256], got ${t}`);
  if (t > 1 && !shared) {
    throw new UsageError(
      `threads: ${t} needs a shared WebAssembly memory, but ${options.shared === false ? 'shared: false was requested' : 'SharedArrayBuffer is unavailable'}; use threads: 1`,
    );
  }
  return t;
}

/** Stops the pool of a backend that became unreachable without `close()` (the workers hold memory and threads). */
const poolFinalizer = new FinalizationRegistry<WorkerPool>((pool) => pool.close());

/** Attaches a worker pool of `threads` to a freshly loaded backend (returns the pool, or null for 1 thread). */
function attachPool(backend: WasmBackend, module: WebAssembly.Module, threads: number, options: LoadWasmBackendOptions): WorkerPool | null {
  if (threads <= 1) return null;
  const pool = new WorkerPool({
    module,
    memory: backend.arena.memory,
    threads,
    ...(options.spinMs !== undefined ? { spinMs: options.spinMs } : {}),
  });
  backend.setExecutor(pool);
  poolFinalizer.register(backend, pool);
  return pool;
}

let relaxedFlagSet = false;
const moduleCache = new Map<string, WebAssembly.Module>();
const bytesCache = new Map<string, Uint8Array<ArrayBuffer>>();

/** Sets V8's relaxed-SIMD flag once (before any relaxed module is compiled). */
function enableRelaxedSimd(): void {
  if (relaxedFlagSet) return;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  relaxedFlagSet = true;
}

/** The package's build folder: ../../build from src/node (sources) or ../../../build from dist/src/node. */
export function defaultBuildDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', 'build'), join(here, '..', '..', '..', 'build')];
  for (const dir of candidates) if (existsSync(join(dir, wasmBuildFileName('simd', false)))) return dir;
  throw new UsageError(
    `the WASM kernels are not built: no ${wasmBuildFileName('simd', false)} in ${candidates.join(' or ')}; run npm run build:wasm`,
  );
}

function readBuild(dir: string, file: string): Uint8Array<ArrayBuffer> {
  const path = join(dir, file);
  let bytes = bytesCache.get(path);
  if (!bytes) {
    if (!existsSync(path)) throw new UsageError(`WASM build ${path} is missing; run npm run build:wasm`);
    bytes = new Uint8Array(readFileSync(path));
    bytesCache.set(path, bytes);
  }
  return bytes;
}

/** True if this process can run the relaxed-SIMD build (enables the V8 flag first). */
export function relaxedSimdSupported(buildDir: string = defaultBuildDir()): boolean {
  pathArg('relaxedSimdSupported', 'buildDir', buildDir);
  enableRelaxedSimd();
  return WebAssembly.validate(readBuild(buildDir, wasmBuildFileName('relaxed-simd', false)));
}

function resolve(options: LoadWasmBackendOptions): { variant: WasmVariant; shared: boolean; path: string; bytes: Uint8Array<ArrayBuffer> } {
  optionsArg('loadWasmBackend', options, '{ threads: 2 }');
  if (options.buildDir !== undefined) pathArg('loadWasmBackend', 'buildDir', options.buildDir);
  const dir = options.buildDir ?? defaultBuildDir();
  const shared = options.shared === undefined || options.shared === 'auto' ? sharedMemoryAvailable() : options.shared;
  const want = options.variant ?? 'auto';
  let variant: WasmVariant;
  if (want === 'simd') {
    variant = 'simd';
  } else {
    const ok = relaxedSimdSupported(dir);
    if (!ok && want === 'relaxed-simd') {
      throw new UsageError(
        'variant relaxed-simd was requested but this engine rejects relaxed SIMD even with --experimental-wasm-relaxed-simd; use variant simd',
      );
    }
    variant = ok ? 'relaxed-simd' : 'simd';
  }
  const path = join(dir, wasmBuildFileName(variant, shared));
  return { variant, shared, path, bytes: readBuild(dir, wasmBuildFileName(variant, shared)) };
}

function compiled(path: string, bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module {
  let module = moduleCache.get(path);
  if (!module) {
    module = new WebAssembly.Module(bytes);
    moduleCache.set(path, module);
  }
  return module;
}

/**
 * Loads the WASM backend from the package's builds.
 * @throws UsageError if the builds are missing, or a forced relaxed variant is unsupported
 * @throws ResourceError if the memory cannot be created
 */
export async function loadWasmBackend(options: LoadWasmBackendOptions = {}): Promise<WasmBackend> {
  const r = resolve(options);
  const threads = resolveThreads(options, r.shared);
  let module = moduleCache.get(r.path);
  if (!module) {
    module = await WebAssembly.compile(r.bytes);
    moduleCache.set(r.path, module);
  }
  const backend = await instantiateWasmBackend({ ...options, source: module, variant: r.variant, shared: r.shared });
  const pool = attachPool(backend, module, threads, options);
  if (pool) {
    try {
      await pool.ready();
    } catch (e) {
      backend.close();
      throw new UsageError(`could not start ${threads - 1} worker thread(s) for the WASM kernels: ${(e as Error).message}; use threads: 1`);
    }
  }
  return backend;
}

/** Synchronous `loadWasmBackend` (the workers finish starting in the background; the first split operation waits for them). */
export function loadWasmBackendSync(options: LoadWasmBackendOptions = {}): WasmBackend {
  const r = resolve(options);
  const threads = resolveThreads(options, r.shared);
  const module = compiled(r.path, r.bytes);
  const backend = instantiateWasmBackendSync({ ...options, source: module, variant: r.variant, shared: r.shared });
  attachPool(backend, module, threads, options);
  return backend;
}
