#!/usr/bin/env node
// The cost of one optimizer update (AdamW: the WASM kernel; Adafactor: TypeScript loops over the model's
// tensors) next to one training step (loss and gradients of 4096 tokens), on the BUILT library (dist/;
// run `npm run build` first), WASM backend on all cores (or --threads n). tinybench medians (p50).
//
//   node bench/optimizer-cost.mjs [preset]     preset: tiny, small (default), base
import { Bench } from 'tinybench';
import { fromDist } from './dist.mjs';

const { loadWasmBackend } = await fromDist('node/wasm.js');
const { reformerEngine } = await fromDist('node/reformer-engine.js');
const { Adafactor } = await fromDist('train/adafactor.js');
const { AdamW } = await fromDist('train/optimizer.js');
const { Rng } = await fromDist('util/rng.js');

const args = process.argv.slice(2);
const ti = args.indexOf('--threads');
const threads = ti >= 0 ? Number(args[ti + 1]) : undefined;
const preset = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--threads') ?? 'small';
const be = await loadWasmBackend(threads !== undefined ? { threads } : {});
const em = reformerEngine.create(be, { preset, seed: 1 });
const model = em.model;
const n = model.params.length;
const g0 = new Float32Array(n);
new Rng(5).fillNormal(g0, 0, 1e-3);

/** Median milliseconds per call of `fn` (tinybench 6: warm-up, then at least `iterations` timed calls). */
async function time(name, fn, iterations) {
  for (let w = 0; w < 2; w++) fn(); // first calls run before the optimising tier
  const bench = new Bench({ time: 500, iterations, warmupTime: 0, warmupIterations: 0, throws: true });
  bench.add(name, fn);
  await bench.run();
  return bench.tasks[0].result.latency.p50;
}

const batch = Math.max(1, Math.round(4096 / em.seqLen));
const ids = new Int32Array(batch * em.seqLen);
for (let i = 0; i < ids.length; i++) ids[i] = 2 + ((i * 7919) % 256);
const stepMs = await time(
  'training step',
  () => {
    model.grads.fill(0);
    be.scope(() => model.lossAndGrad({ inputIds: ids, batch, seqLen: em.seqLen }));
  },
  preset === 'tiny' ? 10 : 5,
);

const update = (opt) => () => {
  model.grads.set(g0); // the same gradient every call (a copy of n floats, timed with it: negligible)
  opt.update(model.params, model.grads, 1e-3);
};
const adafactorMs = await time('Adafactor update', update(new Adafactor(be, model.paramTensors)), 30);
const adamwMs = await time('AdamW update', update(new AdamW(be, n)), 30);

console.log(
  `preset ${preset}: ${n.toLocaleString('en-US')} parameters in ${model.paramTensors.length} tensors; backend ${be.name}, ${be.threads ?? 1} threads`,
);
console.log(`training step (loss and gradients, ${batch} × ${em.seqLen} tokens): ${stepMs.toFixed(1)} ms`);
console.log(`Adafactor update: ${adafactorMs.toFixed(2)} ms (${((100 * adafactorMs) / stepMs).toFixed(2)}% of a step)`);
console.log(`AdamW update:     ${adamwMs.toFixed(2)} ms (${((100 * adamwMs) / stepMs).toFixed(2)}% of a step)`);
process.exit(0);
