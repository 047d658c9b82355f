/**
 * `reformer bench kernels`: throughput of the WASM kernels on one thread and on all threads (or
 * `--threads N`), measured in the same run, row by row (1 thread, then N threads, same inputs):
 *
 *   - matmul C = A·B and C = A·Bᵀ (the linear-layer layout), square n = 256 … 2048: GFLOP/s (2n³ flops);
 *     and the chunk-attention shape (64×64)·(64×128) over a batch of 1024 (gemmBatched)
 *   - chunked attention forward / backward at the LSH shape of the reference config (chunk 64, head
 *     size 64, one chunk before: 128 keys per query, 65536 rows = 1024 chunks, causal, self-mask):
 *     GFLOP/s, counting 4·rows·128·64 flops forward (S = QKᵀ, P·V) and 10·rows·128·64 backward
 *   - LSH hashing (x·R and the signed argmax; head size 64, 4 rounds, 128 buckets): ns per row
 *   - the stable counting sort of 4 rounds × 2^20 positions over 131072 bucket ids (the 1M-token LSH
 *     sort): ns per key; and the 64-wide row gather that follows it: ns per row
 *
 * `--quick`: smaller sizes and time budgets (a smoke run; numbers are noisier).
 * `--json`: the last stdout line is `{"variant", "threads", "load_average": [before, after], "rows": [{name, unit, higher_is_better,
 * one_thread, all_threads, speedup}]}` (speedup = time on 1 thread / time on N threads).
 */
import { Option } from 'commander';
import type { WasmBackend } from '../../backend/wasm/wasm-backend.js';
import { Rng } from '../../util/rng.js';
import { defaultThreads, loadWasmBackend } from '../wasm.js';
import { fmt, loadAverage, medianSeconds, table } from './measure.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

interface KernelRow {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  oneThread: number;
  allThreads: number | null;
  /** seconds per call on 1 thread / on N threads */
  speedup: number | null;
}

/** One measured kernel: `setup(be)` allocates inputs (inside the backend's arena) and returns the call. */
interface KernelCase {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  /** Converts seconds per call into the unit. */
  value(seconds: number): number;
  setup(be: WasmBackend): () => void;
}

function fill(rng: Rng, a: Float32Array, mag = 1): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * mag;
  return a;
}

function cases(quick: boolean): KernelCase[] {
  const out: KernelCase[] = [];
  const sizes = quick ? [128, 256] : [256, 512, 1024, 2048];
  for (const transB of [false, true]) {
    for (const n of sizes) {
      out.push({
        name: `matmul ${transB ? 'A·Bᵀ' : 'A·B'} ${n}×${n}`,
        unit: 'GFLOP/s',
        higherIsBetter: true,
        value: (s) => (2 * n ** 3) / s / 1e9,
        setup(be) {
          const rng = new Rng(n);
          const a = fill(rng, be.floats(n * n));
          const b = fill(rng, be.floats(n * n));
          const c = be.floats(n * n);
          return () => be.gemm({ m: n, n, k: n, a, lda: n, b, ldb: n, transB, c, ldc: n });
        },
      });
    }
  }
  // the chunk-attention matmul shape: (64×64)·(64×128) over a batch (../shared/PERF-NOTES.md "chunk batch")
  const batch = quick ? 64 : 1024;
  out.push({
    name: `matmul batch ${batch} × (64×64)·(64×128)`,
    unit: 'GFLOP/s',
    higherIsBetter: true,
    value: (s) => (2 * 64 * 64 * 128 * batch) / s / 1e9,
    setup(be) {
      const rng = new Rng(6);
      const a = fill(rng, be.floats(batch * 64 * 64));
      const b = fill(rng, be.floats(batch * 64 * 128));
      const c = be.floats(batch * 64 * 128);
      return () =>
        be.gemmBatched({
          batch,
          m: 64,
          n: 128,
          k: 64,
          a,
          lda: 64,
          strideA: 64 * 64,
          b,
          ldb: 128,
          strideB: 64 * 128,
          c,
          ldc: 128,
          strideC: 64 * 128,
        });
    },
  });
  // the chunked attention at the LSH shape: chunk 64, head size 64, 1 chunk before (W = 128)
  const rows = quick ? 4096 : 65536;
  const L = 64;
  const d = 64;
  const W = 2 * L;
  const attention = (be: WasmBackend) => {
    const rng = new Rng(7);
    const q = fill(rng, be.floats(rows * d));
    const k = fill(rng, be.floats(rows * d), 0.2);
    const v = fill(rng, be.floats(rows * d));
    const pos = be.ints(rows);
    for (let i = 0; i < rows; i++) pos[i] = rng.int(rows / 4); // 4 rounds of rows/4 positions, bucket order
    return {
      n: rows,
      d,
      chunkLength: L,
      numChunksBefore: 1,
      numChunksAfter: 0,
      q,
      k,
      v,
      pos,
      causal: true,
      maskValue: -1e9,
      selfMaskValue: -1e5,
    };
  };
  out.push({
    name: `chunk attention forward (${rows} rows, chunk ${L}, d ${d}, ${W} keys)`,
    unit: 'GFLOP/s',
    higherIsBetter: true,
    value: (s) => (4 * rows * W * d) / s / 1e9,
    setup(be) {
      const p = attention(be);
      const o = be.floats(rows * d);
      const lse = be.floats(rows);
      return () => be.chunkAttentionForward({ ...p, out: o, lse });
    },
  });
  out.push({
    name: `chunk attention backward (${rows} rows)`,
    unit: 'GFLOP/s',
    higherIsBetter: true,
    value: (s) => (10 * rows * W * d) / s / 1e9,
    setup(be) {
      const p = attention(be);
      const o = be.floats(rows * d);
      const lse = be.floats(rows);
      be.chunkAttentionForward({ ...p, out: o, lse });
      const rng = new Rng(8);
      const dOut = fill(rng, be.floats(rows * d));
      const dq = be.floats(rows * d);
      const dk = be.floats(rows * d);
      const dv = be.floats(rows * d);
      return () => be.chunkAttentionBackward({ ...p, lse, dOut, dq, dk, dv });
    },
  });
  const hashRows = quick ? 4096 : 65536;
  out.push({
    name: `LSH hash (${hashRows} rows, d 64, 4 rounds, 128 buckets)`,
    unit: 'ns/row',
    higherIsBetter: false,
    value: (s) => (s / hashRows) * 1e9,
    setup(be) {
      const rng = new Rng(9);
      const x = fill(rng, be.floats(hashRows * 64));
      const rotations = fill(rng, be.floats(64 * 4 * 64));
      const buckets = be.ints(4 * hashRows);
      return () => be.lshHash({ x, ldx: 64, rows: hashRows, dHead: 64, rotations, numHashes: 4, factors: [128], buckets });
    },
  });
  const sortN = quick ? 1 << 16 : 1 << 22;
  const numKeys = quick ? 2048 : 131072;
  out.push({
    name: `counting sort (${sortN} keys, ${numKeys} buckets)`,
    unit: 'ns/key',
    higherIsBetter: false,
    value: (s) => (s / sortN) * 1e9,
    setup(be) {
      const rng = new Rng(10);
      const keys = be.ints(sortN);
      for (let i = 0; i < sortN; i++) keys[i] = rng.int(numKeys);
      const perm = be.ints(sortN);
      return () => be.argsortKeys(perm, keys, sortN, numKeys);
    },
  });
  const gatherN = quick ? 1 << 14 : 1 << 18;
  out.push({
    name: `gather rows (${gatherN} rows of 64, random order)`,
    unit: 'ns/row',
    higherIsBetter: false,
    value: (s) => (s / gatherN) * 1e9,
    setup(be) {
      const rng = new Rng(11);
      const src = fill(rng, be.floats(gatherN * 64));
      const dst = be.floats(gatherN * 64);
      const index = be.ints(gatherN);
      for (let i = 0; i < gatherN; i++) index[i] = rng.int(gatherN);
      return () => be.gatherRows({ rows: gatherN, cols: 64, index, src, ldSrc: 64, dst, ldDst: 64 });
    },
  });
  return out;
}

/** Seconds per call of one case on one backend (buffers freed afterwards). */
async function timeCase(be: WasmBackend, c: KernelCase, quick: boolean): Promise<number> {
  const mark = be.arena.mark();
  try {
    const fn = c.setup(be);
    return await medianSeconds(fn, { timeMs: quick ? 40 : 600, slowReps: quick ? 1 : 3 });
  } finally {
    be.arena.release(mark);
  }
}

export const kernelsBench: BenchSubcommand = {
  name: 'kernels',
  summary: 'matmul GFLOP/s (256–2048), chunked attention, hashing, sorting and gathers: 1 thread vs all threads',
  options: () => [new Option('--quick', 'kernels: smaller sizes and time budgets (a smoke run; noisier)')],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const quick = flags.quick === true;
    const threads = env.threads ?? defaultThreads();
    const one = await loadWasmBackend({ threads: 1 });
    const many = threads > 1 ? await loadWasmBackend({ threads }) : null;
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const loadBefore = loadAverage();
    log(`bench kernels: ${one.name}, 1 thread${many ? ` and ${threads} threads` : ''}${quick ? ' (quick)' : ''}`);
    const rows: KernelRow[] = [];
    try {
      for (const c of cases(quick)) {
        const t1 = await timeCase(one, c, quick);
        const tn = many ? await timeCase(many, c, quick) : null;
        const row: KernelRow = {
          name: c.name,
          unit: c.unit,
          higherIsBetter: c.higherIsBetter,
          oneThread: c.value(t1),
          allThreads: tn === null ? null : c.value(tn),
          speedup: tn === null ? null : t1 / tn,
        };
        rows.push(row);
        log(`  ${row.name}: ${fmt(row.oneThread)}${row.allThreads === null ? '' : ` / ${fmt(row.allThreads)}`} ${row.unit}`);
      }
    } finally {
      many?.close();
    }
    const header = ['kernel', 'unit', '1 thread', `${threads} threads`, 'speedup'];
    env.stdout.write(
      `${table(
        header,
        rows.map((r) => [r.name, r.unit, fmt(r.oneThread), fmt(r.allThreads), r.speedup === null ? '—' : `${r.speedup.toFixed(2)}×`]),
      )}\n`,
    );
    const loadAfter = loadAverage();
    env.stdout.write(
      `(${one.name}; medians; speedup = time on 1 thread / time on ${threads} threads, same run; load average ${loadBefore} before, ${loadAfter} after)\n`,
    );
    if (env.json) {
      const json = {
        variant: one.variant,
        threads,
        load_average: [loadBefore, loadAfter],
        rows: rows.map((r) => ({
          name: r.name,
          unit: r.unit,
          higher_is_better: r.higherIsBetter,
          one_thread: r.oneThread,
          all_threads: r.allThreads,
          speedup: r.speedup,
        })),
      };
      env.stdout.write(`${JSON.stringify(json)}\n`);
    }
    return 0;
  },
};
