// Layout of the linear memory as the kernels see it.

/**
 * First byte after the module's static data (constant tables). The TypeScript arena starts its
 * allocations above it (rounded up to 64 bytes); nothing in assembly/ writes below or above on its own.
 */
export function heapBase(): usize {
  return __heap_base;
}
