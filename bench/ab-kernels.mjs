#!/usr/bin/env node
/**
 * Before/after kernel timings in ONE process, interleaved: two builds of this package (two clones or
 * worktrees at different commits, each built) load their own WASM backend side by side, and each case
 * alternates old, new, old, new... in short slices, so both see the same machine load. Prints the
 * median time per call of each side and the median of the per-pair ratios.
 *
 *   node bench/ab-kernels.mjs <old-package-root> <new-package-root> [--pairs 15] [--slice-ms 150] [--filter text]
 *
 * Cases: kernels at the shapes of the reference config, and the whole model (reference config,
 * bench/configs/reference.json, L = 4096: evaluation loss, and one training step's loss + gradients).
 * `--filter` keeps the cases whose name contains the text. Not a test; for refactors that must not
 * slow the kernels or the model (issue 18). 1 thread.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { pairs: { type: 'string' }, 'slice-ms': { type: 'string' }, filter: { type: 'string' } },
});
if (positionals.length !== 2) {
  console.error('usage: node bench/ab-kernels.mjs <old-package-root> <new-package-root> [--pairs n] [--slice-ms ms]');
  process.exit(2);
}
const pairs = Number(values.pairs ?? 15);
const sliceMs = Number(values['slice-ms'] ?? 150);
const mod = (root, file) => import(pathToFileURL(join(root, 'dist/src', file)).href);
const load = async (root) => (await mod(root, 'node/wasm.js')).loadWasmBackend({ threads: 1 });
const sides = { old: await load(positionals[0]), new: await load(positionals[1]) };
const roots = { old: positionals[0], new: positionals[1] };
const backendSide = (be) => (be === sides.old ? 'old' : 'new');
const { readFileSync } = await import('node:fs');
const referenceConfig = JSON.parse(readFileSync(new URL('./configs/reference.json', import.meta.url), 'utf8'));
/** The reference config fitted to 4096 tokens, built by that side's own package. */
const modelOf = async (side) => {
  const { ReformerConfig } = await mod(roots[side], 'config/reformer-config.js');
  const { ReformerModelWithLMHead } = await mod(roots[side], 'model/lm-model.js');
  const cfg = ReformerConfig.fromJSON({ ...referenceConfig, axial_pos_shape: [64, 64], max_position_embeddings: 4096 });
  return new ReformerModelWithLMHead(sides[side], cfg);
};
const models = { old: await modelOf('old'), new: await modelOf('new') };
const ids = Int32Array.from({ length: 4096 }, (_, i) => (i * 7919) % 250);

let seed = 1;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed / 2 ** 32) * 2 - 1;
};
const fill = (a, mag = 1) => {
  for (let i = 0; i < a.length; i++) a[i] = rnd() * mag;
  return a;
};
const cases = [
  {
    name: 'gemm A·B 256³',
    setup: (be) => {
      const n = 256;
      const a = fill(be.floats(n * n)),
        b = fill(be.floats(n * n)),
        c = be.floats(n * n);
      return () => be.gemm({ m: n, n, k: n, a, lda: n, b, ldb: n, c, ldc: n });
    },
  },
  {
    name: 'gemm x·Wᵀ [4096,256]·[1024,256]ᵀ',
    setup: (be) => {
      const a = fill(be.floats(4096 * 256)),
        b = fill(be.floats(1024 * 256)),
        c = be.floats(4096 * 1024);
      return () => be.gemm({ m: 4096, n: 1024, k: 256, a, lda: 256, b, ldb: 256, transB: true, c, ldc: 1024 });
    },
  },
  {
    name: 'gemm dW = dyᵀ·x [4096,1024]ᵀ·[4096,256]',
    setup: (be) => {
      const a = fill(be.floats(4096 * 1024)),
        b = fill(be.floats(4096 * 256)),
        c = be.floats(1024 * 256);
      return () => be.gemm({ m: 1024, n: 256, k: 4096, a, lda: 1024, transA: true, b, ldb: 256, c, ldc: 256, accumulate: true });
    },
  },
  ...['forward', 'backward'].map((dir) => ({
    name: `chunk attention ${dir} (4096 rows, chunk 64, d 64, 128 keys)`,
    setup: (be) => {
      const rows = 4096,
        d = 64;
      const p = {
        n: rows,
        d,
        chunkLength: 64,
        numChunksBefore: 1,
        numChunksAfter: 0,
        q: fill(be.floats(rows * d)),
        k: fill(be.floats(rows * d), 0.2),
        v: fill(be.floats(rows * d)),
        pos: be.ints(rows),
        causal: true,
        maskValue: -1e9,
        selfMaskValue: -1e5,
      };
      for (let i = 0; i < rows; i++) p.pos[i] = Math.floor(((rnd() + 1) / 2) * (rows / 4));
      const out = be.floats(rows * d),
        lse = be.floats(rows);
      if (dir === 'forward') return () => be.chunkAttentionForward({ ...p, out, lse });
      be.chunkAttentionForward({ ...p, out, lse });
      const g = { dOut: fill(be.floats(rows * d)), dq: be.floats(rows * d), dk: be.floats(rows * d), dv: be.floats(rows * d) };
      return () => be.chunkAttentionBackward({ ...p, lse, ...g });
    },
  })),
  {
    name: 'LSH hash (4096 rows, d 64, 4 rounds, 128 buckets)',
    setup: (be) => {
      const x = fill(be.floats(4096 * 64)),
        rotations = fill(be.floats(64 * 4 * 64)),
        buckets = be.ints(4 * 4096);
      return () => be.lshHash({ x, ldx: 64, rows: 4096, dHead: 64, rotations, numHashes: 4, factors: [128], buckets });
    },
  },
  {
    name: 'counting sort (65536 keys, 2048 buckets)',
    setup: (be) => {
      const n = 1 << 16;
      const keys = be.ints(n);
      for (let i = 0; i < n; i++) keys[i] = Math.floor(((rnd() + 1) / 2) * 2048);
      const perm = be.ints(n);
      return () => be.argsortKeys(perm, keys, n, 2048);
    },
  },
  {
    name: 'gather rows (16384 rows of 64)',
    setup: (be) => {
      const n = 1 << 14;
      const src = fill(be.floats(n * 64)),
        dst = be.floats(n * 64),
        index = be.ints(n);
      for (let i = 0; i < n; i++) index[i] = Math.floor(((rnd() + 1) / 2) * n);
      return () => be.gatherRows({ rows: n, cols: 64, index, src, ldSrc: 64, dst, ldDst: 64 });
    },
  },
  {
    name: 'softmax rows (4096 × 128)',
    setup: (be) => {
      const s = fill(be.floats(4096 * 128), 4),
        p = be.floats(4096 * 128),
        lse = be.floats(4096);
      return () => be.softmaxRows({ rows: 4096, cols: 128, s, lds: 128, p, ldp: 128, lse });
    },
  },
  {
    name: 'layer norm (4096 × 256)',
    setup: (be) => {
      const x = fill(be.floats(4096 * 256)),
        g = fill(be.floats(256)),
        b = fill(be.floats(256)),
        y = be.floats(4096 * 256),
        mean = be.floats(4096),
        rstd = be.floats(4096);
      return () => be.layerNormForward({ rows: 4096, cols: 256, x, gamma: g, beta: b, eps: 1e-12, y, mean, rstd });
    },
  },
  {
    name: 'model forward, L = 4096 (evaluation loss)',
    setup: (be) => {
      const m = models[backendSide(be)];
      return () => be.scope(() => m.loss({ inputIds: ids, batch: 1, seqLen: 4096 }));
    },
  },
  {
    name: 'model training step, L = 4096 (loss + gradients)',
    setup: (be) => {
      const m = models[backendSide(be)];
      return () =>
        be.scope(() => {
          m.parameters.zeroGrads();
          m.lossAndGrad({ inputIds: ids, batch: 1, seqLen: 4096 });
        });
    },
  },
].filter((c) => values.filter === undefined || c.name.includes(values.filter));
const slice = (fn) => {
  const t0 = performance.now();
  let n = 0;
  do {
    fn();
    n++;
  } while (performance.now() - t0 < sliceMs);
  return (performance.now() - t0) / n;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const { loadavg } = await import('node:os');
console.log(
  `A/B kernels, 1 thread, ${pairs} pairs of ${sliceMs} ms slices; load ${loadavg()[0].toFixed(2)}; old ${sides.old.variant}, new ${sides.new.variant}`,
);
console.log('| kernel | old ms/call | new ms/call | new speed ÷ old (median of pairs) |');
console.log('|---|---:|---:|---:|');
for (const c of cases) {
  const fns = {};
  const marks = {};
  for (const [k, be] of Object.entries(sides)) {
    marks[k] = be.arena.mark();
    fns[k] = c.setup(be);
    fns[k]();
  }
  const t = { old: [], new: [] };
  const ratios = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 ? ['new', 'old'] : ['old', 'new'];
    const r = {};
    for (const k of order) r[k] = slice(fns[k]);
    t.old.push(r.old);
    t.new.push(r.new);
    ratios.push(r.old / r.new);
  }
  for (const [k, be] of Object.entries(sides)) be.arena.release(marks[k]);
  console.log(`| ${c.name} | ${median(t.old).toFixed(3)} | ${median(t.new).toFixed(3)} | ${median(ratios).toFixed(2)}× |`);
}
console.log(`(load ${loadavg()[0].toFixed(2)} at the end)`);
