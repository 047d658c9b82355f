/**
 * The thread protocol behind the WASM backend's multi-thread executors (`KernelExecutor`, executor.ts),
 * shared by the browser's `WebWorkerPool` (worker-executor.ts) and Node's `WorkerPool`
 * (src/node/threads/pool.ts). Browser-safe: no `node:` imports.
 *
 * `threads − 1` helper threads instantiate the SAME compiled kernel module on the SAME shared
 * `WebAssembly.Memory`; a split operation's calls (~15 numbers each: sizes and byte addresses) go
 * through a shared control block:
 *
 *   - `JobBoard.runAll` (the calling thread) writes the call table and its f64 arguments, bumps the job
 *     word `SEQ` and notifies; then it takes calls itself from the claim word `NEXT` (job generation in
 *     the high bits, call index in the low bits: a compare-and-swap that fails once the job is complete
 *     or a newer job started, so a late helper never takes a call of another job), and waits until
 *     `DONE` counts every call (spinning for `spinMs`, then `Atomics.wait`);
 *   - each helper (`HELPER_LOOP_SOURCE`, plain JavaScript run inside the helper) waits for `SEQ` to
 *     change (spins for `spinMs`, then sleeps in `Atomics.wait`), re-reads `memory.buffer` (the caller's
 *     arena may have grown the memory since the last job; Chromium's helpers otherwise computed wrong
 *     results after a grow), claims calls the same way, runs each
 *     (a call with a scratch argument runs with that address + slot·stride: every thread has its own
 *     scratch), counts it in `DONE` and notifies the caller after the last one;
 *   - a trap on a helper sets `FAILED` and writes the first message into the control block's text area
 *     (read synchronously by the caller: a thread blocked in `runAll` cannot receive messages), and the
 *     call still counts as done, so `runAll` returns and throws with the kernel's name;
 *   - `STOP` ends the helpers.
 * Which thread runs a call never changes the result (calls write disjoint outputs with the
 * instructions of one whole call), and a helper that never started only means the others (the caller
 * included) take its share.
 *
 */
import { UsageError } from '../../errors.js';
import { MAX_KERNEL_ARGS, type KernelCall } from './executor.js';
import { KERNEL_NAMES } from './kernels.generated.js';

/** Most calls of one `runAll`. */
export const MAX_CALLS = 64;

/** Characters of a helper's error message kept in the control block. */
const ERROR_CHARS = 1024;

/**
 * Word indices of the control block (Int32 view; each hot word on its own 64-byte line), the call
 * table (4 words per call: kernel index, argc, scratch argument index (−1: none), scratch stride in
 * bytes), the f64 arguments (Float64 index `argsBase`) and the error text (`errorBase`, UTF-16 codes).
 */
export interface ControlLayout {
  readonly SEQ: number;
  readonly NEXT: number;
  readonly COUNT: number;
  readonly DONE: number;
  readonly FAILED: number;
  readonly STOP: number;
  /** Slot + 1 of a helper that could not start (informational: the others take its share). */
  readonly DEAD: number;
  readonly ERROR_LENGTH: number;
  readonly GEN_SHIFT: number;
  readonly INDEX_MASK: number;
  readonly callBase: number;
  readonly callWords: number;
  readonly argsBase: number;
  readonly maxArgs: number;
  readonly errorBase: number;
  readonly errorChars: number;
}

const HEADER_INTS = 112 + MAX_CALLS * 4;
const ARGS_BASE = Math.ceil((HEADER_INTS * 4) / 8); // in f64 elements
const ERROR_BASE = ((ARGS_BASE + MAX_CALLS * MAX_KERNEL_ARGS) * 8) / 4; // in i32 elements

export const CONTROL_LAYOUT: ControlLayout = Object.freeze({
  SEQ: 0, // job generation, bumped per job; helpers wait on it
  NEXT: 16, // claim word: generation << GEN_SHIFT | next call index
  COUNT: 32, // calls of the current job
  DONE: 48, // calls finished; the caller waits on it
  FAILED: 64, // 1 once a call trapped on a helper (the first one writes the message)
  STOP: 80, // 1: helpers exit
  DEAD: 96,
  ERROR_LENGTH: 100,
  GEN_SHIFT: 20,
  INDEX_MASK: (1 << 20) - 1,
  callBase: 112,
  callWords: 4,
  argsBase: ARGS_BASE,
  maxArgs: MAX_KERNEL_ARGS,
  errorBase: ERROR_BASE,
  errorChars: ERROR_CHARS,
});

/** Bytes of a control block. */
export const CONTROL_BYTES = (ERROR_BASE + ERROR_CHARS) * 4;

const GEN_MASK = (1 << (32 - CONTROL_LAYOUT.GEN_SHIFT)) - 1;
const KERNEL_INDEX = new Map<string, number>(KERNEL_NAMES.map((n, i) => [n, i]));

/**
 * The calling thread's side of the protocol: one control block, `runAll` (dispatch, take calls, wait),
 * `stop`. The helpers get `control`, `CONTROL_LAYOUT` and `KERNEL_NAMES` (call table index →
 * export) and run `HELPER_LOOP_SOURCE`'s `reformerKernelHelper`.
 */
export class JobBoard {
  /** The shared control block to hand to the helpers. */
  readonly control: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly spinMs: number;
  private readonly owner: string;
  private gen = 0;
  private busy = false;
  private stopped = false;
  /** performance.now() at the end of the last job (the helpers spin for spinMs after it). */
  private lastEnd = -Infinity;

  /**
   * @param spinMs milliseconds helpers (and the waiting caller) spin before sleeping
   * @param owner the executor's name in error messages (e.g. `WorkerPool`)
   */
  constructor(spinMs: number, owner: string) {
    this.spinMs = spinMs;
    this.owner = owner;
    this.control = new SharedArrayBuffer(CONTROL_BYTES);
    this.ctl = new Int32Array(this.control);
    this.args = new Float64Array(this.control);
  }

  /** Records that helper `slot` (1-based) could not start. */
  markDead(slot: number): void {
    Atomics.store(this.ctl, CONTROL_LAYOUT.DEAD, slot);
  }

  /** Slot of a helper that could not start, or 0. */
  dead(): number {
    return Atomics.load(this.ctl, CONTROL_LAYOUT.DEAD);
  }

  /** `KernelExecutor.runAll` over the helpers that watch this block (see the file header). */
  runAll(calls: readonly KernelCall[], local: (call: KernelCall) => void): void {
    const L = CONTROL_LAYOUT;
    if (this.stopped) throw new UsageError(`${this.owner}: run after close()`);
    if (this.busy) throw new UsageError(`${this.owner}: runAll is not reentrant (a kernel call is already being dispatched)`);
    const n = calls.length;
    if (n > MAX_CALLS) throw new UsageError(`${this.owner}: ${n} calls in one job, more than ${MAX_CALLS}`);
    if (n === 0) return;
    this.busy = true;
    const H = this.ctl;
    try {
      this.gen = (this.gen + 1) & GEN_MASK;
      const gen = this.gen;
      // close the claim word first: a helper still holding the previous job's last claim word (index ==
      // its count) must fail its compare-and-swap instead of taking a call of the table rewritten below
      Atomics.store(H, L.NEXT, (gen << L.GEN_SHIFT) | L.INDEX_MASK);
      for (let i = 0; i < n; i++) {
        const call = calls[i]!;
        const index = KERNEL_INDEX.get(call.kernel);
        if (index === undefined) throw new UsageError(`${this.owner}: unknown kernel '${call.kernel}'`);
        if (call.args.length > MAX_KERNEL_ARGS) {
          throw new UsageError(`${this.owner}: ${call.kernel} has ${call.args.length} arguments, more than ${MAX_KERNEL_ARGS}`);
        }
        const c = L.callBase + i * L.callWords;
        H[c] = index;
        H[c + 1] = call.args.length;
        H[c + 2] = call.scratch ? call.scratch.arg : -1;
        H[c + 3] = call.scratch ? call.scratch.stride : 0;
        this.args.set(call.args, L.argsBase + i * MAX_KERNEL_ARGS);
      }
      Atomics.store(H, L.COUNT, n); // atomic: ordered after the closing store above
      Atomics.store(H, L.DONE, 0);
      Atomics.store(H, L.FAILED, 0);
      Atomics.store(H, L.ERROR_LENGTH, 0);
      Atomics.store(H, L.NEXT, gen << L.GEN_SHIFT); // publishes the calls written above
      Atomics.store(H, L.SEQ, gen);
      Atomics.notify(H, L.SEQ);

      // take calls like a helper; after a local failure, take the rest without running them
      let failure: unknown = null;
      let failed = false;
      for (;;) {
        const w = Atomics.load(H, L.NEXT);
        const i = w & L.INDEX_MASK;
        if (i >= n) break;
        if (Atomics.compareExchange(H, L.NEXT, w, w + 1) !== w) continue;
        if (!failed) {
          try {
            local(calls[i]!);
          } catch (e) {
            failure = e;
            failed = true;
          }
        }
        Atomics.add(H, L.DONE, 1);
      }
      this.awaitDone(n);
      if (failed) throw failure;
      if (Atomics.load(H, L.FAILED) !== 0) {
        const len = Atomics.load(H, L.ERROR_LENGTH);
        const text = String.fromCharCode(...H.subarray(L.errorBase, L.errorBase + len));
        throw new Error(`WASM kernel trapped on a worker thread: ${text || 'no message'}`);
      }
    } finally {
      this.busy = false;
      this.lastEnd = performance.now();
    }
  }

  /** True while the helpers are still spinning after the last job. */
  hot(): boolean {
    return performance.now() - this.lastEnd < this.spinMs * 0.8;
  }

  /** Tells the helpers to exit; later `runAll` calls throw. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctl, CONTROL_LAYOUT.STOP, 1);
    Atomics.store(this.ctl, CONTROL_LAYOUT.SEQ, (this.gen + 1) & GEN_MASK);
    Atomics.notify(this.ctl, CONTROL_LAYOUT.SEQ);
  }

  /** Waits until DONE == n: spins for spinMs, then sleeps on the DONE word. */
  private awaitDone(n: number): void {
    const H = this.ctl;
    let t0 = performance.now();
    let i = 0;
    for (let d = Atomics.load(H, CONTROL_LAYOUT.DONE); d !== n; d = Atomics.load(H, CONTROL_LAYOUT.DONE)) {
      if ((++i & 1023) === 0 && performance.now() - t0 > this.spinMs) {
        Atomics.wait(H, CONTROL_LAYOUT.DONE, d, 50);
        t0 = performance.now();
      }
    }
  }
}

/**
 * JavaScript source of `function reformerKernelHelper(fns, names, control, slot, spinMs, layout, memory)`,
 * the helper's loop (returns on STOP): `fns[i]` is the kernel export named `names[i]` of the helper's own
 * instance, `memory` the shared `WebAssembly.Memory` it imports (re-read at every job: it may have grown). Source text, not an import, so that a helper needs nothing of this package: Node evaluates
 * it in a worker_thread (src/node/threads/worker-source.ts), browsers in a Blob-URL worker.
 */
export const HELPER_LOOP_SOURCE = `
function reformerKernelHelper(fns, names, control, slot, spinMs, layout, memory) {
  const { SEQ, NEXT, COUNT, DONE, FAILED, STOP, ERROR_LENGTH, GEN_SHIFT, INDEX_MASK, callWords, callBase, argsBase, maxArgs, errorBase, errorChars } = layout;
  const H = new Int32Array(control);
  const A = new Float64Array(control);
  const genMask = (1 << (32 - GEN_SHIFT)) - 1;
  function fail(text) {
    if (Atomics.compareExchange(H, FAILED, 0, 1) !== 0) return; // keep the first message of the job
    const n = Math.min(text.length, errorChars);
    for (let i = 0; i < n; i++) H[errorBase + i] = text.charCodeAt(i);
    Atomics.store(H, ERROR_LENGTH, n);
  }
  let seen = 0;
  const args = [];
  for (;;) {
    let s = Atomics.load(H, SEQ);
    if (s === seen) {
      // spin briefly (a futex wake costs ~0.1 ms on a VM), then sleep until the caller posts
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
    // the memory may have grown since the last job (the caller's arena grows it between jobs): reading
    // memory.buffer brings this thread's instance up to date. Without it, Chromium 156's helpers computed
    // wrong results after a grow, with no trap (measured: web/test/page.test.ts compares with Node)
    void memory.buffer.byteLength;
    const gen = s & genMask;
    for (;;) {
      const w = Atomics.load(H, NEXT);
      if (((w >>> GEN_SHIFT) & genMask) !== gen) break; // another job
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
        fail(names[kernel] + ' on worker ' + slot + ': ' + (e && e.message ? String(e.message) : String(e)));
      }
      if (Atomics.add(H, DONE, 1) + 1 === count) Atomics.notify(H, DONE);
    }
  }
}
`;
