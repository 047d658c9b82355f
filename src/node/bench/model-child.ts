/**
 * Child process of `reformer bench model` and `reformer bench memory`: runs ONE whole-model measurement
 * (`ReformerModelWithLMHead`, the given config, one length, one mode) in a fresh Node process, so its
 * peak resident memory (`process.resourceUsage().maxRSS`) belongs to that run alone.
 *
 *   node dist/src/node/bench/model-child.js '{"config":{...},"seqLen":65536,"batch":1,"mode":"train","reversible":true,"threads":1,"reps":3}'
 *
 * - mode "forward": the evaluation loss `model.loss(batch)` (streamed: logits never held whole);
 *   mode "train": one training step `model.lossAndGrad(batch)` (loss + gradients; with `optimizer`, plus one
 *   AdamW update of every parameter, `createOptimizer(model, 'adamw')`);
 *   mode "baseline": only loads the backend (the RSS of Node + the kernels, for reference).
 * - Warm-up (`warmup`, default true): one call of the same model code at min(seqLen, 4096) tokens on a
 *   temporary model (the kernels' first calls run in V8's baseline tier), freed before measuring.
 * - Then `reps` timed calls at seqLen (default 3), stopping early once `maxSeconds` of timed calls have
 *   passed (at least one call always runs). Tokens are seeded pseudo-random ids in [0, vocab).
 *
 * Prints one JSON line (`ModelChildResult`); on an error, one line `error: <message>` on stderr
 * (`error: ResourceError: ...` when the model refused the run for memory) and exit code 1.
 */
import { runAsChild } from './child.js';
import { ReformerConfig } from '../../config/reformer-config.js';
import { chunkLengthRule } from '../../model/lengths.js';
import { ReformerModelWithLMHead } from '../../model/lm-model.js';
import type { Optimizer } from '../../train/optimizer.js';
import { createOptimizer } from '../../train/optimizer-choice.js';
import { Rng } from '../../util/rng.js';
import { loadWasmBackend } from '../wasm.js';
import { median } from './measure.js';

export type ModelBenchMode = 'forward' | 'train';

export interface ModelChildRequest {
  /** HF config.json fields (already fitted to seqLen, see `fitConfigToLength`). */
  config: Record<string, unknown>;
  seqLen: number;
  /** Default 1. */
  batch?: number;
  mode: ModelBenchMode | 'baseline';
  /** Training: reversible backward (default true) or store-activations. */
  reversible?: boolean;
  /** undefined: all cores */
  threads?: number;
  /** Timed calls. Default 3. */
  reps?: number;
  /** Stop repeating once this many seconds of timed calls have passed. Default: no limit. */
  maxSeconds?: number;
  /** Warm-up call at min(seqLen, 4096) tokens first. Default true. */
  warmup?: boolean;
  /** Where the residual streams live (`ReformerOptions.hostStreams`). Default 'auto'. */
  hostStreams?: 'auto' | 'always' | 'never';
  /** Host path: bytes WASM + host arrays may take (`ReformerOptions.hostMemoryBytes`). Default: none. */
  hostMemoryBytes?: number;
  /** Train mode: one AdamW update after each step's gradients (timed with it). Default false. */
  optimizer?: boolean;
}

export interface ModelChildResult {
  /** Median seconds per call (null for the baseline). */
  seconds: number | null;
  /** Every timed call, in order. */
  times: number[];
  loss: number | null;
  peak_rss_bytes: number;
  /** High-water mark of the WASM arena during the timed calls (parameters included). */
  wasm_peak_bytes: number;
  /** Size of the WASM memory at the end. */
  wasm_memory_bytes: number;
  /** The model's own estimate of the peak (model/memory.ts). */
  estimated_wasm_bytes: number | null;
  /** The residual streams and their gradients lived in host arrays outside the WASM memory. */
  host_streams?: boolean;
  /** The estimate's host arrays (0 on the arena path). */
  estimated_host_bytes?: number | null;
  /** The kernel build that ran: 'relaxed-simd' or 'simd'. */
  wasm_variant: string;
}

/** Two factors [a, n/a] of n with a the largest divisor ≤ √n (a power of two for powers of two). */
function axialFactors(n: number): [number, number] {
  let a = Math.floor(Math.sqrt(n));
  while (a > 1 && n % a !== 0) a--;
  return [a, n / a];
}

/**
 * The config adjusted so that a sequence of `seqLen` tokens fits: `max_position_embeddings` ≥ seqLen
 * and, with axial position embeddings, `axial_pos_shape` with product exactly seqLen (training needs
 * equality): the last two axes become [a, seqLen/a] (a the largest divisor ≤ √seqLen), earlier axes 1;
 * `max_position_embeddings` then becomes seqLen (it may not exceed the product). A `seqLen` that is not
 * a multiple of the chunk lengths' lcm is first padded to one, as the model pads an evaluation input.
 * Returns the config and a note describing the change (null if none was needed).
 */
export function fitConfigToLength(json: Record<string, unknown>, seqLen: number): { config: ReformerConfig; note: string | null } {
  const base = ReformerConfig.fromJSON(json);
  const changes: Record<string, unknown> = {};
  const notes: string[] = [];
  // the model pads a forward's input to a multiple of the chunk lengths: the positions must cover that
  const { lcm, min } = chunkLengthRule(base);
  const padded = seqLen % lcm !== 0 && seqLen > min ? seqLen + (lcm - (seqLen % lcm)) : seqLen;
  const given = seqLen;
  seqLen = padded;
  if (base.axial_pos_embds) {
    const shape = base.axial_pos_shape;
    const prod = shape.reduce((a, b) => a * b, 1);
    if (prod !== seqLen) {
      const k = shape.length;
      const fitted = k === 1 ? [seqLen] : [...Array<number>(k - 2).fill(1), ...axialFactors(seqLen)];
      changes.axial_pos_shape = fitted;
      notes.push(`axial_pos_shape [${shape.join(', ')}] → [${fitted.join(', ')}]`);
    }
  }
  // max_position_embeddings ≥ seqLen, and (axial) ≤ the new product, which config validation requires
  const maxPos = base.max_position_embeddings;
  if (maxPos < seqLen || (changes.axial_pos_shape !== undefined && maxPos > seqLen)) {
    changes.max_position_embeddings = seqLen;
    notes.push(`max_position_embeddings ${maxPos} → ${seqLen}`);
  }
  if (notes.length === 0) return { config: base, note: null };
  const what = padded === given ? `seq_len ${given}` : `seq_len ${given} (padded to ${padded})`;
  return { config: base.with(changes), note: `adjusted to ${what}: ${notes.join(', ')}` };
}

/** Seeded pseudo-random token ids [batch·seqLen] in [0, vocab). */
function tokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = rng.int(vocab);
  return ids;
}

export async function runModelChild(req: ModelChildRequest): Promise<ModelChildResult> {
  const be = await loadWasmBackend(req.threads !== undefined ? { threads: req.threads } : {});
  try {
    if (req.mode === 'baseline') {
      return {
        seconds: null,
        times: [],
        loss: null,
        peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
        wasm_peak_bytes: be.arena.peakBytes,
        wasm_memory_bytes: be.arena.capacity,
        estimated_wasm_bytes: null,
        host_streams: false,
        estimated_host_bytes: null,
        wasm_variant: be.variant,
      };
    }
    const mode = req.mode;
    const B = req.batch ?? 1;
    const L = req.seqLen;
    const reversible = req.reversible ?? true;
    const options = {
      reversible,
      hostStreams: req.hostStreams ?? 'auto',
      ...(req.hostMemoryBytes !== undefined ? { hostMemoryBytes: req.hostMemoryBytes } : {}),
    } as const;
    const config = ReformerConfig.fromJSON(req.config);
    const optimizers = new Map<ReformerModelWithLMHead, Optimizer>();
    const run = (model: ReformerModelWithLMHead, ids: Int32Array, len: number): number => {
      const loss = be.scope(() => {
        const batch = { inputIds: ids, batch: B, seqLen: len };
        if (mode === 'forward') return model.loss(batch).loss;
        model.parameters.zeroGrads();
        return model.lossAndGrad(batch).loss;
      });
      if (mode === 'train' && req.optimizer) {
        // the moments live in the arena beside the parameters, allocated once per model (outside the step's scope)
        const opt = optimizers.get(model) ?? createOptimizer(model, 'adamw');
        optimizers.set(model, opt);
        opt.update(model.params, model.grads, 1e-4);
      }
      return loss;
    };
    if (req.warmup ?? true) {
      const w = Math.min(L, 4096);
      be.scope(() => {
        const small = fitConfigToLength(req.config, w).config;
        run(new ReformerModelWithLMHead(be, small, options), tokens(B * w, small.vocab_size, 1), w);
      });
    }
    const model = new ReformerModelWithLMHead(be, config, options);
    const ids = tokens(B * L, config.vocab_size, 2);
    const host = model.usesHostStreams({ batch: B, seqLen: L }, mode);
    const estimate = model.memoryEstimate({ batch: B, seqLen: L }, mode, { hostStreams: host, optimizer: req.optimizer ?? false });
    be.arena.resetPeak();
    const times: number[] = [];
    let loss: number | null = null;
    const reps = Math.max(1, req.reps ?? 3);
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      loss = run(model, ids, L);
      times.push((performance.now() - t0) / 1000);
      if (req.maxSeconds !== undefined && times.reduce((a, b) => a + b, 0) >= req.maxSeconds) break;
    }
    return {
      seconds: median(times),
      times,
      loss,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
      wasm_peak_bytes: be.arena.peakBytes,
      wasm_memory_bytes: be.arena.capacity,
      estimated_wasm_bytes: estimate.bytes,
      host_streams: host,
      estimated_host_bytes: estimate.hostBytes,
      wasm_variant: be.variant,
    };
  } finally {
    be.close();
  }
}

await runAsChild(import.meta.url, runModelChild);
