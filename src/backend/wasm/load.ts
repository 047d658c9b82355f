/**
 * Instantiating the WASM backend from the bytes of a kernel build or from a compiled
 * `WebAssembly.Module`. Browser-safe: no file system, no paths (the Node adapter that reads
 * `build/*.wasm` is src/node/wasm.ts).
 *
 * Four builds exist (scripts/build-wasm.mjs): plain SIMD or relaxed SIMD, each importing either a
 * private or a shared memory:
 *
 *   | variant        | private memory             | shared memory                  |
 *   |----------------|----------------------------|--------------------------------|
 *   | 'simd'         | kernels.simd.wasm          | kernels.simd.shared.wasm       |
 *   | 'relaxed-simd' | kernels.relaxed.wasm       | kernels.relaxed.shared.wasm    |
 *
 * Prefer the shared build where `sharedMemoryAvailable()` (Node; browsers with cross-origin
 * isolation): its memory grows without detaching existing buffers, and worker threads can share it.
 * The relaxed builds need an engine with relaxed SIMD (Node 20: the V8 flag
 * `--experimental-wasm-relaxed-simd`; check with `WebAssembly.validate(bytes)`).
 */
import { FormatError, ResourceError, UsageError } from '../../errors.js';
import { describeValue, optionsArg } from '../../util/args.js';
import { WASM_MAX_BYTES, WASM_MAX_PAGES, WASM_PAGE_BYTES } from './arena.js';
import type { ParallelPolicy } from './executor.js';
import { KERNEL_NAMES, type KernelExports } from './kernels.generated.js';
import { WasmBackend, type WasmVariant } from './wasm-backend.js';

export type { WasmVariant } from './wasm-backend.js';

/** Default initial memory of a shared memory (it grows on demand). */
export const DEFAULT_SHARED_INITIAL_BYTES = 16 * 1024 * 1024;
/** Default reservation of a private memory (it can grow only while no buffer is live). */
export const DEFAULT_PRIVATE_INITIAL_BYTES = 256 * 1024 * 1024;

/** File name of a kernel build, e.g. `kernels.relaxed.shared.wasm`. */
export function wasmBuildFileName(variant: WasmVariant, shared: boolean): string {
  return `kernels.${variant === 'relaxed-simd' ? 'relaxed' : 'simd'}${shared ? '.shared' : ''}.wasm`;
}

/** True if this engine can create a shared WebAssembly memory (SharedArrayBuffer available). */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return typeof SharedArrayBuffer !== 'undefined' && m.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

export interface WasmBackendOptions {
  /**
   * Bytes of memory to create up front (rounded up to 64 KiB pages). Default 16 MiB for a shared memory
   * (it grows on demand) and 256 MiB for a private one (which can grow only while no buffer is live:
   * reserve what the model needs).
   */
  initialMemoryBytes?: number;
  /** Fill memory released by `scope()` with NaN to catch use after scope (tests). Default false. */
  poisonFreed?: boolean;
  /** When operations are split over threads, once an executor is attached (see WasmBackend.threads). */
  parallel?: ParallelPolicy;
}

export interface InstantiateWasmOptions extends WasmBackendOptions {
  /** The bytes of the build named by `variant` and `shared`, or that build compiled. */
  source: BufferSource | WebAssembly.Module;
  variant: WasmVariant;
  /** Whether `source` is a `.shared` build (imports a shared memory). */
  shared: boolean;
}

/**
 * The options of `instantiateWasmBackend[Sync]` (O(1)).
 * @throws ConfigError('options') without an object; UsageError for a bad source, variant or shared flag.
 */
function instantiateArgs(where: string, options: InstantiateWasmOptions): void {
  optionsArg(where, options, "{ source: wasmBytes, variant: 'simd', shared: false }", false);
  const s: unknown = options.source;
  if (!(s instanceof WebAssembly.Module) && !(s instanceof ArrayBuffer) && !ArrayBuffer.isView(s)) {
    throw new UsageError(
      `${where}: source must be the bytes of a kernel build (build/${wasmBuildFileName('simd', false)}) or that build compiled (a WebAssembly.Module), got ${describeValue(s)}`,
    );
  }
  if (options.variant !== 'simd' && options.variant !== 'relaxed-simd') {
    throw new UsageError(`${where}: variant must be 'simd' or 'relaxed-simd' (the build's variant), got ${describeValue(options.variant)}`);
  }
  if (typeof options.shared !== 'boolean') {
    throw new UsageError(`${where}: shared must be true for a .shared build and false otherwise, got ${describeValue(options.shared)}`);
  }
}

/** Creates the memory the build imports. @throws ResourceError if it cannot be created. */
function createMemory(options: InstantiateWasmOptions): WebAssembly.Memory {
  const bytes = options.initialMemoryBytes ?? (options.shared ? DEFAULT_SHARED_INITIAL_BYTES : DEFAULT_PRIVATE_INITIAL_BYTES);
  if (!Number.isFinite(bytes) || bytes < 0 || bytes > WASM_MAX_BYTES) {
    throw new UsageError(`initialMemoryBytes must be between 0 and ${WASM_MAX_BYTES} (4 GiB), got ${bytes}`);
  }
  const initial = Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES));
  try {
    return new WebAssembly.Memory({ initial, maximum: WASM_MAX_PAGES, shared: options.shared });
  } catch (e) {
    throw new ResourceError(
      `could not create a ${options.shared ? 'shared' : 'private'} WebAssembly memory of ${initial * WASM_PAGE_BYTES} bytes: ` +
        `${(e as Error).message}${options.shared ? ' (shared memory needs SharedArrayBuffer; use a non-shared build)' : ''}`,
    );
  }
}

function finish(instance: WebAssembly.Instance, memory: WebAssembly.Memory, options: InstantiateWasmOptions): WasmBackend {
  const exports = instance.exports as unknown as KernelExports;
  const missing = KERNEL_NAMES.filter((n) => typeof exports[n] !== 'function');
  if (missing.length > 0) {
    throw new FormatError(`the WASM module is not a reformer-ts kernel build: missing exports ${missing.join(', ')}`);
  }
  return new WasmBackend({
    exports,
    memory,
    variant: options.variant,
    poisonFreed: options.poisonFreed ?? false,
    ...(options.parallel ? { parallel: options.parallel } : {}),
  });
}

function linkError(e: unknown, options: InstantiateWasmOptions): Error {
  const msg = (e as Error).message ?? String(e);
  if (/memory/i.test(msg) && /shared/i.test(msg)) {
    return new UsageError(
      `the WASM module's memory import does not match shared: ${options.shared} (${msg}); use ` +
        `${wasmBuildFileName(options.variant, options.shared)} with shared: ${options.shared}`,
    );
  }
  if (e instanceof WebAssembly.CompileError) {
    return new FormatError(
      `could not compile the ${options.variant} kernels (${msg})` +
        (options.variant === 'relaxed-simd' ? '; this engine may lack relaxed SIMD: use the simd build' : ''),
    );
  }
  return e instanceof Error ? e : new Error(msg);
}

/**
 * Instantiates a kernel build (asynchronously: compiles bytes off the main thread in browsers).
 * @throws ConfigError('options') without options; UsageError (bad source, variant, shared flag or
 *   memory size, a memory import that does not match `shared`); FormatError (not a kernel build);
 *   ResourceError (no memory).
 */
export async function instantiateWasmBackend(options: InstantiateWasmOptions): Promise<WasmBackend> {
  instantiateArgs('instantiateWasmBackend', options);
  const memory = createMemory(options);
  const imports = { env: { memory } };
  try {
    if (options.source instanceof WebAssembly.Module) {
      const instance = await WebAssembly.instantiate(options.source, imports);
      return finish(instance, memory, options);
    }
    const { instance } = await WebAssembly.instantiate(options.source, imports);
    return finish(instance, memory, options);
  } catch (e) {
    throw e instanceof FormatError || e instanceof UsageError ? e : linkError(e, options);
  }
}

/**
 * Synchronous `instantiateWasmBackend` (Node, workers; browsers limit synchronous compiles on the main thread).
 * @throws as `instantiateWasmBackend`.
 */
export function instantiateWasmBackendSync(options: InstantiateWasmOptions): WasmBackend {
  instantiateArgs('instantiateWasmBackendSync', options);
  const memory = createMemory(options);
  try {
    const module = options.source instanceof WebAssembly.Module ? options.source : new WebAssembly.Module(options.source);
    return finish(new WebAssembly.Instance(module, { env: { memory } }), memory, options);
  } catch (e) {
    throw e instanceof FormatError || e instanceof UsageError ? e : linkError(e, options);
  }
}
