#!/usr/bin/env node
// The cost of the models' non-finite checks (src/model/numerics.ts) inside real forwards: CPU time
// spent in Backend.countNonFinite over the CPU time of `model.loss` (the evaluation forward of
// `reformer bench model --mode forward`), same calls, so the load of a shared machine affects both.
// On the BUILT library (dist/; run `npm run build` first), WASM backend, the reference bench config.
//
//   node bench/numerics-cost.mjs [--seq-len 4096] [--threads 1] [--rounds 10]
import { fromDist } from './dist.mjs';

const { loadWasmBackend } = await fromDist('node/wasm.js');
const { ReformerModelWithLMHead } = await fromDist('model/lm-model.js');
const { REFERENCE_CONFIG } = await fromDist('node/bench/model.js');
const { fitConfigToLength } = await fromDist('node/bench/model-child.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const L = arg('--seq-len', 4096);
const threads = arg('--threads', 1);
const rounds = arg('--rounds', 10);

const be = await loadWasmBackend({ threads });
const { config } = fitConfigToLength({ ...REFERENCE_CONFIG }, L);
const model = new ReformerModelWithLMHead(be, config, { seed: 1 });
const batch = { inputIds: new Int32Array(L).map((_, i) => (i * 7919) % 256), batch: 1, seqLen: L };
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// count the checks' CPU time (the backend's own method, wrapped on this instance)
let inChecks = 0;
let calls = 0;
let values = 0;
const count = be.countNonFinite.bind(be);
be.countNonFinite = (x, n) => {
  const t = cpuMs();
  const r = count(x, n);
  inChecks += cpuMs() - t;
  calls++;
  values += n;
  return r;
};
be.scope(() => model.loss(batch)); // warm-up
const rows = [];
for (let r = 0; r < rounds; r++) {
  inChecks = 0;
  calls = 0;
  values = 0;
  const t = cpuMs();
  be.scope(() => model.loss(batch));
  const total = cpuMs() - t;
  rows.push({ share: (100 * inChecks) / total, total, inChecks });
}
rows.sort((a, b) => a.share - b.share);
const mid = rows[rows.length >> 1];
console.log(`${be.name}, ${threads} thread(s), seq_len ${L}: ${calls} checks over ${values} values per forward`);
console.log(`checks / forward, CPU time, ${rounds} forwards: ${rows.map((x) => `${x.share.toFixed(2)}%`).join(' ')}`);
console.log(
  `median ${mid.share.toFixed(2)}% (${mid.inChecks.toFixed(2)} ms of ${mid.total.toFixed(0)} ms); range ${rows[0].share.toFixed(2)}…${rows.at(-1).share.toFixed(2)}%`,
);
be.close?.();
