/**
 * The WASM backend's memory contract and error messages: foreign and Float64 buffers are rejected
 * with ShapeError (and nothing changes), scope() frees (poisoning freed memory with NaN when asked),
 * allocations are zeroed and 64-byte aligned, a shared memory grows without invalidating views, a
 * private one refuses to grow under live buffers, 4 GiB is a hard limit; loading from bytes or a
 * compiled module, in both builds, and variant selection.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResourceError, ShapeError, UsageError } from '../../src/errors.js';
import { instantiateWasmBackend, instantiateWasmBackendSync, wasmBuildFileName } from '../../src/backend/wasm/load.js';
import { WASM_MAX_BYTES } from '../../src/backend/wasm/arena.js';
import { defaultBuildDir, loadWasmBackend, loadWasmBackendSync, relaxedSimdSupported } from '../../src/node/wasm.js';
import { VARIANTS } from '../../spec/kernels/util.js';

describe('WASM backend: buffers and validation', () => {
  const be = loadWasmBackendSync({ variant: 'simd', poisonFreed: true });

  it('rejects foreign arrays, Float64Arrays and wrong element types with ShapeError, changing nothing', () => {
    be.scope(() => {
      const mine = be.floats(4);
      mine.set([1, 2, 3, 4]);
      const out = be.floats(4);
      const foreign = new Float32Array(4);
      expect(() => be.add(out, mine, foreign, 4)).toThrow(ShapeError);
      expect(() => be.add(out, mine, foreign, 4)).toThrow(
        /not a buffer of this WASM backend's memory; allocate it with backend\.floats\(n\)/,
      );
      expect(() => be.add(out, mine, new Float64Array(4), 4)).toThrow(/Float64Array.*f32 only.*backend\.floats\(n\)/);
      expect(() => be.argsortKeys(new Int32Array(2), be.ints(2), 2, 1)).toThrow(/backend\.ints\(n\)/);
      expect(() => be.add(out, mine, be.ints(4) as unknown as Float32Array, 4)).toThrow(/must be a Float32Array/);
      // a buffer of another WASM backend is foreign too
      const other = loadWasmBackendSync({ variant: 'simd', shared: false, initialMemoryBytes: 1 << 20 });
      expect(() => be.scale(other.floats(4), 2, 4)).toThrow(ShapeError);
      expect(Array.from(out)).toEqual([0, 0, 0, 0]);
    });
  });

  it('validates shapes before touching memory (ShapeError from ops/<family>/params.ts)', () => {
    be.scope(() => {
      const a = be.floats(6);
      expect(() => be.gemm({ m: 2, n: 2, k: 3, a, lda: 3, b: a, ldb: 2, c: be.floats(3), ldc: 2 })).toThrow(ShapeError);
      expect(() => be.activationForward('swish' as 'relu', a, a, 6)).toThrow(/unknown activation 'swish'/);
    });
  });

  it('allocations are zeroed and 64-byte aligned, also when they reuse freed (poisoned) memory', () => {
    const first = be.scope(() => {
      const x = be.floats(10);
      x.fill(7);
      expect(x.byteOffset % 64).toBe(0);
      return x;
    });
    // freed: poisoned with NaN
    expect(Array.from(first).every(Number.isNaN)).toBe(true);
    be.scope(() => {
      const y = be.floats(10);
      expect(y.byteOffset).toBe(first.byteOffset);
      expect(Array.from(y)).toEqual(new Array(10).fill(0));
      const i = be.ints(3);
      expect(i.byteOffset % 64).toBe(0);
      expect(Array.from(i)).toEqual([0, 0, 0]);
    });
  });

  it('scope frees on throw, nests, and rejects async callbacks', () => {
    const top = be.arena.top;
    expect(() =>
      be.scope(() => {
        be.floats(100);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(be.arena.top).toBe(top);
    be.scope(() => {
      be.floats(8);
      const mid = be.arena.top;
      be.scope(() => be.floats(1000));
      expect(be.arena.top).toBe(mid);
    });
    expect(be.arena.top).toBe(top);
    expect(() => be.scope(async () => 1)).toThrow(UsageError);
    expect(be.arena.top).toBe(top);
  });

  it('kernel scratch is freed after every call', () => {
    be.scope(() => {
      const a = be.floats(600 * 600);
      const c = be.floats(600 * 600);
      const top = be.arena.top;
      be.gemm({ m: 600, n: 600, k: 600, a, lda: 600, b: a, ldb: 600, transB: true, c, ldc: 600 });
      expect(be.arena.top).toBe(top);
    });
  });
});

describe('WASM backend: memory growth', () => {
  it('a shared memory grows in place: views made before the grow stay valid and accepted', () => {
    const be = loadWasmBackendSync({ variant: 'simd', shared: true, initialMemoryBytes: 1 << 20 });
    expect(be.sharedMemory).toBe(true);
    const before = be.floats(16);
    before.set(Array.from({ length: 16 }, (_, i) => i));
    const cap = be.arena.capacity;
    const big = be.floats(2 * 1024 * 1024); // 8 MiB > 1 MiB: grows
    expect(be.arena.capacity).toBeGreaterThan(cap);
    expect(before.length).toBe(16);
    expect(before[15]).toBe(15);
    const out = be.floats(16);
    be.add(out, before, before, 16); // the pre-grow view is still this backend's
    expect(out[15]).toBe(30);
    expect(big[big.length - 1]).toBe(0);
  });

  it('a private memory refuses to grow while buffers are live, with the numbers and the fix', () => {
    const be = loadWasmBackendSync({ variant: 'simd', shared: false, initialMemoryBytes: 1 << 20 });
    expect(be.sharedMemory).toBe(false);
    const x = be.floats(16);
    x[0] = 1;
    expect(() => be.floats(1 << 20)).toThrow(ResourceError);
    expect(() => be.floats(1 << 20)).toThrow(/non-shared memory has 1048576 bytes.*initialMemoryBytes/);
    expect(x[0]).toBe(1); // not detached
  });

  it('a private memory grows while nothing is live', () => {
    const be = loadWasmBackendSync({ variant: 'simd', shared: false, initialMemoryBytes: 1 << 20 });
    const y = be.scope(() => {
      const big = be.floats(1 << 20); // 4 MiB
      big[0] = 3;
      return big[0];
    });
    expect(y).toBe(3);
    expect(be.arena.capacity).toBeGreaterThanOrEqual(4 << 20);
  });

  it('more than 4 GiB is a ResourceError stating the numbers', () => {
    const be = loadWasmBackendSync({ variant: 'simd', shared: true, initialMemoryBytes: 1 << 20 });
    const n = 2 ** 30 + 16; // 4 GiB + 64 bytes of f32
    expect(() => be.floats(n)).toThrow(ResourceError);
    expect(() => be.floats(n)).toThrow(new RegExp(`needs ${n * 4} bytes.*4 GiB \\(${WASM_MAX_BYTES} bytes\\)`));
  });
});

describe('WASM backend: loading', () => {
  const dir = defaultBuildDir();

  it.each(VARIANTS)('%s: instantiates from bytes (async) and from a compiled module (sync), private and shared', async (variant) => {
    if (variant === 'relaxed-simd') expect(relaxedSimdSupported()).toBe(true); // Node 20 with the V8 flag
    for (const shared of [false, true]) {
      const bytes = new Uint8Array(readFileSync(join(dir, wasmBuildFileName(variant, shared))));
      const a = await instantiateWasmBackend({ source: bytes, variant, shared });
      const b = instantiateWasmBackendSync({ source: new WebAssembly.Module(bytes), variant, shared });
      for (const be of [a, b]) {
        expect(be.name).toBe(`wasm-${variant}`);
        expect(be.dtype).toBe('f32');
        expect(be.sharedMemory).toBe(shared);
        const x = be.floats(3);
        x.set([3, 4, 12]);
        expect(be.sumSquares(x, 3)).toBe(169);
      }
    }
  });

  it('a build with the wrong memory kind is a UsageError naming the right file', () => {
    const bytes = new Uint8Array(readFileSync(join(dir, wasmBuildFileName('simd', true))));
    expect(() => instantiateWasmBackendSync({ source: bytes, variant: 'simd', shared: false })).toThrow(UsageError);
  });

  it('loadWasmBackend picks relaxed SIMD when available and honours a forced variant', async () => {
    const auto = await loadWasmBackend();
    expect(auto.name).toBe(relaxedSimdSupported() ? 'wasm-relaxed-simd' : 'wasm-simd');
    expect(auto.sharedMemory).toBe(true);
    expect(loadWasmBackendSync({ variant: 'simd' }).name).toBe('wasm-simd');
  });
});
