/**
 * The kernels' conformance subset that the page runs in the browser and the browser test runs in Node
 * too: fixed, seeded inputs through the WASM backend's operations, from single kernels (gemm, norms,
 * softmax, activations, LSH hashing and the counting sort, AdamW) to whole modules (LSH and local
 * self-attention forwards, a tiny `ReformerModelWithLMHead` training step: loss and every gradient).
 *
 * Each case runs twice from the same seed: on the backend under test and on the plain TypeScript
 * `ReferenceBackend` (f32 buffers, f64 accumulation). The report gives, per case, the largest
 * deviation from the reference relative to the reference's magnitude (must be ≤ the case's
 * tolerance: f32 accumulation error, far below what an indexing or masking mistake produces; integer
 * outputs must match exactly) and a hash of the backend's outputs: the same build gives the same bits
 * on every engine and thread count, so the browser's hashes must equal Node's.
 *
 * Plus a seeded generation on a checkpoint (`seededGeneration`): the token ids and the hash of one
 * forward's logits, for the same bit-for-bit comparison.
 */
import {
  type Backend,
  ByteTokenizer,
  type Float,
  generateTokens,
  lmFromCheckpoint,
  localSelfAttentionForward,
  lshSelfAttentionForward,
  preset,
  ReferenceBackend,
  ReformerModelWithLMHead,
  Rng,
} from '../../../src/index.js';
import { hashArrays } from './hash.js';

/** Outputs of one case: copies out of the backend's memory. */
type Outputs = Record<string, Float32Array | Int32Array>;

interface Case {
  readonly name: string;
  /** Largest allowed |got − ref| / max(1e-30, max |ref|) over each float output (integer outputs: exact). */
  readonly tolerance: number;
  readonly run: (be: Backend, rng: Rng) => Outputs;
}

/** One case's result. */
export interface CheckResult {
  readonly name: string;
  /** Hash of the backend's outputs (see hash.ts). */
  readonly hash: string;
  /** Largest deviation from the reference relative to its magnitude (0 for integer outputs that match). */
  readonly relError: number;
  readonly tolerance: number;
  /** Integer elements that differ from the reference. */
  readonly intMismatches: number;
  readonly pass: boolean;
  /** Output elements compared. */
  readonly elements: number;
}

function filled(be: Backend, rng: Rng, n: number, mag = 1): Float {
  const x = be.floats(n);
  for (let i = 0; i < n; i++) x[i] = (2 * rng.uniform() - 1) * mag;
  return x;
}

/** The small model of the model-level cases: the `tiny` preset at 128 tokens, 2 hash rounds. */
function checkConfig() {
  return preset('tiny', {
    axial_pos_shape: [8, 16],
    max_position_embeddings: 128,
    lsh_attn_chunk_length: 32,
    local_attn_chunk_length: 32,
    num_buckets: 8,
    num_hashes: 2,
  }).config;
}

const CASES: readonly Case[] = [
  {
    name: 'gemm 37×45 · (29×45)ᵀ, accumulate',
    tolerance: 1e-5,
    run: (be, rng) => {
      const [m, n, k] = [37, 29, 45];
      const a = filled(be, rng, m * k);
      const b = filled(be, rng, n * k);
      const c = filled(be, rng, m * n);
      be.gemm({ m, n, k, a, lda: k, b, ldb: k, transB: true, c, ldc: n, accumulate: true });
      const d = be.floats(m * k);
      be.gemm({ m, n: k, k: n, a: c, lda: n, b, ldb: k, c: d, ldc: k });
      return { c: Float32Array.from(c), d: Float32Array.from(d) };
    },
  },
  {
    name: 'layer norm 17×64 forward and backward',
    tolerance: 1e-5,
    run: (be, rng) => {
      const [rows, cols] = [17, 64];
      const x = filled(be, rng, rows * cols, 3);
      const gamma = filled(be, rng, cols);
      const beta = filled(be, rng, cols);
      const y = be.floats(rows * cols);
      const mean = be.floats(rows);
      const rstd = be.floats(rows);
      be.layerNormForward({ rows, cols, x, gamma, beta, eps: 1e-12, y, mean, rstd });
      const dy = filled(be, rng, rows * cols);
      const dx = be.floats(rows * cols);
      const dgamma = be.floats(cols);
      const dbeta = be.floats(cols);
      be.layerNormBackward({ rows, cols, dy, x, mean, rstd, gamma, dx, dgamma, dbeta });
      return { y: Float32Array.from(y), dx: Float32Array.from(dx), dgamma: Float32Array.from(dgamma), dbeta: Float32Array.from(dbeta) };
    },
  },
  {
    name: 'softmax rows 13×50 with masked scores',
    tolerance: 1e-5,
    run: (be, rng) => {
      const [rows, cols] = [13, 50];
      const s = filled(be, rng, rows * cols, 8);
      for (let i = 0; i < s.length; i += 7) s[i] = -1e9;
      const p = be.floats(rows * cols);
      const lse = be.floats(rows);
      be.softmaxRows({ rows, cols, s, lds: cols, p, ldp: cols, lse });
      return { p: Float32Array.from(p), lse: Float32Array.from(lse) };
    },
  },
  {
    name: 'gelu_new and relu forward and backward',
    tolerance: 1e-5,
    run: (be, rng) => {
      const n = 1000;
      const x = filled(be, rng, n, 4);
      const out: Outputs = {};
      for (const kind of ['gelu_new', 'relu'] as const) {
        const y = be.floats(n);
        be.activationForward(kind, x, y, n);
        const dy = filled(be, rng, n);
        const dx = be.floats(n);
        be.activationBackward(kind, x, dy, dx, n);
        out[`${kind}.y`] = Float32Array.from(y);
        out[`${kind}.dx`] = Float32Array.from(dx);
      }
      return out;
    },
  },
  {
    name: 'LSH hashing (2 rounds, 16 buckets) and counting sort',
    tolerance: 0,
    run: (be, rng) => {
      const [rows, d, R, nb] = [200, 32, 2, 16];
      const x = filled(be, rng, rows * d);
      const rotations = filled(be, rng, d * R * (nb / 2));
      const buckets = be.ints(R * rows);
      be.lshHash({ x, ldx: d, rows, dHead: d, rotations, numHashes: R, factors: [nb], buckets });
      // the model's sort key: bucket + round offset
      const keys = be.ints(R * rows);
      for (let i = 0; i < keys.length; i++) keys[i] = buckets[i]! + Math.floor(i / rows) * nb;
      const perm = be.ints(R * rows);
      be.argsortKeys(perm, keys, R * rows, R * nb);
      return { buckets: Int32Array.from(buckets), perm: Int32Array.from(perm) };
    },
  },
  {
    name: 'AdamW step over 1000 values',
    tolerance: 1e-5,
    run: (be, rng) => {
      const n = 1000;
      const param = filled(be, rng, n);
      const grad = filled(be, rng, n);
      const m = filled(be, rng, n, 0.1);
      const v = be.floats(n);
      for (let i = 0; i < n; i++) v[i] = rng.uniform() * 0.01;
      be.adamw({ n, param, grad, m, v, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 7 });
      return { param: Float32Array.from(param), m: Float32Array.from(m), v: Float32Array.from(v) };
    },
  },
  {
    name: 'LSH self-attention forward (256 tokens, 2 heads, 2 rounds)',
    tolerance: 1e-4,
    run: (be, rng) => {
      const cfg = checkConfig().with({ max_position_embeddings: 256, axial_pos_shape: [16, 16] });
      const L = 256;
      const D = cfg.hidden_size;
      const all = cfg.num_attention_heads * cfg.attention_head_size;
      const x = filled(be, rng, L * D);
      const weights = { 'query_key.weight': filled(be, rng, all * D, 0.2), 'value.weight': filled(be, rng, all * D, 0.2) };
      const r = lshSelfAttentionForward(be, cfg, weights, x, { batch: 1, seqLen: L, numHashes: 2, rng: new Rng(rng.u32()) });
      return { out: Float32Array.from(r.out), buckets: Int32Array.from(r.cache.attention.buckets ?? []) };
    },
  },
  {
    name: 'local self-attention forward (256 tokens, 2 heads)',
    tolerance: 1e-4,
    run: (be, rng) => {
      const cfg = checkConfig();
      const L = 256;
      const D = cfg.hidden_size;
      const all = cfg.num_attention_heads * cfg.attention_head_size;
      const x = filled(be, rng, L * D);
      const w = (): Float => filled(be, rng, all * D, 0.2);
      const weights = { 'query.weight': w(), 'key.weight': w(), 'value.weight': w() };
      const r = localSelfAttentionForward(be, cfg, weights, x, { batch: 1, seqLen: L });
      return { out: Float32Array.from(r.out) };
    },
  },
  {
    name: 'tiny ReformerModelWithLMHead training step: loss and every gradient (2 × 128 tokens)',
    tolerance: 2e-4,
    run: (be, rng) => {
      const lm = new ReformerModelWithLMHead(be, checkConfig(), { seed: 11 });
      const inputIds = new Int32Array(2 * 128);
      for (let i = 0; i < inputIds.length; i++) inputIds[i] = 2 + rng.int(256);
      lm.grads.fill(0);
      const r = lm.lossAndGrad({ inputIds, batch: 2, seqLen: 128 });
      return { loss: Float32Array.of(r.loss), grads: Float32Array.from(lm.grads) };
    },
  },
];

/** Names of the cases, in order. */
export const CHECK_NAMES: readonly string[] = CASES.map((c) => c.name);

function compare(got: Outputs, want: Outputs): { relError: number; intMismatches: number; elements: number } {
  let relError = 0;
  let intMismatches = 0;
  let elements = 0;
  for (const [key, g] of Object.entries(got)) {
    const w = want[key];
    if (!w || w.length !== g.length) throw new Error(`check output ${key}: ${g.length} values, the reference has ${w?.length ?? 'none'}`);
    elements += g.length;
    if (g instanceof Int32Array) {
      for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) intMismatches++;
      continue;
    }
    let scale = 1e-30;
    for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i]!));
    for (let i = 0; i < g.length; i++) {
      const e = Math.abs(g[i]! - w[i]!) / scale;
      if (!(e <= relError)) relError = Number.isNaN(e) ? Infinity : e;
    }
  }
  return { relError, intMismatches, elements };
}

/**
 * Runs every case on `backend` and on the reference, seeded from `seed` (case i uses `seed + i`).
 * `onProgress(done, total, name)` is called after each case.
 */
export function runKernelChecks(
  backend: Backend,
  seed = 1,
  onProgress?: (done: number, total: number, name: string) => void,
): CheckResult[] {
  const reference = new ReferenceBackend();
  const results: CheckResult[] = [];
  CASES.forEach((c, i) => {
    const got = backend.scope(() => c.run(backend, new Rng(seed + i)));
    const want = reference.scope(() => c.run(reference, new Rng(seed + i)));
    const { relError, intMismatches, elements } = compare(got, want);
    const hash = hashArrays(Object.keys(got).map((k) => got[k]!));
    results.push({
      name: c.name,
      hash,
      relError,
      tolerance: c.tolerance,
      intMismatches,
      elements,
      pass: relError <= c.tolerance && intMismatches === 0,
    });
    onProgress?.(i + 1, CASES.length, c.name);
  });
  return results;
}

/** What `seededGeneration` produced. */
export interface GenerationCheck {
  /** Sampled ids after the prompt. */
  readonly ids: number[];
  /** Hash of the logits of one forward over `forwardTokens` tokens of the prompt and continuation. */
  readonly logitsHash: string;
  readonly forwardTokens: number;
}

/** The prompt, sampling options and length of the seeded generation check. */
export const GENERATION_CHECK = {
  prompt: 'Raskolnikov ',
  maxNewTokens: 24,
  temperature: 0.8,
  topK: 40,
  seed: 7,
  forwardTokens: 128,
} as const;

/**
 * Loads the checkpoint on `backend` (a fresh model: its hash rotations start from the stored seed),
 * samples `GENERATION_CHECK.maxNewTokens` tokens, then hashes the logits of one forward.
 */
export function seededGeneration(backend: Backend, files: { config: Uint8Array; safetensors: Uint8Array }): GenerationCheck {
  const lm = lmFromCheckpoint(backend, files);
  const g = GENERATION_CHECK;
  const prompt = Array.from(new ByteTokenizer().encode(g.prompt));
  const ids = [...generateTokens(lm, prompt, { maxNewTokens: g.maxNewTokens, temperature: g.temperature, topK: g.topK, seed: g.seed })];
  const context = [...prompt, ...ids];
  const inputIds = new Int32Array(g.forwardTokens);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = context[i % context.length]!;
  const logitsHash = backend.scope(() => hashArrays([lm.logits({ inputIds, batch: 1, seqLen: inputIds.length })]));
  return { ids, logitsHash, forwardTokens: g.forwardTokens };
}
