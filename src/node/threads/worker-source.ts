/**
 * The body of a pool worker (src/node/threads/pool.ts), as source text run with
 * `new Worker(WORKER_SOURCE, { eval: true })`: a plain CommonJS script with no imports of this
 * package, so it runs the same from the TypeScript sources (tests), from dist/ and from bundles.
 *
 * workerData: { module, memory, control, names, slot, spinMs, layout }: instantiates `module` on the
 * shared `memory` (the same compiled kernels as the main thread), posts 'ready', then runs the helper
 * loop shared with the browser pool (`HELPER_LOOP_SOURCE`, src/backend/wasm/worker-executor.ts) until
 * STOP. If it cannot instantiate the kernels it throws (the pool's 'error' event: `ready()` rejects
 * with the message, and the other threads take this worker's share).
 */
import { HELPER_LOOP_SOURCE } from '../../backend/wasm/job-board.js';

export const WORKER_SOURCE = `
'use strict';
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, control, names, slot, spinMs, layout } = workerData;
${HELPER_LOOP_SOURCE}
let fns;
try {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  fns = names.map((n) => instance.exports[n]);
} catch (e) {
  throw new Error('worker ' + slot + ' could not instantiate the kernels: ' + (e && e.message ? e.message : String(e)));
}
parentPort.postMessage('ready');
reformerKernelHelper(fns, names, control, slot, spinMs, layout, memory);
`;
