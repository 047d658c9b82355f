/**
 * The worker pool of the WASM backend: options and their errors, a kernel trap on a worker, close(),
 * and that a process with a live (idle or just used) pool exits on its own.
 * (1 thread == N threads bit for bit: spec/kernels/threads.spec.ts.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
    expect(() => loadWasmBackendSync({ variant: 'simd', shared: false, threads: 2 })).toThrow(
      /needs a shared WebAssembly memory.*use threads: 1/,
    );
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
  it('runs every call once whoever takes it; a trap on a worker throws with the kernel name; the pool keeps working', async () => {
    const be = await loadWasmBackend({ variant: 'simd', threads: 2 });
    const bytes = readFileSync(join(REPO, 'build', 'kernels.simd.shared.wasm'));
    const pool = new WorkerPool({ module: new WebAssembly.Module(bytes), memory: be.arena.memory, threads: 3 });
    await pool.ready();
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const slowLocal = (): void => void Atomics.wait(sleeper, 0, 0, 20); // the caller is slow: workers take most calls
    // 64 calls, each scaling its own element by 3: every element exactly once, whoever ran it
    const x = be.floats(64 * 16).fill(1);
    const calls = Array.from({ length: 64 }, (_, i) => ({ kernel: 'scale' as const, args: [x.byteOffset + i * 64, 3, 16] as const }));
    let localCalls = 0;
    pool.runAll(calls, (c) => {
      localCalls++;
      be.kernels.scale(c.args[0]!, c.args[1]!, c.args[2]!);
    });
    expect(Array.from(x)).toEqual(new Array(64 * 16).fill(3));
    expect(localCalls).toBeLessThanOrEqual(64);
    // out-of-bounds calls: the ones a worker takes trap there
    const beyond = 2 ** 32 - 64;
    const traps = Array.from({ length: 64 }, () => ({ kernel: 'scale' as const, args: [beyond, 2, 64] as const }));
    expect(() => pool.runAll(traps, slowLocal)).toThrow(/trapped on a worker thread: scale on worker [12]: .*out of bounds/);
    // a failing local call: runAll throws its error once every call is accounted for (if the workers
    // took every call, the caller ran none and nothing throws); the pool still works
    const y = be.floats(1 << 21).fill(1);
    const long = Array.from({ length: 64 }, () => ({ kernel: 'scale' as const, args: [y.byteOffset, 1, 1 << 21] as const }));
    let called = false;
    let thrown: unknown = null;
    try {
      pool.runAll(long, () => {
        called = true;
        throw new RangeError('local');
      });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toEqual(called ? new RangeError('local') : null);
    pool.runAll(calls, (c) => be.kernels.scale(c.args[0]!, c.args[1]!, c.args[2]!));
    expect(Array.from(x)).toEqual(new Array(64 * 16).fill(9));
    expect(() => pool.runAll(new Array(65).fill(calls[0]), () => {})).toThrow(/65 calls in one job, more than 64/);
    pool.close();
    expect(() => pool.runAll(calls, () => {})).toThrow(/after close/);
    be.close();
  });

  it('back-to-back jobs of different sizes: every call runs exactly once, in its own job (no stale claims)', async () => {
    const be = await loadWasmBackend({ variant: 'simd', threads: 2 });
    const bytes = readFileSync(join(REPO, 'build', 'kernels.simd.shared.wasm'));
    const pool = new WorkerPool({ module: new WebAssembly.Module(bytes), memory: be.arena.memory, threads: 3, spinMs: 5 });
    await pool.ready();
    // job j adds 1 to slots [0, count_j) of its own row (axpy with alpha 1 of a row of ones): a call
    // run twice, skipped, or run with another job's arguments leaves a wrong count somewhere
    const jobs = 3000;
    const width = 16;
    const acc = be.floats(jobs * 8 * width);
    const ones = be.floats(width).fill(1);
    const counts: number[] = [];
    for (let j = 0; j < jobs; j++) {
      const count = 1 + ((j * 7) % 8);
      counts.push(count);
      const calls = Array.from({ length: count }, (_, i) => ({
        kernel: 'axpy' as const,
        args: [acc.byteOffset + (j * 8 + i) * width * 4, 1, ones.byteOffset, width] as const,
      }));
      pool.runAll(calls, (c) => be.kernels.axpy(c.args[0]!, c.args[1]!, c.args[2]!, c.args[3]!));
    }
    for (let j = 0; j < jobs; j++) {
      for (let i = 0; i < 8; i++) {
        const want = i < counts[j]! ? 1 : 0;
        for (let e = 0; e < width; e++)
          if (acc[(j * 8 + i) * width + e] !== want) expect.fail(`job ${j} slot ${i}: ${acc[(j * 8 + i) * width + e]} != ${want}`);
      }
    }
    pool.close();
    be.close();
  });

  it('needs a shared memory and at least 2 threads', () => {
    const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(() => new WorkerPool({ module, memory: new WebAssembly.Memory({ initial: 1 }), threads: 2 })).toThrow(/must be shared/);
    expect(() => new WorkerPool({ module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }), threads: 1 })).toThrow(
      /\[2, 256\]/,
    );
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
