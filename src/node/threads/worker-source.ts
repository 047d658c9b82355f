/**
 * The body of a pool worker (src/node/threads/pool.ts), as source text run with
 * `new Worker(WORKER_SOURCE, { eval: true })`: a plain CommonJS script with no imports of this
 * package, so it runs the same from the TypeScript sources (tests), from dist/ and from bundles.
 *
 * workerData: { module, memory, control, names, slot, spinMs, errors, argsOffset, maxArgs, slotInts }
 *   - instantiates `module` on the shared `memory` (the same compiled kernels as the main thread);
 *   - loops: waits until its slot's `seq` word changes (spins for `spinMs`, then Atomics.wait), runs
 *     kernel `names[kernel]` with the slot's f64 arguments, stores `done = seq`, notifies;
 *   - on a trap: `status = 1` and the message on `errors` (read synchronously by the main thread);
 *   - if it cannot start: `dead = 1`, message on `errors`, wakes the main thread, ends;
 *   - `stop` word set: ends.
 * Slot layout (Int32 words from slot·slotInts): 0 seq, 1 done, 2 kernel, 3 argc, 4 status, 5 dead;
 * word 0 of the block past the last slot: stop. Arguments: Float64 at argsOffset + slot·maxArgs·8.
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, control, names, slot, spinMs, errors, argsOffset, maxArgs, slotInts, stopIndex } = workerData;
const H = new Int32Array(control);
const A = new Float64Array(control, argsOffset + slot * maxArgs * 8, maxArgs);
const base = slot * slotInts;
const SEQ = base, DONE = base + 1, KERNEL = base + 2, ARGC = base + 3, STATUS = base + 4, DEAD = base + 5;

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
    Atomics.store(H, DEAD, 1);
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
    if (Atomics.load(H, stopIndex) !== 0) return;
    const fn = fns[H[KERNEL]];
    const argc = H[ARGC];
    args.length = argc;
    for (let j = 0; j < argc; j++) args[j] = A[j];
    try {
      fn.apply(null, args);
      H[STATUS] = 0;
    } catch (e) {
      H[STATUS] = 1;
      errors.postMessage(names[H[KERNEL]] + ' on worker ' + slot + ': ' + message(e));
    }
    Atomics.store(H, DONE, s);
    Atomics.notify(H, DONE);
  }
}

main();
`;
