/**
 * The worker pool of the WASM backend: options and their errors, a kernel trap on a worker, close(),
 * and that a process with a live (idle or just used) pool exits on its own.
 * (1 thread == N threads bit for bit: spec/kernels/threads.spec.ts.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitRange } from '../../src/backend/wasm/executor.js';
import { UsageError } from '../../src/errors.js';
import { WorkerPool } from '../../src/node/threads/pool.js';
import { loadWasmBackend, loadWasmBackendSync } from '../../src/node/wasm.js';

const REPO = join(import.meta.dirname, '..', '..');

describe('threads option', () => {
  it('defaults to all cores with a shared memory, 1 with a private one', async () => {
    const be = await loadWasmBackend({ variant: 'simd' });
    expect(be.threads).toBe(Math.min(256, availableParallelism()));
    be.close();
    expect(be.threads).toBe(1);
    expect(loadWasmBackendSync({ variant: 'simd', shared: false }).threads).toBe(1);
    const one = loadWasmBackendSync({ variant: 'simd', threads: 1 });
    expect(one.threads).toBe(1);
  });

  it('rejects bad counts and threads without a shared memory (UsageError naming the fix)', () => {
    for (const t of [0, -1, 1.5, 257, Number.NaN]) {
      expect(() => loadWasmBackendSync({ variant: 'simd', threads: t })).toThrow(/threads must be an integer in \[1, 256\]/);
    }
    expect(() => loadWasmBackendSync({ variant: 'simd', shared: false, threads: 2 })).toThrow(UsageError);
    expect(() => loadWasmBackendSync({ variant: 'simd', shared: false, threads: 2 })).toThrow(/needs a shared WebAssembly memory.*use threads: 1/);
  });

  it('a 4-thread pool on any core count computes the same as one thread', async () => {
    const be = await loadWasmBackend({ variant: 'simd', threads: 4, parallel: { minWorkNs: 0 } });
    const one = loadWasmBackendSync({ variant: 'simd', threads: 1 });
    const n = 37;
    const run = (b: typeof be): number[] =>
      b.scope(() => {
        const a = b.floats(n * n);
        for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
        const c = b.floats(n * n);
        b.gemm({ m: n, n, k: n, a, lda: n, b: a, ldb: n, transB: true, c, ldc: n });
        return Array.from(c);
      });
    expect(run(be)).toEqual(run(one));
    be.close();
  });
});

describe('WorkerPool', () => {
  it('a trap on a worker throws with the kernel name; the pool keeps working', async () => {
    const be = await loadWasmBackend({ variant: 'simd', threads: 2 });
    const pool = new WorkerPool({ module: new WebAssembly.Module(await import('node:fs').then((fs) => fs.readFileSync(join(REPO, 'build', 'kernels.simd.shared.wasm')))), memory: be.arena.memory, threads: 2 });
    await pool.ready();
    const beyond = 2 ** 32 - 64; // past the memory's end: out of bounds
    expect(() => pool.run(() => {}, [{ kernel: 'scale', args: [beyond, 2, 64] }])).toThrow(/trapped on a worker thread: scale on worker 0: .*out of bounds/);
    const x = be.floats(64).fill(1);
    pool.run(() => {}, [{ kernel: 'scale', args: [x.byteOffset, 3, 64] }]);
    expect(Array.from(x)).toEqual(new Array(64).fill(3));
    // the local part's error wins, after the remote part finished
    expect(() => pool.run(() => { throw new RangeError('local'); }, [{ kernel: 'scale', args: [x.byteOffset, 2, 64] }])).toThrow('local');
    expect(x[63]).toBe(6);
    expect(() => pool.run(() => {}, [{ kernel: 'scale', args: [0, 1, 0] }, { kernel: 'scale', args: [0, 1, 0] }])).toThrow(/2 remote calls for 1 worker threads/);
    pool.close();
    expect(() => pool.run(() => {}, [])).toThrow(/after close/);
    be.close();
  });

  it('needs a shared memory and at least 2 threads', () => {
    const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(() => new WorkerPool({ module, memory: new WebAssembly.Memory({ initial: 1 }), threads: 2 })).toThrow(/must be shared/);
    expect(() => new WorkerPool({ module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }), threads: 1 })).toThrow(/\[2, 256\]/);
  });

  it('close() leaves a working one-thread backend', () => {
    const be = loadWasmBackendSync({ variant: 'simd', threads: 2, parallel: { minWorkNs: 0 } });
    be.close();
    be.close(); // idempotent
    const x = be.floats(1000).fill(2);
    be.scale(x, 0.5, 1000);
    expect(x[999]).toBe(1);
  });

  it('splitRange: aligned, balanced, covering', () => {
    expect(splitRange(10, 3, 4)).toEqual([0, 4, 8, 10]);
    expect(splitRange(0, 3, 4)).toEqual([0, 0]);
    expect(splitRange(5, 8, 1)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(splitRange(1000, 2, 16)).toEqual([0, 512, 1000]);
  });
});

describe('process exit', () => {
  it('a process with a pool (used, then idle, never closed) exits by itself', () => {
    const dist = join(REPO, 'dist', 'src', 'node', 'wasm.js');
    expect(existsSync(dist), 'dist/ is built by npm test (npm run build)').toBe(true);
    const script = `
      const { loadWasmBackend } = await import(${JSON.stringify(dist)});
      const be = await loadWasmBackend({ threads: 2, parallel: { minWorkNs: 0 } });
      const n = 256, a = be.floats(n * n).fill(1), c = be.floats(n * n);
      be.gemm({ m: n, n, k: n, a, lda: n, b: a, ldb: n, c, ldc: n });
      console.log('threads', be.threads, 'c', c[0]);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('threads 2 c 256');
    expect(r.status).toBe(0);
    expect(r.signal).toBeNull(); // not killed by the timeout
  });
});
