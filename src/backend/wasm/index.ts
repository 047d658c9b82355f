/**
 * The WASM backend (browser-safe part): `WasmBackend`, instantiation from bytes or a compiled module,
 * the arena and the kernel ABI types. Node code loads the builds from disk with src/node/wasm.ts.
 */
export { WasmBackend, type WasmBackendInit, type WasmVariant } from './wasm-backend.js';
export {
  DEFAULT_PRIVATE_INITIAL_BYTES,
  DEFAULT_SHARED_INITIAL_BYTES,
  instantiateWasmBackend,
  instantiateWasmBackendSync,
  sharedMemoryAvailable,
  wasmBuildFileName,
  type InstantiateWasmOptions,
  type WasmBackendOptions,
} from './load.js';
export { Arena, ARENA_ALIGN, WASM_MAX_BYTES, WASM_MAX_PAGES, WASM_PAGE_BYTES, type ArenaOptions } from './arena.js';
export { KERNEL_NAMES, type KernelExports, type KernelName } from './kernels.generated.js';
export {
  DEFAULT_MIN_WORK_NS,
  DEFAULT_MIN_WORK_NS_HOT,
  MAX_KERNEL_ARGS,
  splitRange,
  type KernelArgs,
  type KernelCall,
  type KernelExecutor,
  type ParallelPolicy,
} from './executor.js';
