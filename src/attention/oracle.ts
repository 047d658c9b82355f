/**
 * Exact O(L²) attention: the oracle for LSH and local attention.
 *
 * Plain loops over plain arrays, independent of the `Backend` and of `chunkAttention*` (it is the
 * check on them). Same conventions as the fast paths (HF `LSHSelfAttention` / `LocalSelfAttention`
 * short-sequence path, which is exactly this computation):
 *
 *   shared-QK (LSH):  s_ij = q_i · k̂_j,  k̂ = q / sqrt(mean(q²) + 1e-6) / √d      (queries unscaled)
 *   local:            s_ij = q_i · k_j / √d                                        (no self-mask)
 *   masking replaces: s_ij = −1e9 if mask[j] = 0 or (causal and j > i);
 *                     then s_ii = −1e5 (shared-QK only; overrides, so a token can fall back to itself)
 *   o_i = Σ_j exp(s_ij − z_i) v_j,  z_i = logsumexp_j s_ij                         (Eq. 1-2)
 *
 * Optional restriction (paper Eq. 6, the set the paper-exact multi-round LSH attends to):
 * `P_i = ∪_r {j : h⁽ʳ⁾(i) = h⁽ʳ⁾(j)}`; keys outside P_i are dropped from the softmax (m = ∞, Eq. 3).
 *
 * `precision: 'f32'` rounds to float32 where torch stores fp32 values (normalised keys, scores,
 * log-sum-exp, probabilities, outputs), which reproduces HF's fp32 numbers including the
 * "fp32 logsumexp quirk"; `'f64'` (default) is exact double arithmetic.
 */
import { ShapeError } from '../errors.js';
import { dimsArg } from '../util/args.js';
import { KEY_NORM_EPS, MASK_VALUE, SELF_MASK_VALUE } from './config.js';

export type OraclePrecision = 'f32' | 'f64';

interface OracleCommon {
  batch: number;
  seqLen: number;
  heads: number;
  headSize: number;
  /** HF `is_decoder`. */
  causal: boolean;
  /** `[batch, seqLen]`, 1 = real, 0 = padding (masks keys only). */
  attentionMask?: ArrayLike<number> | null;
  /** Default 'f64'. */
  precision?: OraclePrecision;
}

export interface SharedQkOracleParams extends OracleCommon {
  /** Shared query/key vectors `[batch, seqLen, heads·headSize]`. */
  qk: ArrayLike<number>;
  /** Values `[batch, seqLen, heads·headSize]`. */
  v: ArrayLike<number>;
  /**
   * Restrict query i to keys sharing a bucket with it in at least one round:
   * buckets `[batch, heads, numHashes, seqLen]` (offsets are irrelevant: rounds are compared separately).
   */
  restrictToBuckets?: { numHashes: number; buckets: ArrayLike<number> } | null;
}

export interface LocalOracleParams extends OracleCommon {
  /** `[batch, seqLen, heads·headSize]` each; k unscaled (divided by √d here, as HF). */
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
}

export interface OracleResult {
  /** `[batch, seqLen, heads·headSize]` */
  out: Float64Array | Float32Array;
  /** `[batch, heads, seqLen]` log-sum-exp z_i over the allowed keys */
  lse: Float64Array | Float32Array;
}

/**
 * Exact shared-QK attention (LSH conventions) over all keys, or over the bucket-restricted sets.
 * @throws ShapeError (a missing parameter object, bad shapes or lengths).
 */
export function exactSharedQkAttention(p: SharedQkOracleParams): OracleResult {
  checkCommon('exactSharedQkAttention', p, ['qk', 'v']);
  if (p.restrictToBuckets) {
    const { numHashes, buckets } = p.restrictToBuckets;
    const want = p.batch * p.heads * numHashes * p.seqLen;
    if (!Number.isInteger(numHashes) || numHashes < 1 || buckets.length !== want) {
      throw new ShapeError(
        `exactSharedQkAttention: restrictToBuckets.buckets must be [batch, heads, numHashes, seq] = ${want} values, got ${buckets.length}`,
      );
    }
  }
  return run(p, (b, h, rnd) => sharedQkHead(p, b, h, rnd));
}

/**
 * Exact local-attention conventions (separate q/k/v, keys / √d, no self-mask) over all keys.
 * @throws ShapeError (a missing parameter object, bad shapes or lengths).
 */
export function exactLocalAttention(p: LocalOracleParams): OracleResult {
  checkCommon('exactLocalAttention', p, ['q', 'k', 'v']);
  return run(p, (b, h, rnd) => localHead(p, b, h, rnd));
}

/**
 * Exact attention probabilities of one (batch, head) with shared-QK conventions: `[seqLen, seqLen]`
 * row-major, `probs[i·L + j]` = weight of key j for query i (0 for keys outside the restriction).
 * O(L²) memory: for analysis and tests only.
 * @throws ShapeError (a missing parameter object, bad shapes or lengths, b or h outside the batch / heads).
 */
export function exactSharedQkProbabilities(p: SharedQkOracleParams, b: number, h: number): Float64Array {
  checkCommon('exactSharedQkProbabilities', p, ['qk', 'v']);
  for (const [name, v, n] of [
    ['b', b, p.batch],
    ['h', h, p.heads],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new ShapeError(`exactSharedQkProbabilities: ${name} must be an integer in [0, ${n}), got ${String(v)}`);
    }
  }
  const L = p.seqLen;
  const head = sharedQkHead(p, b, h, (x) => x);
  const probs = new Float64Array(L * L);
  const s = new Float64Array(L);
  const allowed = new Uint8Array(L);
  for (let i = 0; i < L; i++) {
    const z = head.scores(i, s, allowed);
    for (let j = 0; j < L; j++) probs[i * L + j] = allowed[j] ? Math.exp(s[j]! - z) : 0;
  }
  return probs;
}

// ------------------------------------------------------------------ internals

type Round = (x: number) => number;

interface HeadScores {
  /** Writes masked scores of query i into s, marks the keys inside the softmax in `allowed`; returns z_i. */
  scores(i: number, s: Float64Array, allowed: Uint8Array): number;
  /** Value component j of key position t. */
  value(t: number, j: number): number;
}

function checkCommon(op: string, p: OracleCommon, tensors: readonly string[]): void {
  dimsArg(
    op,
    'params',
    p,
    ['batch', 'seqLen', 'heads', 'headSize'],
    `the oracle parameters {${tensors.join(', ')}, batch, seqLen, heads, headSize, causal}`,
  );
  const want = p.batch * p.seqLen * p.heads * p.headSize;
  for (const name of tensors) {
    const t = p[name] as ArrayLike<number> | null | undefined;
    if (!t || t.length !== want) {
      throw new ShapeError(`${op}: ${name} must be [batch, seq, heads·head_size] = ${want} values, got ${t ? t.length : String(t)}`);
    }
  }
  if (p.attentionMask && p.attentionMask.length !== p.batch * p.seqLen) {
    throw new ShapeError(`${op}: attentionMask must be [batch, seq] = ${p.batch * p.seqLen} values, got ${p.attentionMask.length}`);
  }
}

function run(p: OracleCommon, head: (b: number, h: number, rnd: Round) => HeadScores): OracleResult {
  const { batch: B, seqLen: L, heads: H, headSize: d } = p;
  const f32 = p.precision === 'f32';
  const rnd: Round = f32 ? Math.fround : (x) => x;
  const all = H * d;
  const out = f32 ? new Float32Array(B * L * all) : new Float64Array(B * L * all);
  const lse = f32 ? new Float32Array(B * H * L) : new Float64Array(B * H * L);
  const s = new Float64Array(L);
  const allowed = new Uint8Array(L);
  const acc = new Float64Array(d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hs = head(b, h, rnd);
      for (let i = 0; i < L; i++) {
        const z = hs.scores(i, s, allowed);
        lse[(b * H + h) * L + i] = z;
        acc.fill(0);
        for (let j = 0; j < L; j++) {
          if (!allowed[j]) continue;
          const prob = rnd(Math.exp(s[j]! - z)); // p_ij = exp(s_ij − z_i)
          for (let c = 0; c < d; c++) acc[c] = acc[c]! + prob * hs.value(j, c);
        }
        for (let c = 0; c < d; c++) out[(b * L + i) * all + h * d + c] = acc[c]!;
      }
    }
  }
  return { out, lse };
}

/** log Σ exp over the allowed entries, rounded like a stored tensor. */
function logSumExpAllowed(s: Float64Array, allowed: Uint8Array, rnd: Round): number {
  let max = -Infinity;
  for (let j = 0; j < s.length; j++) if (allowed[j] && s[j]! > max) max = s[j]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < s.length; j++) if (allowed[j]) sum += Math.exp(s[j]! - max);
  return rnd(max + Math.log(sum));
}

function sharedQkHead(p: SharedQkOracleParams, b: number, h: number, rnd: Round): HeadScores {
  const { seqLen: L, heads: H, headSize: d } = p;
  const all = H * d;
  const base = b * L * all + h * d;
  // k̂_j = q_j · rsqrt(mean(q_j²) + 1e-6) / √d  (HF `_len_and_dim_norm`)
  const keys = new Float64Array(L * d);
  for (let j = 0; j < L; j++) {
    let ms = 0;
    for (let c = 0; c < d; c++) ms += p.qk[base + j * all + c]! ** 2;
    const r = 1 / Math.sqrt(ms / d + KEY_NORM_EPS);
    for (let c = 0; c < d; c++) keys[j * d + c] = rnd((p.qk[base + j * all + c]! * r) / Math.sqrt(d));
  }
  const restrict = p.restrictToBuckets;
  const R = restrict ? restrict.numHashes : 0;
  const bucketBase = (b * H + h) * R * L;
  return {
    scores(i, s, allowed) {
      for (let j = 0; j < L; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += p.qk[base + i * all + c]! * keys[j * d + c]!;
        let score = rnd(dot);
        if ((p.attentionMask && p.attentionMask[b * L + j] === 0) || (p.causal && j > i)) score = MASK_VALUE;
        if (j === i) score = SELF_MASK_VALUE; // self-mask overrides (paper Sec. 2: "except when no other target")
        s[j] = score;
        let inSet = 1;
        if (restrict) {
          inSet = 0; // j ∈ P_i = ∪_r P_i^(r)  (Eq. 6)
          for (let r = 0; r < R; r++) {
            if (restrict.buckets[bucketBase + r * L + i] === restrict.buckets[bucketBase + r * L + j]) inSet = 1;
          }
        }
        allowed[j] = inSet;
      }
      return logSumExpAllowed(s, allowed, rnd);
    },
    value: (t, c) => p.v[base + t * all + c]!,
  };
}

function localHead(p: LocalOracleParams, b: number, h: number, rnd: Round): HeadScores {
  const { seqLen: L, heads: H, headSize: d } = p;
  const all = H * d;
  const base = b * L * all + h * d;
  const scale = 1 / Math.sqrt(d);
  return {
    scores(i, s, allowed) {
      for (let j = 0; j < L; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += p.q[base + i * all + c]! * rnd(p.k[base + j * all + c]! * scale);
        let score = rnd(dot);
        if ((p.attentionMask && p.attentionMask[b * L + j] === 0) || (p.causal && j > i)) score = MASK_VALUE;
        s[j] = score;
        allowed[j] = 1;
      }
      return logSumExpAllowed(s, allowed, rnd);
    },
    value: (t, c) => p.v[base + t * all + c]!,
  };
}
