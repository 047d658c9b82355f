/**
 * Conformance handler of HF's cached greedy decoding cases (`decode_*`, `"procedure":
 * "cached_greedy_decoding"`, component `ReformerModelWithLMHead`; test/fixtures/hf-reformer/README.md,
 * "Cached incremental decoding"):
 *
 * - the prompt pass (`out:prompt.logits`, `cap:prompt.embedding_output`, `cap:prompt.layers.<i>.buckets`);
 * - every cached step, teacher-forced with `out:greedy.ids[:, k]` (`out:step.logits`,
 *   `cap:step.embedding_output`, `cap:step.layers.<i>.buckets`, `…window_positions`);
 * - our own greedy choices (`out:greedy.ids`: argmax of the prompt's last row, then of every step);
 * - the cache after the last step (`cap:cache.layers.<i>.states`, `…buckets`);
 * - the non-cached forward of every prefix (`out:full.logits`) and the documented relation between the
 *   two: per step, |cached − full| must stay within HF's own (`cached_vs_full`) plus the comparison
 *   tolerance, and the argmax agreement must be HF's.
 * `cap:rotations` serves every draw (the cases set `hash_seed`).
 */
import type { Float } from '../backend/backend.js';
import type { ConformanceCheck, ConformanceContext, ConformanceOutputs } from '../conformance/types.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { FormatError } from '../errors.js';
import { ReformerModelWithLMHead } from './lm-model.js';

/** The HF cached-decoding cases (test/fixtures/hf-reformer/decode_*). */
export const DECODE_CONFORMANCE_CASES: readonly string[] = Object.freeze([
  'decode_local_only',
  'decode_lsh_nh1',
  'decode_mixed_nh2',
  'decode_lsh_factorized',
]);

function argmax(row: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (row[offset + j]! > row[offset + best]!) best = j;
  return best;
}

/** Runs one `decode_*` case (see the file header). */
export function cachedDecodingConformance(ctx: ConformanceContext): ConformanceOutputs {
  const be = ctx.be;
  const config = ReformerConfig.fromJSON(ctx.config as Record<string, unknown>);
  const model = new ReformerModelWithLMHead(be, config);
  for (const e of model.parameters.entries) model.parameters.set(e.name, ctx.shape(e.name), ctx.floats(e.name));
  const prompt = ctx.ints('in:input_ids');
  const greedy = ctx.ints('out:greedy.ids');
  const [B, P] = ctx.shape('in:input_ids') as [number, number];
  if (B !== 1) throw new FormatError(`${ctx.name}: cached decoding cases have batch 1, got ${B}`);
  const N = greedy.length - 1;
  const V = config.vocab_size;
  const D = config.hidden_size;
  const H = config.num_attention_heads;
  const R = config.num_hashes;
  const rot: Float | null = ctx.has('cap:rotations') ? ctx.floats('cap:rotations') : null;
  const rotations = config.attn_layers.map((t) => (t === 'lsh' ? rot : null));

  const session = model.createDecoder({ rotations, capture: true, capacity: P + N });
  const cap = session.capture!;
  const tensors: Record<string, ArrayLike<number>> = {};
  const last = session.prompt(prompt);
  const pc = cap.prompt!;
  tensors['out:prompt.logits'] = pc.logits;
  tensors['cap:prompt.embedding_output'] = pc.embedding;
  pc.buckets.forEach((b, i) => {
    if (b) tensors[`cap:prompt.layers.${i}.buckets`] = b;
  });
  const ours = new Int32Array(N + 1);
  ours[0] = argmax(last, 0, V);
  const stepLogits = new Float64Array(N * V);
  for (let k = 0; k < N; k++) {
    const row = session.step(greedy[k]!); // teacher forcing
    stepLogits.set(row, k * V);
    ours[k + 1] = argmax(row, 0, V);
  }
  tensors['out:step.logits'] = stepLogits;
  tensors['out:greedy.ids'] = ours;
  const stepEmb = new Float64Array(N * D);
  for (const [k, s] of cap.steps.entries()) stepEmb.set(s.embedding, k * D);
  tensors['cap:step.embedding_output'] = stepEmb;
  config.attn_layers.forEach((type, i) => {
    // the cache after the last step: HF's states [1, P+N, D] and (LSH) buckets [1, H, R, P+N]
    const states = new Float64Array((P + N) * D);
    states.set(pc.states[i]!, 0);
    for (const [k, s] of cap.steps.entries()) states.set(s.states[i]!, (P + k) * D);
    tensors[`cap:cache.layers.${i}.states`] = states;
    if (type !== 'lsh') return;
    const cached = session.cachedBuckets(i);
    if (cached) tensors[`cap:cache.layers.${i}.buckets`] = cached;
    // per step [H, R] → [1, H, R, N];  [H, R, W] → [1, H, R, N, W]
    if (cap.steps.some((s) => s.buckets[i] === null)) return;
    const W = cap.steps[0]!.windows[i]!.length / (H * R);
    const qb = new Int32Array(H * R * N);
    const win = new Int32Array(H * R * N * W);
    cap.steps.forEach((s, k) => {
      for (let hr = 0; hr < H * R; hr++) {
        qb[hr * N + k] = s.buckets[i]![hr]!;
        win.set(s.windows[i]!.subarray(hr * W, (hr + 1) * W), (hr * N + k) * W);
      }
    });
    tensors[`cap:step.layers.${i}.buckets`] = qb;
    tensors[`cap:step.layers.${i}.window_positions`] = win;
  });

  // the non-cached forward of every prefix prompt + g_0 … g_k, last position
  const fullLogits = new Float64Array(N * V);
  for (let k = 0; k < N; k++) {
    const L = P + k + 1;
    const ids = new Int32Array(L);
    ids.set(prompt);
    ids.set(greedy.subarray(0, k + 1), P);
    be.scope(() => {
      const lg = model.logits({ inputIds: ids, batch: 1, seqLen: L }, { rotations });
      fullLogits.set(lg.subarray((L - 1) * V, L * V), k * V);
    });
  }
  tensors['out:full.logits'] = fullLogits;

  return { tensors, checks: relationChecks(ctx, stepLogits, fullLogits, N, V) };
}

/**
 * The documented relation of cached and non-cached logits (the JSON's `cached_vs_full`): ours may differ
 * from each other per step by at most HF's difference plus twice the comparison tolerance (each side is
 * within rtol·S of HF), and the argmax agrees exactly where HF's does.
 */
function relationChecks(ctx: ConformanceContext, step: Float64Array, full: Float64Array, N: number, V: number): ConformanceCheck[] {
  const rel = ctx.json.cached_vs_full as
    | { max_abs_logit_diff_per_step?: number[]; argmax_equal_per_step?: boolean[]; max_abs_logit_diff?: number }
    | undefined;
  if (!rel?.max_abs_logit_diff_per_step || !rel.argmax_equal_per_step) return [];
  const rtol = ctx.json.tolerance?.rtol_recommended_vs_out ?? 2e-5;
  let scale = 1;
  for (let i = 0; i < step.length; i++) scale = Math.max(scale, Math.abs(step[i]!), Math.abs(full[i]!));
  const slack = 2 * rtol * scale;
  let worst = 0;
  let within = true;
  let argmaxSame = true;
  const ours: boolean[] = [];
  for (let k = 0; k < N; k++) {
    let diff = 0;
    for (let j = 0; j < V; j++) diff = Math.max(diff, Math.abs(step[k * V + j]! - full[k * V + j]!));
    worst = Math.max(worst, diff);
    const hf = rel.max_abs_logit_diff_per_step[k] ?? 0;
    if (Math.abs(diff - hf) > slack) within = false;
    const eq = argmax(step, k * V, V) === argmax(full, k * V, V);
    ours.push(eq);
    if (eq !== rel.argmax_equal_per_step[k]) argmaxSame = false;
  }
  const hfWorst = rel.max_abs_logit_diff ?? Math.max(...rel.max_abs_logit_diff_per_step);
  return [
    {
      name: 'cached vs non-cached: |step − full| per step as HF',
      passed: within,
      detail: `ours max ${worst.toExponential(3)}, HF max ${hfWorst.toExponential(3)} (per step within ${slack.toExponential(2)})`,
    },
    {
      name: 'cached vs non-cached: argmax agreement per step as HF',
      passed: argmaxSame,
      detail: `ours agree at ${ours.filter((x) => x).length}/${N} steps, HF at ${rel.argmax_equal_per_step.filter((x) => x).length}/${N}`,
    },
  ];
}
