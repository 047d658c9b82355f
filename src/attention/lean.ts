/**
 * Memory-lean evaluation of the attention block (HF `ReformerAttention` without a backward):
 *
 *   y += F(x) = W_o · SelfAttn(LayerNorm(x))          x, y: [batch, seqLen, hidden]
 *
 * in place, for the residual `Y1 = X1 + F(X2)` of a reversible layer (paper Eq. 9) in evaluation
 * mode. Nothing is kept for a backward and no buffer grows with seqLen × (heads·headSize) or with
 * num_hashes × seqLen × headSize, so a 2^20-token forward fits the 4 GiB WASM memory:
 *
 * - Local attention (`localAddForward`) streams over blocks of query chunks, all heads at once. A
 *   block of Q chunks needs the keys of `before` chunks in front and `after` chunks behind (wrapping
 *   around the sequence like HF's `_look_adjacent`), so LayerNorm and the q/k/v projections run on
 *   those (Q + before + after)·c rows (gathered by position), the chunk attention on the block's query
 *   chunks, and `W_o` on the block's rows, added into y. Temporaries: O(block rows · heads·headSize).
 *
 * - LSH attention (`lshAddForward`) goes head by head: LayerNorm and the head's projections
 *   (qk_h, v_h: [seqLen, headSize]) for every position in row blocks, hashing and the stable sort of
 *   the head's (round, position) pairs as in `lsh.ts`. The sorted order is round-major (offset buckets
 *   of round n lie in [n·N_eff, (n+1)·N_eff)), so each round is a contiguous range of sorted slots;
 *   blocks of query chunks of one round gather their queries, keys and values (plus the neighbour
 *   chunks, which may belong to the previous or next round, wrapping over all rounds exactly as the
 *   joint sorted sequence does in HF), run the chunk attention, and fold the per-round outputs o⁽ⁿ⁾_t
 *   with their log-sum-exp z⁽ⁿ⁾_t into a running (online) softmax over rounds (Eq. 12; the backend's
 *   `lshRoundCombine`, m_t and s_t kept at buffer precision):
 *     acc_t = Σ_n exp(z⁽ⁿ⁾_t − m_t)·o⁽ⁿ⁾_t,  s_t = Σ_n exp(z⁽ⁿ⁾_t − m_t),  m_t = running max of z⁽ⁿ⁾_t,
 *     o_t = acc_t · exp(m_t − Z_t),  Z_t = logsumexp_n z⁽ⁿ⁾_t = m_t + log s_t (stored at buffer precision),
 *   which is HF's `exp(z − logsumexp(z))`-weighted sum up to rounding (fp32 quirk of Z included). Then
 *   `y += o_h · W_o[:, h·d:(h+1)·d]ᵀ`. Temporaries: qk_h, v_h, the head output [seqLen, headSize],
 *   (m_t, s_t) [seqLen, 2], buckets and sort [num_hashes·seqLen] (ints), and per-block buffers.
 *
 * Same masks, rotations, bucket rule and short path (`seqLen <= chunk length`: one chunk, one round)
 * as `block.ts`; the rotations are drawn from the same generator in the same order, so the lean and
 * the cached forward see the same buckets. Results equal `attentionBlockForward` up to f32 rounding
 * (the per-head output projection and the online round softmax sum in another order). Paper-exact
 * attention (App. A) is not streamed here: callers use the cached forward for it.
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { checkBatchSeq, checkLength } from './common.js';
import {
  ATTENTION_DEFAULTS,
  KEY_NORM_EPS,
  MASK_VALUE,
  SELF_MASK_VALUE,
  autoNumBuckets,
  bucketCount,
  bucketFactors,
  checkChunkSpec,
  checkSequenceLength,
  headLayout,
  localChunkSpec,
  lshChunkSpec,
  rotationHalfSize,
  type AttentionConfig,
  type ChunkSpec,
  type NumBuckets,
} from './config.js';
import { drawRotations, maskHasPadding, rotationShape } from './hashing.js';
import type { AttentionBlockWeights, AttentionKind } from './block.js';

/** Query rows per streamed block (rounded to whole chunks; at least one chunk). */
export const LEAN_BLOCK_ROWS = 4096;

/** Options of one lean block forward (evaluation: no dropout, nothing cached). */
export interface LeanAttentionOptions {
  batch: number;
  seqLen: number;
  /** `[batch, seqLen]` attention mask of this backend (1 = real token, 0 = padding), or null. */
  attentionMask?: Int32Array | null;
  /** LSH only: overrides `num_hashes`. */
  numHashes?: number;
  /** LSH only: injected rotations `[heads, headSize, numHashes, rotationSize/2]` (a buffer of this backend). */
  rotations?: Float | null;
  /** LSH only: generator of the rotations (when none are injected and `hash_seed` is null). */
  rng?: Rng | null;
  /** LSH only: return the offset buckets `[batch, heads, numHashes, seqLen]` (a plain copy, HF `cap:buckets`). Default false. */
  captureBuckets?: boolean;
  /** Query rows per streamed block (rounded down to whole chunks, at least one). Default LEAN_BLOCK_ROWS. */
  blockRows?: number;
}

export interface LeanAttentionResult {
  /** Offset buckets (only with `captureBuckets`, LSH, and not the short path), else null. */
  readonly buckets: Int32Array | null;
  /** LSH: the resolved `num_buckets` (null on the short path and for local attention). */
  readonly numBuckets: NumBuckets | null;
}

function weight(weights: AttentionBlockWeights, name: string): Float {
  const w = (weights as unknown as Record<string, Float | undefined>)[name];
  if (!w) throw new ShapeError(`attention block (lean): missing weight "${name}"; pass the block's HF weights (see AttentionBlockWeights)`);
  return w;
}

/**
 * `y += F(x)` for one attention block in evaluation mode (see the file header).
 * @param x `[batch, seqLen, hidden]` (not modified; must not alias y)
 * @param y `[batch, seqLen, hidden]`, accumulated in place
 */
export function attentionBlockAddForward(
  be: Backend,
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  x: Float,
  y: Float,
  options: LeanAttentionOptions,
): LeanAttentionResult {
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('ReformerAttention (lean)', B, L);
  checkLength('ReformerAttention (lean): hidden_states', x, { batch: B, seq: L, hidden: D });
  checkLength('ReformerAttention (lean): output', y, { batch: B, seq: L, hidden: D });
  checkLength('ReformerAttention (lean): output.dense.weight', weight(weights, 'output.dense.weight'), { hidden: D, heads·head_size: all });
  return be.scope(() =>
    kind === 'lsh' ? lshAddForward(be, cfg, weights, x, y, options) : localAddForward(be, cfg, weights, x, y, options),
  );
}

/** Chunking actually used: the short path is one chunk of seqLen without neighbours. */
function effectiveChunk(prefix: 'lsh' | 'local', spec: ChunkSpec, L: number): { chunk: ChunkSpec; shortPath: boolean } {
  checkChunkSpec(prefix, spec);
  const shortPath = checkSequenceLength(prefix, L, spec.chunkLength);
  return { chunk: shortPath ? { chunkLength: L, numChunksBefore: 0, numChunksAfter: 0 } : spec, shortPath };
}

/** Query chunks per block. */
function chunksPerBlock(chunkLength: number, blockRows = LEAN_BLOCK_ROWS): number {
  return Math.max(1, Math.floor(blockRows / chunkLength));
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

// ------------------------------------------------------------------ local attention

function localAddForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: AttentionBlockWeights,
  x: Float,
  y: Float,
  options: LeanAttentionOptions,
): LeanAttentionResult {
  const { hidden: D, heads: H, headSize: d, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  const { chunk } = effectiveChunk('local', localChunkSpec(cfg), L);
  const c = chunk.chunkLength;
  const before = chunk.numChunksBefore;
  const after = chunk.numChunksAfter;
  const numChunks = L / c;
  const Q = Math.min(numChunks, chunksPerBlock(c, options.blockRows));
  const extMax = (Q + before + after) * c;
  const eps = cfg.layer_norm_eps ?? ATTENTION_DEFAULTS.layer_norm_eps;
  const mask = options.attentionMask ?? null;
  const wq = weight(weights, 'self_attention.query.weight');
  const wk = weight(weights, 'self_attention.key.weight');
  const wv = weight(weights, 'self_attention.value.weight');
  const wo = weight(weights, 'output.dense.weight');
  // per-block buffers, reused
  const idx = be.ints(extMax); // [ext] sequence position of each gathered row
  const keyValid = mask ? be.ints(extMax) : null; // [ext]
  const xb = be.floats(extMax * D); // [ext, D] gathered rows of x
  const nb = be.floats(extMax * D); // [ext, D] LayerNorm(x)
  const mean = be.floats(extMax);
  const rstd = be.floats(extMax);
  const q = be.floats(extMax * all); // [ext, H·d]
  const k = be.floats(extMax * all); // [ext, H·d] keys / √d
  const v = be.floats(extMax * all); // [ext, H·d]
  const o = be.floats(extMax * all); // [ext, H·d] attention output (query rows only)
  const lse = be.floats(extMax); // [ext]
  const f = be.floats(Q * c * D); // [Q·c, D] block of F(x)
  for (let b = 0; b < B; b++) {
    const xOff = b * L * D;
    for (let j0 = 0; j0 < numChunks; j0 += Q) {
      const nq = Math.min(Q, numChunks - j0); // query chunks of this block
      const ext = (nq + before + after) * c; // rows incl. neighbour chunks
      const start = (j0 - before) * c;
      for (let i = 0; i < ext; i++) {
        const t = mod(start + i, L); // HF _look_adjacent wraps around the sequence
        idx[i] = t;
        if (keyValid) keyValid[i] = mask![b * L + t]!;
      }
      const idxE = idx.subarray(0, ext);
      // LayerNorm and projections of the block's rows (HF: q = x·W_qᵀ, k = x·W_kᵀ/√d, v = x·W_vᵀ)
      be.gatherRows({ rows: ext, cols: D, index: idxE, src: x, srcOffset: xOff, ldSrc: D, dst: xb, ldDst: D });
      be.layerNormForward({
        rows: ext,
        cols: D,
        x: xb.subarray(0, ext * D),
        gamma: weight(weights, 'layer_norm.weight'),
        beta: weight(weights, 'layer_norm.bias'),
        eps,
        y: nb.subarray(0, ext * D),
        mean: mean.subarray(0, ext),
        rstd: rstd.subarray(0, ext),
      });
      for (const [w, out] of [
        [wq, q],
        [wk, k],
        [wv, v],
      ] as const) {
        be.gemm({ m: ext, n: all, k: D, a: nb, lda: D, b: w, ldb: D, transB: true, c: out, ldc: all });
      }
      be.scale(k, 1 / Math.sqrt(d), ext * all);
      for (let h = 0; h < H; h++) {
        be.chunkAttentionForward({
          n: ext,
          d,
          chunkLength: c,
          numChunksBefore: before,
          numChunksAfter: after,
          q,
          qOffset: h * d,
          ldq: all,
          k,
          kOffset: h * d,
          ldk: all,
          v,
          vOffset: h * d,
          ldv: all,
          pos: idxE,
          keyValid: keyValid ? keyValid.subarray(0, ext) : null,
          causal: cfg.is_decoder,
          maskValue: MASK_VALUE,
          selfMaskValue: null, // HF LocalSelfAttention has no self-mask
          chunkBegin: before,
          chunkEnd: before + nq,
          out: o,
          outOffset: h * d,
          ldOut: all,
          lse,
        });
      }
      // y[rows of the block] += attnOut·W_oᵀ
      const rows = nq * c;
      be.gemm({ m: rows, n: D, k: all, a: o, aOffset: before * c * all, lda: all, b: wo, ldb: all, transB: true, c: f, ldc: D });
      const yb = y.subarray(xOff + j0 * c * D, xOff + (j0 * c + rows) * D);
      be.add(yb, yb, f, rows * D);
    }
  }
  return { buckets: null, numBuckets: null };
}

// ------------------------------------------------------------------ LSH attention

function lshAddForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: AttentionBlockWeights,
  x: Float,
  y: Float,
  options: LeanAttentionOptions,
): LeanAttentionResult {
  const { hidden: D, heads: H, headSize: d, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  const { chunk, shortPath } = effectiveChunk('lsh', lshChunkSpec(cfg), L);
  const R = shortPath ? 1 : (options.numHashes ?? cfg.num_hashes ?? ATTENTION_DEFAULTS.num_hashes);
  const c = chunk.chunkLength;
  const before = chunk.numChunksBefore;
  const after = chunk.numChunksAfter;
  const RL = R * L;
  const eps = cfg.layer_norm_eps ?? ATTENTION_DEFAULTS.layer_norm_eps;
  const mask = options.attentionMask ?? null;
  const wqk = weight(weights, 'self_attention.query_key.weight');
  const wv = weight(weights, 'self_attention.value.weight');
  const wo = weight(weights, 'output.dense.weight');
  checkLength('LSHSelfAttention (lean): query_key.weight', wqk, { heads·head_size: all, hidden: D });
  checkLength('LSHSelfAttention (lean): value.weight', wv, { heads·head_size: all, hidden: D });

  // ---- hashing setup (as lsh.ts): num_buckets, padding bucket, rotations drawn once for all heads
  let numBuckets: NumBuckets | null = null;
  let nEff = 1;
  let n = 0;
  let factors: number[] = [];
  let half = 0;
  let rotations: Float | null = null;
  if (!shortPath) {
    numBuckets = cfg.num_buckets ?? autoNumBuckets(L, c, cfg.max_position_embeddings ?? ATTENTION_DEFAULTS.max_position_embeddings);
    factors = bucketFactors(numBuckets);
    half = rotationHalfSize(numBuckets);
    n = bucketCount(numBuckets);
    nEff = n + (maskHasPadding(mask) ? 1 : 0);
    const shape = rotationShape(H, d, R, numBuckets);
    if (options.rotations) {
      checkLength('lsh attention: rotations', options.rotations, {
        heads: shape[0],
        head_size: shape[1],
        num_hashes: shape[2],
        'rotation_size/2': shape[3],
      });
      rotations = options.rotations;
    } else {
      rotations = drawRotations(be, shape, cfg.hash_seed ?? null, options.rng);
    }
  }
  const captured = options.captureBuckets && !shortPath ? new Int32Array(B * H * RL) : null;

  // ---- buffers reused by every head
  const blockRows = Math.min(L, Math.max(c, options.blockRows ?? LEAN_BLOCK_ROWS));
  const xn = be.floats(blockRows * D); // [block, D] LayerNorm(x) rows
  const mean = be.floats(blockRows);
  const rstd = be.floats(blockRows);
  const qkH = be.floats(L * d); // [L, d] shared query/key vectors of head h
  const vH = be.floats(L * d); // [L, d] values of head h
  const acc = be.floats(L * d); // [L, d] running Σ_n exp(z⁽ⁿ⁾ − m)·o⁽ⁿ⁾, then the head output
  const stats = be.floats(2 * L); // [L, 2]: running max m_t of z⁽ⁿ⁾_t and Σ_n exp(z⁽ⁿ⁾_t − m_t)
  const buckets = shortPath ? null : be.ints(RL); // [R, L] offset buckets of head h
  const sorted = be.ints(RL); // [R·L] flat index n·L + t at each sorted slot
  const numChunks = L / c; // query chunks per round
  const Q = Math.min(numChunks, chunksPerBlock(c, options.blockRows));
  const extMax = (Q + before + after) * c;
  const pos = be.ints(extMax); // [ext] position of each gathered slot
  const keyValid = mask ? be.ints(extMax) : null;
  const qs = be.floats(extMax * d); // [ext, d] q_k = qk[p_k]
  const ks = be.floats(extMax * d); // [ext, d] k̂_k = q_k / rms(q_k) / √d
  const vs = be.floats(extMax * d); // [ext, d]
  const kr = be.floats(extMax); // [ext] rms statistics
  const os = be.floats(extMax * d); // [ext, d] per-round outputs (query rows)
  const lseS = be.floats(extMax); // [ext] per-round log-sum-exp z⁽ⁿ⁾

  for (let b = 0; b < B; b++) {
    const xOff = b * L * D;
    for (let h = 0; h < H; h++) {
      // ---- projections of head h: qk_h = LayerNorm(x)·W_qk[h]ᵀ, v_h = LayerNorm(x)·W_v[h]ᵀ (row blocks)
      for (let r0 = 0; r0 < L; r0 += blockRows) {
        const nr = Math.min(blockRows, L - r0);
        be.layerNormForward({
          rows: nr,
          cols: D,
          x: x.subarray(xOff + r0 * D, xOff + (r0 + nr) * D),
          gamma: weight(weights, 'layer_norm.weight'),
          beta: weight(weights, 'layer_norm.bias'),
          eps,
          y: xn.subarray(0, nr * D),
          mean: mean.subarray(0, nr),
          rstd: rstd.subarray(0, nr),
        });
        be.gemm({ m: nr, n: d, k: D, a: xn, lda: D, b: wqk, bOffset: h * d * D, ldb: D, transB: true, c: qkH, cOffset: r0 * d, ldc: d });
        be.gemm({ m: nr, n: d, k: D, a: xn, lda: D, b: wv, bOffset: h * d * D, ldb: D, transB: true, c: vH, cOffset: r0 * d, ldc: d });
      }
      // ---- 1-2. hash and sort (HF `_hash_vectors`, `_get_sorted_bucket_idx_and_undo_sorted_bucket_idx`)
      if (buckets) {
        be.lshHash({
          x: qkH,
          ldx: d,
          rows: L,
          dHead: d,
          rotations: rotations!,
          rotationsOffset: h * d * R * half,
          numHashes: R,
          factors,
          buckets,
        });
        for (let r = 0; r < R; r++) {
          for (let t = 0; t < L; t++) {
            const i = r * L + t;
            const raw = mask && mask[b * L + t] === 0 ? n : buckets[i]!; // padding bucket N
            buckets[i] = raw + r * nEff; // round offset
          }
        }
        if (captured) captured.set(buckets, (b * H + h) * RL);
        be.argsortKeys(sorted, buckets, RL, R * nEff);
      } else {
        for (let t = 0; t < L; t++) sorted[t] = t; // short path: one round in sequence order
      }
      // ---- 3-5. attend round by round, block by block; fold rounds into the online softmax (Eq. 12)
      for (let r = 0; r < R; r++) {
        for (let j0 = 0; j0 < numChunks; j0 += Q) {
          const nq = Math.min(Q, numChunks - j0);
          const ext = (nq + before + after) * c;
          const start = r * L + (j0 - before) * c; // first sorted slot (neighbours wrap over all rounds)
          let slot = mod(start, RL);
          for (let i = 0; i < ext; i++, slot++) {
            if (slot === RL) slot = 0;
            const t = sorted[slot]! % L;
            pos[i] = t;
            if (keyValid) keyValid[i] = mask![b * L + t]!;
          }
          const posE = pos.subarray(0, ext);
          be.gatherRows({ rows: ext, cols: d, index: posE, src: qkH, ldSrc: d, dst: qs, ldDst: d });
          be.gatherRows({ rows: ext, cols: d, index: posE, src: vH, ldSrc: d, dst: vs, ldDst: d });
          // HF `_len_and_dim_norm`: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d
          be.rmsNormForward({
            rows: ext,
            cols: d,
            x: qs.subarray(0, ext * d),
            y: ks.subarray(0, ext * d),
            rstd: kr.subarray(0, ext),
            eps: KEY_NORM_EPS,
            scale: 1 / Math.sqrt(d),
          });
          be.chunkAttentionForward({
            n: ext,
            d,
            chunkLength: c,
            numChunksBefore: before,
            numChunksAfter: after,
            q: qs,
            k: ks,
            v: vs,
            pos: posE,
            keyValid: keyValid ? keyValid.subarray(0, ext) : null,
            causal: cfg.is_decoder,
            maskValue: MASK_VALUE,
            selfMaskValue: SELF_MASK_VALUE,
            chunkBegin: before,
            chunkEnd: before + nq,
            out: os,
            lse: lseS,
          });
          // fold the block's query rows into the online softmax over rounds (Eq. 12, see the file header)
          const k0 = before * c;
          be.lshRoundCombine({
            rows: nq * c,
            d,
            seqLen: L,
            first: r === 0,
            last: r === R - 1,
            pos: posE,
            posOffset: k0,
            roundOut: os,
            roundOutOffset: k0 * d,
            roundLse: lseS,
            roundLseOffset: k0,
            acc,
            stats,
          });
        }
      }
      // y += o_h · W_o[:, h·d:(h+1)·d]ᵀ
      be.gemm({
        m: L,
        n: D,
        k: d,
        a: acc,
        lda: d,
        b: wo,
        bOffset: h * d,
        ldb: all,
        transB: true,
        c: y,
        cOffset: xOff,
        ldc: D,
        accumulate: true,
      });
    }
  }
  return { buckets: captured, numBuckets };
}
