#!/usr/bin/env node
// Kernel benchmark: the WASM backend against the TypeScript reference backend, on the BUILT library
// (dist/; run `npm run build` first). tinybench 6, one thread, fixed seeded inputs. (1 thread vs all
// threads: `reformer bench kernels`; attention vs sequence length: `reformer bench attention`.)
//
//   npm run bench                          table (WASM variant chosen automatically: relaxed if available)
//   npm run bench -- --json                same, plus one JSON object as the last line
//   npm run bench -- --variant simd        force the plain-SIMD build
//   npm run bench -- --quick               shorter timing budget (noisier)
//
// Every WASM figure stands beside the reference figure of the same run and their ratio. The
// reference is plain JS loops (f64 accumulation) and is very slow at large sizes; it is measured only
// at sizes where one call takes at most a few seconds, and the table names the size it ran at.
import { Bench } from 'tinybench';
import { fromDist } from './dist.mjs';

const { loadWasmBackend } = await fromDist('node/wasm.js');
const { ReferenceBackend } = await fromDist('backend/reference.js');
const { Rng } = await fromDist('util/rng.js');

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const vi = args.indexOf('--variant');
const variant = vi >= 0 ? args[vi + 1] : 'auto';

const wasm = await loadWasmBackend({ variant, shared: true, threads: 1 }); // one thread: `reformer bench kernels` compares thread counts
const ref = new ReferenceBackend();
const rng = new Rng(20200113);
const TIME = quick ? 150 : 600;

/** Fills a buffer with uniform values in [-1, 1). */
function fill(buf, mag = 1) {
  for (let i = 0; i < buf.length; i++) buf[i] = (2 * rng.uniform() - 1) * mag;
  return buf;
}

/**
 * Mean seconds per call of fn: tinybench with warm-up (Liftoff → TurboFan tier-up) for calls up to
 * ~0.3 s; slower calls are timed directly (after one warm-up call) `reps` times.
 */
async function timeIt(name, fn, { slow = false, reps = 2, warm = true } = {}) {
  if (slow) {
    if (warm) fn();
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      fn();
      best = Math.min(best, performance.now() - t0);
    }
    return best / 1000;
  }
  for (let w = 0; w < 3; w++) fn(); // first calls run in Liftoff
  const bench = new Bench({ time: TIME, iterations: 5, warmupTime: 100, warmupIterations: 3, throws: true });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  return r.latency.p50 / 1000;
}

/** Runs an async measurement and frees the WASM buffers it allocated (scope() is synchronous). */
async function inScope(be, fn) {
  if (!be.arena) return fn();
  const mark = be.arena.mark();
  try {
    return await fn();
  } finally {
    be.arena.release(mark);
  }
}

const rows = [];
/**
 * One table row. `per(x)` converts seconds per call into the unit; higher is better when `better` is 'higher'.
 */
function record(name, unit, better, wasmVal, refVal, refNote) {
  const ratio = refVal === null ? null : better === 'higher' ? wasmVal / refVal : refVal / wasmVal;
  rows.push({ name, unit, better, wasm: wasmVal, ref: refVal, refNote, ratio });
  if (!json) process.stderr.write(`  ${name}: ${fmt(wasmVal)} ${unit}\n`);
}

function fmt(x) {
  if (x === null || x === undefined) return '—';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

// ------------------------------------------------------------------ matmul

/** Seconds per gemm call of size [m,k]·[k,n] on backend be (transB: B stored [n, k]). */
function gemmSeconds(be, n, transB, opts) {
  return inScope(be, () => {
    const a = fill(be.floats(n * n));
    const b = fill(be.floats(n * n));
    const c = be.floats(n * n);
    const p = { m: n, n, k: n, a, lda: n, b, ldb: n, transB, c, ldc: n };
    return timeIt(`${be.name} gemm ${n}`, () => be.gemm(p), opts);
  });
}

// how the reference is timed per size (2048 would take ~40 s per call: not run)
const REF_GEMM = quick ? { 256: {} } : { 256: {}, 512: { slow: true, reps: 2 }, 1024: { slow: true, reps: 1, warm: false } };
for (const transB of [true, false]) {
  const label = transB ? 'matmul C=A·Bᵀ (linear)' : 'matmul C=A·B';
  let lastRef = null;
  for (const n of [256, 512, 1024, 2048]) {
    const flops = 2 * n * n * n;
    const ws = await gemmSeconds(wasm, n, transB, {});
    let note = '';
    if (REF_GEMM[n]) {
      lastRef = { n, g: flops / (await gemmSeconds(ref, n, transB, REF_GEMM[n])) / 1e9 };
    } else if (lastRef) {
      note = `ref not run (too slow); ratio vs ref at ${lastRef.n}³`;
    }
    record(`${label} ${n}³`, 'GFLOP/s', 'higher', flops / ws / 1e9, lastRef?.g ?? null, note);
  }
}

// batched chunk shape [c,64,64]×[c,64,128]
for (const chunks of [64, 1024]) {
  const flops = 2 * chunks * 64 * 64 * 128;
  const run = async (be, slow) => {
    const a = fill(be.floats(chunks * 64 * 64));
    const b = fill(be.floats(chunks * 64 * 128));
    const c = be.floats(chunks * 64 * 128);
    const p = { batch: chunks, m: 64, n: 128, k: 64, a, lda: 64, b, ldb: 128, c, ldc: 128, strideA: 4096, strideB: 8192, strideC: 8192 };
    return timeIt(`${be.name} batched ${chunks}`, () => be.gemmBatched(p), { slow });
  };
  const ws = await inScope(wasm, () => run(wasm, false));
  const refG = chunks <= 64 ? flops / (await run(ref, true)) / 1e9 : (rows.find((r) => r.name.startsWith('batched'))?.ref ?? null);
  record(
    `batched chunks [${chunks},64,64]×[${chunks},64,128]`,
    'GFLOP/s',
    'higher',
    flops / ws / 1e9,
    refG,
    chunks > 64 ? 'ref at 64 chunks' : '',
  );
}

// ------------------------------------------------------------------ LSH: hashing, sorting, gather

{
  const rowsN = 16384;
  const dHead = 64;
  const numHashes = 4;
  const factors = [64]; // 64 buckets: 32 rotations per round
  const run = async (be, rowsToRun, slow) => {
    const x = fill(be.floats(rowsToRun * dHead));
    const rotations = fill(be.floats(dHead * numHashes * 32));
    const buckets = be.ints(numHashes * rowsToRun);
    const p = { x, ldx: dHead, rows: rowsToRun, dHead, rotations, numHashes, factors, buckets };
    return timeIt(`${be.name} lshHash`, () => be.lshHash(p), { slow });
  };
  const ws = await inScope(wasm, () => run(wasm, rowsN, false));
  const rs = await run(ref, 2048, true);
  record(
    `lshHash d=64, 4 rounds × 64 buckets (${rowsN} rows)`,
    'M hashes/s',
    'higher',
    (rowsN * numHashes) / ws / 1e6,
    (2048 * numHashes) / rs / 1e6,
    'ref on 2048 rows',
  );
}

{
  const n = 1 << 20;
  const numKeys = 256;
  const run = async (be) => {
    const keys = be.ints(n);
    for (let i = 0; i < n; i++) keys[i] = rng.int(numKeys);
    const perm = be.ints(n);
    return timeIt(`${be.name} argsort`, () => be.argsortKeys(perm, keys, n, numKeys));
  };
  const ws = await inScope(wasm, () => run(wasm));
  const rs = await run(ref);
  record('argsortKeys 1M keys, 256 buckets', 'ns/key', 'lower', (ws / n) * 1e9, (rs / n) * 1e9, 'incl. the JS key-range check');
  // the counting-sort kernel alone, without validateArgsort's O(n) key check in JS
  const raw = await inScope(wasm, async () => {
    const keys = wasm.ints(n);
    for (let i = 0; i < n; i++) keys[i] = rng.int(numKeys);
    const perm = wasm.ints(n);
    const counts = wasm.ints(numKeys + 1);
    return timeIt('argsort kernel', () => wasm.kernels.argsortKeys(perm.byteOffset, keys.byteOffset, n, numKeys, counts.byteOffset));
  });
  record('  counting-sort kernel alone', 'ns/key', 'lower', (raw / n) * 1e9, (rs / n) * 1e9, 'no argument check');
}

{
  const n = 65536;
  const d = 64;
  const run = async (be) => {
    const src = fill(be.floats(n * d));
    const dst = be.floats(n * d);
    const index = be.ints(n);
    for (let i = 0; i < n; i++) index[i] = rng.int(n);
    const p = { rows: n, cols: d, index, src, ldSrc: d, dst, ldDst: d };
    return timeIt(`${be.name} gather`, () => be.gatherRows(p));
  };
  const ws = await inScope(wasm, () => run(wasm));
  const rs = await run(ref);
  record('gatherRows 65536 × 64 f32', 'ns/row', 'lower', (ws / n) * 1e9, (rs / n) * 1e9, '');
}

// ------------------------------------------------------------------ softmax / exp / gelu

{
  const rowsN = 4096;
  const cols = 128;
  const run = async (be) => {
    const s = fill(be.floats(rowsN * cols), 5);
    const p = be.floats(rowsN * cols);
    const lse = be.floats(rowsN);
    const prm = { rows: rowsN, cols, s, lds: cols, p, ldp: cols, lse };
    return timeIt(`${be.name} softmax`, () => be.softmaxRows(prm));
  };
  const ws = await inScope(wasm, () => run(wasm));
  const rs = await run(ref);
  const el = rowsN * cols;
  record('softmaxRows [4096, 128] (max, exp, sum, lse, scale)', 'ns/element', 'lower', (ws / el) * 1e9, (rs / el) * 1e9, '');
}

{
  const n = 1 << 20;
  const run = async (be) => {
    const x = fill(be.floats(n), 4);
    const y = be.floats(n);
    return timeIt(`${be.name} gelu`, () => be.activationForward('gelu', x, y, n));
  };
  const ws = await inScope(wasm, () => run(wasm));
  const rs = await run(ref);
  record('gelu (erf) forward, 1M elements', 'ns/element', 'lower', (ws / n) * 1e9, (rs / n) * 1e9, '');
}

// ------------------------------------------------------------------ chunk attention

for (const backward of [false, true]) {
  const d = 64;
  const L = 64;
  const run = async (be, n, slow) => {
    const q = fill(be.floats(n * d), 0.3);
    const k = fill(be.floats(n * d), 0.3);
    const v = fill(be.floats(n * d));
    const pos = be.ints(n);
    for (let i = 0; i < n; i++) pos[i] = i;
    const out = be.floats(n * d);
    const lse = be.floats(n);
    const base = {
      n,
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
    be.chunkAttentionForward({ ...base, out, lse });
    if (!backward) return timeIt(`${be.name} attn fwd`, () => be.chunkAttentionForward({ ...base, out, lse }), { slow });
    const dOut = fill(be.floats(n * d));
    const g = { dq: be.floats(n * d), dk: be.floats(n * d), dv: be.floats(n * d) };
    return timeIt(`${be.name} attn bwd`, () => be.chunkAttentionBackward({ ...base, lse, dOut, ...g }), { slow });
  };
  const nW = 8192;
  const nR = 512;
  const ws = await inScope(wasm, () => run(wasm, nW, false));
  const rs = await run(ref, nR, true);
  record(
    `chunk attention ${backward ? 'backward' : 'forward'} (64 q × 128 keys, d=64, causal)`,
    'µs/chunk',
    'lower',
    (ws / (nW / L)) * 1e6,
    (rs / (nR / L)) * 1e6,
    `wasm on ${nW / L} chunks, ref on ${nR / L}`,
  );
}

// ------------------------------------------------------------------ output

const header = ['kernel', 'unit', `WASM (${wasm.name})`, 'TS reference', 'WASM/ref', 'note'];
const table = rows.map((r) => [r.name, r.unit, fmt(r.wasm), fmt(r.ref), r.ratio === null ? '—' : `${fmt(r.ratio)}×`, r.refNote]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`\nreformer-ts kernel benchmark — ${wasm.name}, Node ${process.version}, 1 thread (ratio: how many times faster WASM is)`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of table) console.log(line(row));
if (json) {
  console.log(JSON.stringify({ backend: wasm.name, node: process.version, quick, rows }));
}
