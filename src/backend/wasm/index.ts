/**
 * The WASM backend (browser-safe part): `WasmBackend`, instantiation from bytes or a compiled module,
 * the arena and the kernel ABI types. Node code loads the builds from disk with src/node/wasm.ts.
 */
export { WasmBackend, type WasmBackendInit, type WasmVariant } from './wasm-backend.js';
export {
  instantiateWasmBackend,
  instantiateWasmBackendSync,
  sharedMemoryAvailable,
  wasmBuildFileName,
  type InstantiateWasmOptions,
  type WasmBackendOptions,
} from './load.js';
export type { ArenaOptions } from './arena.js';
export type { KernelExports, KernelName } from './kernels.generated.js';
export type { KernelArgs, KernelCall, KernelExecutor, ParallelPolicy } from './executor.js';
export { WebWorkerPool, type WebWorkerPoolOptions } from './worker-executor.js';
