/**
 * Child process of `reformer bench attention`: measures ONE attention layer at ONE length, so that its
 * peak resident memory (`process.resourceUsage().maxRSS`) is not polluted by other lengths.
 *
 *   node dist/src/node/bench/attention-child.js '{"mode":"lsh","seqLen":65536,"threads":2}'
 *
 * mode "baseline" only loads the backend (the RSS of Node + the kernels, for reference).
 * Prints one JSON line: { seconds, reps, peak_rss_bytes, wasm_peak_bytes, wasm_memory_bytes }; on an
 * error, one line `error: <message>` on stderr and exit code 1.
 */
import { pathToFileURL } from 'node:url';
import { loadWasmBackend } from '../wasm.js';
import { createBenchLayer, type LayerMode } from './attention-layer.js';
import { medianSeconds } from './measure.js';

export interface ChildRequest {
  mode: LayerMode | 'baseline';
  seqLen: number;
  /** undefined: all cores */
  threads?: number;
  /** Runs of the measured call (long ones); tinybench decides below 0.25 s. Default 3. */
  reps?: number;
}

export interface ChildResult {
  seconds: number | null;
  reps: number;
  peak_rss_bytes: number;
  wasm_peak_bytes: number;
  wasm_memory_bytes: number;
}

export async function runChild(req: ChildRequest): Promise<ChildResult> {
  const be = await loadWasmBackend(req.threads !== undefined ? { threads: req.threads } : {});
  try {
    let seconds: number | null = null;
    if (req.mode !== 'baseline') {
      // warm-up at a small length (the kernels' first calls run in V8's baseline tier); freed again
      be.scope(() => createBenchLayer(be, req.mode as LayerMode, Math.min(req.seqLen, 4096), 2).run());
      be.arena.resetPeak();
      const layer = createBenchLayer(be, req.mode, req.seqLen);
      seconds = await medianSeconds(() => layer.run(), { timeMs: 1000, slowReps: req.reps ?? 3, warmedUp: true });
    }
    return {
      seconds,
      reps: req.reps ?? 3,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
      wasm_peak_bytes: be.arena.peakBytes,
      wasm_memory_bytes: be.arena.capacity,
    };
  } finally {
    be.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  try {
    const req = JSON.parse(process.argv[2] ?? '{}') as ChildRequest;
    const result = await runChild(req);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
