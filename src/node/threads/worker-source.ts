/**
 * The body of a pool worker (src/node/threads/pool.ts), as source text run with
 * `new Worker(WORKER_SOURCE, { eval: true })`: a plain CommonJS script with no imports of this
 * package, so it runs the same from the TypeScript sources (tests), from dist/ and from bundles.
 *
 * workerData: { module, memory, control, names, slot, spinMs, errors, layout }
 *   - instantiates `module` on the shared `memory` (the same compiled kernels as the main thread);
 *   - loops: waits until the job word `SEQ` changes (spins for `spinMs`, then Atomics.wait); then
 *     claims calls of that job one at a time from the shared claim word `NEXT` (generation in the high
 *     bits, call index in the low bits: a compare-and-swap that fails once the job is complete or a
 *     newer job started, so a late worker never takes a call of another job), runs each, and counts it
 *     in `DONE` (notifying the main thread after the last one);
 *   - a call with a scratch argument (call table word 2 ≥ 0) runs with that address + slot·stride
 *     (word 3): every thread has its own scratch;
 *   - on a trap: `FAILED = 1` and the message on `errors` (read synchronously by the main thread); the
 *     call still counts as done;
 *   - if it cannot start: `DEAD` set, message on `errors`, wakes the main thread, ends;
 *   - `STOP` set: ends.
 * The layout (word indices, call table) is computed by pool.ts and passed in `layout`.
 */
export const WORKER_SOURCE = `
'use strict';
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, control, names, slot, spinMs, errors, layout } = workerData;
const { SEQ, NEXT, COUNT, DONE, FAILED, STOP, DEAD, GEN_SHIFT, INDEX_MASK, callWords, callBase, argsBase, maxArgs } = layout;
const H = new Int32Array(control);
const A = new Float64Array(control);

function message(e) {
  return e && e.message ? String(e.message) : String(e);
}

function main() {
  let fns;
  try {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    fns = names.map((n) => instance.exports[n]);
  } catch (e) {
    errors.postMessage('worker ' + slot + ' could not instantiate the kernels: ' + message(e));
    Atomics.store(H, DEAD, slot + 1);
    Atomics.notify(H, DONE);
    return;
  }
  parentPort.postMessage('ready');
  let seen = 0;
  const args = [];
  for (;;) {
    let s = Atomics.load(H, SEQ);
    if (s === seen) {
      // spin briefly (a futex wake costs ~0.1 ms on a VM), then sleep until the main thread posts
      let t0 = performance.now();
      let i = 0;
      while ((s = Atomics.load(H, SEQ)) === seen) {
        if ((++i & 1023) === 0 && performance.now() - t0 > spinMs) {
          Atomics.wait(H, SEQ, seen);
          t0 = performance.now();
        }
      }
    }
    seen = s;
    if (Atomics.load(H, STOP) !== 0) return;
    const gen = s & ((1 << (32 - GEN_SHIFT)) - 1);
    for (;;) {
      const w = Atomics.load(H, NEXT);
      if (((w >>> GEN_SHIFT) & ((1 << (32 - GEN_SHIFT)) - 1)) !== gen) break; // another job
      const index = w & INDEX_MASK;
      const count = Atomics.load(H, COUNT);
      if (index >= count) break; // every call of this job is taken
      if (Atomics.compareExchange(H, NEXT, w, w + 1) !== w) continue;
      const c = callBase + index * callWords;
      const kernel = H[c];
      const argc = H[c + 1];
      const scratchArg = H[c + 2];
      const a = argsBase + index * maxArgs;
      args.length = argc;
      for (let j = 0; j < argc; j++) args[j] = A[a + j];
      if (scratchArg >= 0) args[scratchArg] += slot * H[c + 3]; // this thread's own scratch
      try {
        fns[kernel].apply(null, args);
      } catch (e) {
        errors.postMessage(names[kernel] + ' on worker ' + slot + ': ' + message(e));
        Atomics.store(H, FAILED, 1);
      }
      if (Atomics.add(H, DONE, 1) + 1 === count) Atomics.notify(H, DONE);
    }
  }
}

main();
`;
