/**
 * Node adapter of the WASM backend: reads the kernel builds from this package's `build/` folder,
 * enables relaxed SIMD in V8 before compiling, and picks the best build this process can run.
 *
 *   const be = await loadWasmBackend();                       // relaxed if possible, shared memory
 *   const be = loadWasmBackendSync({ variant: 'simd' });      // force the plain SIMD build
 *
 * Relaxed SIMD: Node 20 (V8 11.3) rejects relaxed opcodes unless `--experimental-wasm-relaxed-simd` is
 * set; this module sets it with `v8.setFlagsFromString` (allowed after start-up for this flag, and
 * modules compiled afterwards can also be used by workers), then asks `WebAssembly.validate` whether
 * the relaxed build is accepted; if not, the plain SIMD build is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

export interface LoadWasmBackendOptions extends WasmBackendOptions {
  /** 'auto' (default): relaxed SIMD if this engine accepts it, else plain SIMD. */
  variant?: 'auto' | WasmVariant;
  /** 'auto' (default): a shared memory if SharedArrayBuffer is available. */
  shared?: 'auto' | boolean;
  /** Folder with the `kernels.*.wasm` builds. Default: the package's `build/`. */
  buildDir?: string;
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
  enableRelaxedSimd();
  return WebAssembly.validate(readBuild(buildDir, wasmBuildFileName('relaxed-simd', false)));
}

function resolve(options: LoadWasmBackendOptions): { variant: WasmVariant; shared: boolean; path: string; bytes: Uint8Array<ArrayBuffer> } {
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
  let module = moduleCache.get(r.path);
  if (!module) {
    module = await WebAssembly.compile(r.bytes);
    moduleCache.set(r.path, module);
  }
  return instantiateWasmBackend({ ...options, source: module, variant: r.variant, shared: r.shared });
}

/** Synchronous `loadWasmBackend`. */
export function loadWasmBackendSync(options: LoadWasmBackendOptions = {}): WasmBackend {
  const r = resolve(options);
  return instantiateWasmBackendSync({ ...options, source: compiled(r.path, r.bytes), variant: r.variant, shared: r.shared });
}
