// Kernel entry points (see src/backend/wasm). Placeholder until the kernels land.
export function version(): i32 {
  return 1;
}
