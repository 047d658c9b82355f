/**
 * One head of LSH self-attention for one batch element (Kitaev et al. 2020 Sec. 2 and App. A, HF
 * `LSHSelfAttention` semantics), streamed. This is the library's only LSH forward: evaluation, the
 * training forward, the reversible recompute and the HF module all run it; what a caller keeps for a
 * backward is written to an optional `LshHeadSink`, which never changes what is computed, so every
 * forward gives the same bits whether it keeps anything or not.
 *
 *   1. hash   buckets[n, t] = h⁽ⁿ⁾(qk_t) + n·N_eff                    Eq. 4 / Eq. 6, HF offsets
 *   2. sort   slot k ↦ i_k = n·L + t, ordered by (bucket_i, i)          Sec. 2 "sort by bucket, then position"
 *   3. attend chunks of c sorted slots see chunks −before…+after (wrap) Eq. 5 / Eq. 11 (HF `_look_adjacent`)
 *             q = qk, k̂ = qk / rms(qk) / √d, masks by replacement       Sec. 2 shared-QK, self-mask 10⁵
 *   4. merge  o_t = Σ_n exp(z⁽ⁿ⁾_t − logsumexp_n z⁽ⁿ⁾_t) · o⁽ⁿ⁾_t           Eq. 12, z = logsumexp of the window
 *
 * The sorted order is round-major (offset buckets of round n lie in [n·N_eff, (n+1)·N_eff)), so each
 * round is a contiguous range of sorted slots. Step 3 runs over blocks of query chunks of one round: the
 * block gathers its queries, keys and values plus the neighbour chunks (which may belong to the previous
 * or next round, wrapping over all rounds exactly as HF's joint sorted sequence does), runs the chunk
 * attention, and step 4 folds the block's per-round outputs o⁽ⁿ⁾_t and log-sum-exps z⁽ⁿ⁾_t into a
 * running softmax over rounds (the backend's `lshRoundCombine`; HF's fp32 rounding of the cross-round
 * logsumexp included). No buffer grows with num_hashes × seqLen × headSize: temporaries are the
 * buckets and sort [num_hashes·seqLen] (ints), the running statistics [seqLen, 2] and per-block buffers.
 *
 * Causality (`causal`): a query never attends to a later key (masked to −1e9, exactly 0 after the
 * softmax). That is all: every position is hashed and sorted together, so a later token's bucket moves
 * the chunk boundaries and changes which earlier keys a query sees (HF and trax alike; README
 * "Causality of LSH attention"; spec/attention/lsh-laws.spec.ts pins both halves).
 *
 * Short sequences (`seqLen ≤ lsh_attn_chunk_length`) skip hashing: one round, one chunk of all positions
 * in sequence order (HF `do_standard_self_attention`). With `paperExact` the attention also masks keys of
 * other buckets/rounds and subtracts log N_ij (App. A Eq. 14–16); HF and trax v2 do neither.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import type { NumBuckets } from '../config/buckets.js';
import { chunksPerBlock, KEY_NORM_EPS, MASK_VALUE, SELF_MASK_VALUE, type Chunking } from './config.js';
import { hashHead } from './hashing.js';

/** The geometry and switches of one head's forward (resolved by the caller from the config). */
export interface LshHeadSpec {
  readonly seqLen: number;
  readonly headSize: number;
  /** Rounds actually used: `num_hashes`, or 1 on the short path. */
  readonly numHashes: number;
  readonly chunking: Chunking;
  /** HF `is_decoder`: a key after the query is masked. */
  readonly causal: boolean;
  /** Resolved `num_buckets` (unused on the short path). */
  readonly numBuckets: NumBuckets | null;
  /** N_eff: buckets per round including the padding bucket (unused on the short path). */
  readonly bucketsPerRound: number;
  readonly paperExact: boolean;
  /** Attention-probability dropout of this (batch element, head): the per-call seed. Null: none. */
  readonly dropout: AttentionDropout | null;
  /** Query rows per streamed block (rounded down to whole chunks, at least one). */
  readonly blockRows: number;
}

/** The head's inputs: row t of a matrix `m` is `m[offset + t·ld ...]` (headSize values). */
export interface LshHeadInputs {
  readonly qk: Float;
  readonly qkOffset: number;
  readonly ldqk: number;
  readonly v: Float;
  readonly vOffset: number;
  readonly ldv: number;
  /** `[seqLen]` attention mask of this batch element at `maskOffset` (1 = real key, 0 = padding), or null. */
  readonly mask: Int32Array | null;
  readonly maskOffset: number;
  /** Rotations of this head `[headSize, numHashes, rotationSize/2]` at `rotationsOffset`, when hashing. */
  readonly rotations: Float | null;
  readonly rotationsOffset: number;
  /** Offset buckets `[numHashes, seqLen]` of an earlier forward to replay instead of hashing (reversible recompute). */
  readonly replayBuckets: Int32Array | null;
}

/** Where the head output `o_t` goes: row t at `acc[accOffset + t·ldAcc ...]` (written, not accumulated). */
export interface LshHeadOutput {
  readonly acc: Float;
  readonly accOffset: number;
  readonly ldAcc: number;
}

/** What a caller keeps of one head's forward: views of this head's part of the cache (all optional). */
export interface LshHeadSink {
  /** `[numHashes, seqLen]` offset buckets (HF `cap:buckets`). */
  readonly buckets?: Int32Array;
  /** `[numHashes·seqLen]` flat index n·L + t at each sorted slot (HF `sorted_bucket_idx`). */
  readonly sorted?: Int32Array;
  /** `[numHashes·seqLen]` inverse of `sorted` (HF `undo_sorted_bucket_idx`). */
  readonly undoSorted?: Int32Array;
  /** `[seqLen, numHashes]` per-round log-sum-exp z⁽ⁿ⁾_t of the window (stored at buffer precision). */
  readonly lse?: Float;
  /** `[seqLen, numHashes, headSize]` per-round outputs o⁽ⁿ⁾_t. */
  readonly outPerRound?: Float;
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

/**
 * One head's LSH attention (see the file header): writes o `[seqLen, headSize]` to `output` and, if
 * given, fills `sink`. Arguments are trusted (the callers in lsh.ts and block.ts validate them).
 */
export function lshHeadForward(be: Backend, spec: LshHeadSpec, inp: LshHeadInputs, output: LshHeadOutput, sink: LshHeadSink = {}): void {
  be.scope(() => {
    const { seqLen: L, headSize: d, numHashes: R } = spec;
    const { chunk, shortPath } = spec.chunking;
    const c = chunk.chunkLength;
    const before = chunk.numChunksBefore;
    const after = chunk.numChunksAfter;
    const RL = R * L;

    // ---- 1-2. hash and sort (HF `_hash_vectors`, `_get_sorted_bucket_idx_and_undo_sorted_bucket_idx`)
    const sorted = sink.sorted ?? be.ints(RL);
    let buckets: Int32Array | null = null;
    if (shortPath) {
      for (let t = 0; t < L; t++) sorted[t] = t; // one round in sequence order
    } else {
      buckets = sink.buckets ?? be.ints(RL);
      if (inp.replayBuckets) {
        buckets.set(inp.replayBuckets);
      } else {
        hashHead(be, {
          qk: inp.qk,
          qkOffset: inp.qkOffset,
          ldqk: inp.ldqk,
          seqLen: L,
          headSize: d,
          numHashes: R,
          numBuckets: spec.numBuckets!,
          rotations: inp.rotations!,
          rotationsOffset: inp.rotationsOffset,
          mask: inp.mask,
          maskOffset: inp.maskOffset,
          bucketsPerRound: spec.bucketsPerRound,
          out: buckets,
          outOffset: 0,
        });
      }
      be.argsortKeys(sorted, buckets, RL, R * spec.bucketsPerRound);
    }
    if (sink.undoSorted) be.invertPermutation(sink.undoSorted, sorted, RL);

    // ---- 3-4. attend round by round, block by block; fold the rounds into the online softmax (Eq. 12)
    const numChunks = L / c; // query chunks per round
    const Q = Math.min(numChunks, chunksPerBlock(c, spec.blockRows));
    const extMax = (Q + before + after) * c;
    const pos = be.ints(extMax); // [ext] sequence position of each gathered slot
    const keyValid = inp.mask ? be.ints(extMax) : null; // [ext]
    const qs = be.floats(extMax * d); // [ext, d] q_k = qk[p_k]
    const ks = be.floats(extMax * d); // [ext, d] k̂_k = q_k / rms(q_k) / √d
    const vs = be.floats(extMax * d); // [ext, d]
    const kr = be.floats(extMax); // [ext] rms statistics
    const os = be.floats(extMax * d); // [ext, d] per-round outputs (query rows)
    const lseS = be.floats(extMax); // [ext] per-round log-sum-exp z⁽ⁿ⁾
    const stats = be.floats(2 * L); // [L, 2] running max m_t and Σ_n exp(z⁽ⁿ⁾_t − m_t)
    const keep = sink.lse !== undefined || sink.outPerRound !== undefined;
    const slotRow = keep ? be.ints(Q * c) : null; // [query rows] row t·R + n of the [L, R] layouts
    for (let r = 0; r < R; r++) {
      for (let j0 = 0; j0 < numChunks; j0 += Q) {
        const nq = Math.min(Q, numChunks - j0);
        const ext = (nq + before + after) * c;
        const start = r * L + (j0 - before) * c; // sorted slot of gathered row 0 (neighbours wrap over all rounds)
        for (let i = 0, slot = mod(start, RL); i < ext; i++, slot = slot + 1 === RL ? 0 : slot + 1) {
          const t = sorted[slot]! % L;
          pos[i] = t;
          if (keyValid) keyValid[i] = inp.mask![inp.maskOffset + t]!;
        }
        const posE = pos.subarray(0, ext);
        be.gatherRows({ rows: ext, cols: d, index: posE, src: inp.qk, srcOffset: inp.qkOffset, ldSrc: inp.ldqk, dst: qs, ldDst: d });
        be.gatherRows({ rows: ext, cols: d, index: posE, src: inp.v, srcOffset: inp.vOffset, ldSrc: inp.ldv, dst: vs, ldDst: d });
        // HF `_len_and_dim_norm`: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d
        const n = ext * d;
        be.rmsNormForward({
          rows: ext,
          cols: d,
          x: qs.subarray(0, n),
          y: ks.subarray(0, n),
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
          causal: spec.causal,
          maskValue: MASK_VALUE,
          selfMaskValue: SELF_MASK_VALUE,
          rowBase: start,
          paper: spec.paperExact && buckets ? { seqLen: L, numHashes: R, buckets } : null,
          dropout: spec.dropout,
          chunkBegin: before,
          chunkEnd: before + nq,
          out: os,
          lse: lseS,
        });
        // fold the block's query rows into the online softmax over rounds (Eq. 12)
        const k0 = before * c;
        const rows = nq * c;
        be.lshRoundCombine({
          rows,
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
          acc: output.acc,
          accOffset: output.accOffset,
          ldAcc: output.ldAcc,
          stats,
        });
        if (slotRow) {
          // keep o⁽ⁿ⁾_t and z⁽ⁿ⁾_t for the backward, in the (t, n) layout (HF `ReverseSort`, then [L, R])
          for (let i = 0; i < rows; i++) slotRow[i] = pos[k0 + i]! * R + r;
          const index = slotRow.subarray(0, rows);
          if (sink.outPerRound) {
            be.scatterRows({ rows, cols: d, index, src: os, srcOffset: k0 * d, ldSrc: d, dst: sink.outPerRound, ldDst: d });
          }
          if (sink.lse) be.scatterRows({ rows, cols: 1, index, src: lseS, srcOffset: k0, ldSrc: 1, dst: sink.lse, ldDst: 1 });
        }
      }
    }
  });
}
