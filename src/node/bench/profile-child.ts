/**
 * Child process of `reformer bench profile`: where ONE training step of a `ReformerModelWithLMHead`
 * (loss + reversible backward + AdamW update) spends its time, by the phases of
 * bench/profile-phases.json (shared with the PyTorch peer's torch.profiler script, bench/peer-profile.py).
 *
 *   node dist/src/node/bench/profile-child.js '{"config":{...},"seqLen":4096,"threads":1,"steps":2}'
 *
 * How the time is attributed (instrumentation lives only in this process, the model code is unchanged):
 * - Every kernel call is timed through a Proxy of the WASM backend (`be.gemm(...)` etc.; `scope` and
 *   allocation are containers / bookkeeping and go to "other"). Where the backend splits a kernel over
 *   worker threads, the call's time includes handing out the work and waiting for the slowest thread.
 * - Context comes from wrapping the sub-layer classes' methods (src/model/sublayers.ts): an
 *   `addForward` with a replay state is the reversible backward's recompute (paper Sec. 3); a plain
 *   `addForward` is the forward; `backward` is the backward. The fused feed-forward `reverseBackward`
 *   recomputes and differentiates block by block: its forward-shaped kernels (LayerNorm forward,
 *   activation forward, bias add, and y = x·Wᵀ GEMMs: transB without transA) count as recompute, the
 *   rest as backward. Outside the sub-layers: embeddings, LM head and loss (the streamed output pass
 *   computes the loss gradient of the LM head before the layers' backward: forward column; work outside
 *   the layers after their backward has begun, the embeddings' gradients: backward column); the
 *   optimizer update is timed around `optimizer.update`.
 * - Phase of a kernel, innermost first (as the peer's "innermost scope wins"): hashing (lshHash), sort
 *   (argsortKeys, invertPermutation), gathers/scatters, chunk attention (chunkAttention*, lshRoundCombine,
 *   softmax, the key RMS norm and the batched GEMMs of the LSH backward), LayerNorm, then by context:
 *   GEMMs and bias in attention = attention projections, in the feed-forward = feed-forward GEMMs (with
 *   the activation), outside the layers = embeddings, LM head, loss; optimizer; the rest (element-wise
 *   ops, non-finite checks, allocation, JavaScript between kernels) = other.
 * - Recompute context wins over the kernel: everything the backward re-runs of a layer's forward is
 *   "reversible recompute" (backward column), as the peer's profile counts HF's backward_pass re-forward.
 * - Columns: forward and backward (the backward pass, recompute included).
 * Prints one JSON line (`ProfileChildResult`).
 */
import { runAsChild } from './child.js';
import type { Backend } from '../../backend/backend.js';
import { ReformerConfig } from '../../config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../model/lm-model.js';
import { AttentionSublayer, FeedForwardSublayer } from '../../model/sublayers.js';
import { createOptimizer } from '../../train/trainer.js';
import { Rng } from '../../util/rng.js';
import { loadWasmBackend } from '../wasm.js';
import { fitConfigToLength } from './model-child.js';

export interface ProfileChildRequest {
  /** HF config.json fields (fitted to seqLen by the parent). */
  config: Record<string, unknown>;
  seqLen: number;
  /** undefined: all cores. */
  threads?: number;
  /** Profiled steps after one untimed warm-up step. Default 2. */
  steps?: number;
}

/** Where a kernel call ran: the forward, the backward's re-run of a layer's forward, the backward. */
export type ProfileColumn = 'forward' | 'recompute' | 'backward';

export interface ProfilePhase {
  name: string;
  forward_ms: number;
  /** The backward pass, recompute included. */
  backward_ms: number;
  total_ms: number;
  percent: number;
  /** The kernels with the most time in this phase: [name, ms]. */
  top_kernels: Array<[string, number]>;
}

export interface ProfileChildResult {
  /** Mean milliseconds of one step (loss + backward + optimizer), wall clock. */
  step_ms: number;
  /** Sum over kernels of their time (the rest is JavaScript between them). */
  kernel_ms: number;
  phases: ProfilePhase[];
  threads: number;
  wasm_variant: string;
}

/** The phases of bench/profile-phases.json, in order (`thread dispatch / idle` is derived by the parent). */
export const PROFILE_PHASES = [
  'hashing',
  'sort',
  'gathers/scatters',
  'chunk attention',
  'attention projections',
  'feed-forward GEMMs',
  'LayerNorm',
  'embeddings, LM head, loss',
  'reversible recompute',
  'optimizer',
  'other',
] as const;
type Phase = (typeof PROFILE_PHASES)[number];

type Place = 'attention' | 'feed-forward' | 'outside' | 'optimizer';

const BY_KERNEL: Record<string, Phase> = {
  lshHash: 'hashing',
  argsortKeys: 'sort',
  invertPermutation: 'sort',
  gatherRows: 'gathers/scatters',
  scatterRows: 'gathers/scatters',
  scatterAddRows: 'gathers/scatters',
  chunkAttentionForward: 'chunk attention',
  chunkAttentionBackward: 'chunk attention',
  lshRoundCombine: 'chunk attention',
  softmaxRows: 'chunk attention',
  softmaxRowsBackward: 'chunk attention',
  layerNormForward: 'LayerNorm',
  layerNormBackward: 'LayerNorm',
  adamw: 'optimizer',
};
const DENSE = new Set(['gemm', 'addRowVector', 'sumRows', 'activationForward', 'activationBackward']);
/** Not kernels: containers and bookkeeping (their time stays in "other"). */
const UNTIMED = new Set(['scope', 'floats', 'ints']);
const FORWARD_SHAPED = new Set(['layerNormForward', 'activationForward', 'addRowVector']);

function phaseOf(kernel: string, place: Place): Phase {
  if (place === 'optimizer') return 'optimizer';
  const direct = BY_KERNEL[kernel];
  if (direct) return direct;
  if (place === 'attention' && (kernel === 'gemmBatched' || kernel === 'rmsNormForward' || kernel === 'rmsNormBackward'))
    return 'chunk attention';
  if (DENSE.has(kernel)) {
    if (place === 'attention') return 'attention projections';
    if (place === 'feed-forward') return 'feed-forward GEMMs';
    return 'embeddings, LM head, loss';
  }
  return 'other';
}

/** Accumulates kernel time by (phase, column) and by kernel; the context is set by the wrappers. */
class Recorder {
  place: Place = 'outside';
  column: ProfileColumn = 'forward';
  /** Inside the fused feed-forward reverseBackward: recompute vs backward decided per kernel. */
  fused = false;
  readonly ms = new Map<string, number>(); // `${phase}|${column}`
  readonly kernels = new Map<string, number>(); // `${phase}|${kernel}`
  kernelMs = 0;
  enabled = false;

  add(kernel: string, args: unknown[], ms: number): void {
    if (!this.enabled) return;
    let column = this.column;
    if (this.fused) {
      const p = args[0] as { transA?: boolean; transB?: boolean } | undefined;
      const forwardGemm = kernel === 'gemm' && p?.transB === true && p.transA !== true;
      column = FORWARD_SHAPED.has(kernel) || forwardGemm ? 'recompute' : 'backward';
    }
    const phase = column === 'recompute' ? 'reversible recompute' : phaseOf(kernel, this.place);
    const key = `${phase}|${column === 'recompute' ? 'backward' : column}`;
    this.ms.set(key, (this.ms.get(key) ?? 0) + ms);
    const kk = `${phase}|${kernel}`;
    this.kernels.set(kk, (this.kernels.get(kk) ?? 0) + ms);
    this.kernelMs += ms;
  }

  /** Runs `f` with the context set, restoring the previous one after. */
  within<T>(place: Place, column: ProfileColumn, fused: boolean, f: () => T): T {
    const saved = [this.place, this.column, this.fused] as const;
    this.place = place;
    this.column = column;
    this.fused = fused;
    try {
      return f();
    } finally {
      [this.place, this.column, this.fused] = saved;
      // once the layers' backward has begun, work outside them (embedding gradients) is backward too
      if (saved[0] === 'outside' && column !== 'forward') this.column = 'backward';
    }
  }
}

/** A Proxy of `be` that times every kernel method into `rec` (the target runs them, `this` = target). */
function profiledBackend<B extends Backend>(be: B, rec: Recorder): B {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(be, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== 'function' || typeof key !== 'string' || UNTIMED.has(key)) {
        return typeof v === 'function' ? v.bind(target) : v;
      }
      let w = wrapped.get(key);
      if (!w) {
        w = (...args: unknown[]) => {
          const t0 = performance.now();
          try {
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          } finally {
            rec.add(key, args, performance.now() - t0);
          }
        };
        wrapped.set(key, w);
      }
      return w;
    },
  });
}

/** Wraps the sub-layer classes' methods so that `rec` knows where each kernel call comes from. */
function instrumentSublayers(rec: Recorder): void {
  type Method = (this: unknown, ...args: unknown[]) => unknown;
  const wrap = (proto: object, name: string, ctx: (args: unknown[]) => [Place, ProfileColumn, boolean]): void => {
    const p = proto as Record<string, Method>;
    const orig = p[name];
    if (!orig) return;
    p[name] = function (this: unknown, ...args: unknown[]) {
      const [place, column, fused] = ctx(args);
      return rec.within(place, column, fused, () => orig.apply(this, args));
    };
  };
  for (const [cls, place] of [
    [AttentionSublayer.prototype, 'attention'],
    [FeedForwardSublayer.prototype, 'feed-forward'],
  ] as const) {
    wrap(cls, 'addForward', (a) => [place, a[3] === null || a[3] === undefined ? 'forward' : 'recompute', false]);
    wrap(cls, 'backward', () => [place, 'backward', false]);
    wrap(cls, 'reverseBackward', () => [place, 'backward', true]);
  }
}

export async function runProfileChild(req: ProfileChildRequest): Promise<ProfileChildResult> {
  const rec = new Recorder();
  instrumentSublayers(rec);
  const raw = await loadWasmBackend(req.threads !== undefined ? { threads: req.threads } : {});
  const be = profiledBackend(raw, rec);
  const config = ReformerConfig.fromJSON(req.config);
  const L = req.seqLen;
  const lm = new ReformerModelWithLMHead(be, config);
  const optimizer = createOptimizer(lm, 'adamw');
  const rng = new Rng(1);
  const ids = Int32Array.from({ length: L }, () => rng.int(config.vocab_size));
  const step = (): void => {
    rec.column = 'forward';
    be.scope(() => {
      lm.parameters.zeroGrads();
      lm.lossAndGrad({ inputIds: ids, batch: 1, seqLen: L });
    });
    rec.within('optimizer', 'backward', false, () => optimizer.update(lm.params, lm.grads, 1e-4));
  };
  step(); // warm-up: V8 tiers, arena growth
  const steps = req.steps ?? 2;
  rec.enabled = true;
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) step();
  const stepMs = (performance.now() - t0) / steps;
  const per = (m: number): number => m / steps;
  const phases: ProfilePhase[] = PROFILE_PHASES.map((name) => {
    const col = (c: ProfileColumn): number => per(rec.ms.get(`${name}|${c}`) ?? 0);
    const top = [...rec.kernels.entries()]
      .filter(([k]) => k.startsWith(`${name}|`))
      .map(([k, v]): [string, number] => [k.slice(name.length + 1), per(v)])
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4);
    return { name, forward_ms: col('forward'), backward_ms: col('backward'), total_ms: 0, percent: 0, top_kernels: top };
  });
  const kernelMs = per(rec.kernelMs);
  const other = phases.find((p) => p.name === 'other')!;
  other.top_kernels.push(['JavaScript between kernels, allocation', stepMs - kernelMs]);
  for (const p of phases) {
    p.total_ms = p.forward_ms + p.backward_ms + (p === other ? stepMs - kernelMs : 0);
    p.percent = (100 * p.total_ms) / stepMs;
  }
  const result = { step_ms: stepMs, kernel_ms: kernelMs, phases, threads: raw.threads, wasm_variant: raw.variant };
  raw.close();
  return result;
}

await runAsChild(import.meta.url, async (req: ProfileChildRequest) => {
  if (req.config === undefined) req.config = fitConfigToLength({}, req.seqLen).config.toJSON();
  return runProfileChild(req);
});
