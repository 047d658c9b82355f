/**
 * Picks and loads the page's compute backend from the kernel builds' bytes (browser-safe; runs in
 * the compute worker):
 *
 *   - relaxed SIMD when this engine validates the relaxed build (`WebAssembly.validate`), else SIMD;
 *   - a shared memory and `threads` compute threads when the page is cross-origin isolated
 *     (`crossOriginIsolated`: served with COOP same-origin + COEP require-corp, which `npm run web`
 *     and `npm run web:preview` do): the helpers are Web Workers on the same memory
 *     (`WebWorkerPool`, src/backend/wasm/worker-executor.ts); else a private memory and one thread;
 *   - the plain TypeScript `ReferenceBackend` if the engine has no WebAssembly SIMD at all.
 * `BackendInfo` says what it got and why.
 */
import {
  type Backend,
  instantiateWasmBackend,
  type ParallelPolicy,
  ReferenceBackend,
  sharedMemoryAvailable,
  UsageError,
  wasmBuildFileName,
  type WasmVariant,
} from '../../../src/index.js';
import { WebWorkerPool } from '../../../src/index.js';

export interface BackendChoice {
  /** Default 'auto': relaxed SIMD if validated, else SIMD. */
  variant?: 'auto' | WasmVariant;
  /** Compute threads, the calling one included; default 'auto': all cores when cross-origin isolated, else 1. */
  threads?: 'auto' | number;
  /** When operations are split over threads (tests: `{ minWorkNs: 0 }` splits everything). */
  parallel?: ParallelPolicy;
}

/** What `loadBrowserBackend` got (plain data, shown on the page). */
export interface BackendInfo {
  /** e.g. `wasm-relaxed-simd`, `reference-f32`. */
  readonly name: string;
  readonly variant: WasmVariant | 'reference';
  readonly relaxedSimd: boolean;
  readonly sharedMemory: boolean;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  /** navigator.hardwareConcurrency (0 if unknown). */
  readonly cores: number;
  /** One line: what was chosen and why. */
  readonly summary: string;
}

/** Reads a kernel build by file name (`kernels.relaxed.shared.wasm`, …). */
export type BuildFetcher = (file: string) => Promise<Uint8Array<ArrayBuffer>>;

/**
 * Loads the best backend this context can run (see the file header).
 * @throws UsageError if a forced variant or thread count is impossible here (named with the reason)
 */
export async function loadBrowserBackend(
  fetchBuild: BuildFetcher,
  choice: BackendChoice = {},
): Promise<{ backend: Backend; info: BackendInfo }> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const shared = isolated && sharedMemoryAvailable();
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0;
  const wantThreads = choice.threads ?? 'auto';
  const threads = wantThreads === 'auto' ? (shared ? Math.max(1, Math.min(16, cores || 1)) : 1) : wantThreads;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256)
    throw new UsageError(`threads must be 'auto' or an integer in [1, 256], got ${threads}`);
  if (threads > 1 && !shared) {
    throw new UsageError(
      `threads: ${threads} needs a shared WebAssembly memory, and this page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); use 1 thread`,
    );
  }
  const relaxedBytes = await fetchBuild(wasmBuildFileName('relaxed-simd', shared));
  const relaxedSimd = WebAssembly.validate(relaxedBytes);
  const want = choice.variant ?? 'auto';
  if (want === 'relaxed-simd' && !relaxedSimd)
    throw new UsageError('variant relaxed-simd was requested but this engine does not validate relaxed SIMD; use simd');
  const variant: WasmVariant = want === 'simd' || !relaxedSimd ? 'simd' : 'relaxed-simd';
  const bytes = variant === 'relaxed-simd' ? relaxedBytes : await fetchBuild(wasmBuildFileName('simd', shared));
  const isolation = isolated ? 'cross-origin isolated' : 'not cross-origin isolated (no COOP/COEP headers)';
  if (!WebAssembly.validate(bytes)) {
    return {
      backend: new ReferenceBackend(),
      info: {
        name: 'reference-f32',
        variant: 'reference',
        relaxedSimd,
        sharedMemory: false,
        threads: 1,
        crossOriginIsolated: isolated,
        cores,
        summary: 'plain TypeScript reference backend: this engine has no WebAssembly SIMD (slow)',
      },
    };
  }
  const module = await WebAssembly.compile(bytes);
  const backend = await instantiateWasmBackend({
    source: module,
    variant,
    shared,
    ...(choice.parallel ? { parallel: choice.parallel } : {}),
  });
  if (threads > 1) {
    const pool = new WebWorkerPool({ module, memory: backend.arena.memory, threads });
    try {
      await pool.ready();
    } catch (e) {
      pool.close();
      throw new UsageError(`could not start ${threads - 1} Web Worker(s) for the WASM kernels: ${(e as Error).message}; use 1 thread`);
    }
    backend.setExecutor(pool);
  }
  const simd = variant === 'relaxed-simd' ? 'relaxed SIMD' : `SIMD${relaxedSimd ? '' : ' (relaxed SIMD not validated by this engine)'}`;
  const threadText =
    threads > 1 ? `${threads} threads (${isolation}, ${cores} cores)` : `1 thread (${isolated ? `requested, ${cores} cores` : isolation})`;
  return {
    backend,
    info: {
      name: backend.name,
      variant,
      relaxedSimd,
      sharedMemory: shared,
      threads,
      crossOriginIsolated: isolated,
      cores,
      summary: `WebAssembly ${simd}, ${threadText}, ${shared ? 'shared' : 'private'} memory`,
    },
  };
}
