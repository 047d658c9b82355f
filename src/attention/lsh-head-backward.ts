/**
 * Backward of one head of LSH attention (lsh-head.ts) for one batch element, block by block of sorted
 * chunks, as the forward runs. Every LSH backward runs `lshHeadBackward`: `lshAttentionBackward` per
 * (b, h) of a kept cache, the attention block's backward and its fused reversible step per head
 * (block-lsh-backward.ts), so all give the same bits.
 *
 *   merge   o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t, w_{t,·} = softmax_n(z_{t,·})   (Eq. 12)  per position, once:
 *           dw_{t,n} = dOut_t·o⁽ⁿ⁾_t, dz = w ⊙ (dw − Σ w·dw)  → [L, R] arrays; do⁽ⁿ⁾_t = w_{t,n}·dOut_t per block
 *   attend  the chunk-attention backward over the sorted slots (q, k̂ = q/rms(q)/√d, v gathered per block)
 *   gather  dq += ∂k̂/∂q·dk̂, then scatter-add dq, dv back to the positions (R copies per position add up)
 *
 * Blocks. The N = R·L/c sorted chunks form one sequence (query chunk j sees key chunks j−before …
 * j+after modulo N, wrapping over all rounds as HF). A block owns chunks [g0, g1): it gathers them with
 * A = before + after halo chunks on each side and runs the chunk-attention backward over all its rows,
 * so the halo query chunks whose windows reach the owned key chunks are recomputed (the kernel's own
 * rule for split work, assembly/attention.ts `partition`): each owned dk/dv row then receives the same
 * contributions in the same order (query chunk ascending) as in one call over all N chunks, and each
 * owned dq row its own query chunk's. Halo rows are thrown away. The global wrap-around is the one
 * exception to "ascending": a key chunk in [N−before, N) receives first from the query chunks [0, before)
 * (computed aside before the last block and added in first), and a key chunk in [0, after) last from the
 * query chunks [N−after, N) (computed aside right after the first block); in the main calls those halo
 * query chunks get dOut = 0, dlse = 0 (they add exact zeros). The owned rows are then finished (the key
 * normalisation's backward) and scattered in ascending slot order, as the one call does. So the result
 * does not depend on the block size (spec/attention/lsh-blocks.spec.ts, `Object.is`), and a head with
 * fewer than Q + 2A chunks runs as one block over all of them.
 *
 * Held per head: w, dw, dz [L, R] and one block's buffers, (Q + 4A)·c rows of q, k̂, v, dOut, do⁽ⁿ⁾,
 * dq, dk, dv (Q = `blockRows`/c chunks); never [R·L, d]. The per-round outputs o⁽ⁿ⁾ [L, R, d] are the
 * caller's (the forward's cache, or the fused step's replay of one head): dw needs every round at every
 * position, and they are the forward's values, exactly.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { ATTENTION_BLOCK_ROWS, chunksPerBlock, KEY_NORM_EPS, MASK_VALUE, SELF_MASK_VALUE, type ChunkSpec } from './config.js';

/** Rows of a matrix: row t of head data at `buf[offset + t·ld ...]` (headSize values). */
export interface HeadRows {
  readonly buf: Float;
  readonly offset: number;
  readonly ld: number;
}

/** One (batch element, head) of the LSH backward: the forward's constants of that head and where its gradients go. */
export interface LshHeadBackwardArgs {
  readonly seqLen: number;
  readonly headSize: number;
  /** Rounds the forward used (1 on the short path). */
  readonly numHashes: number;
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  /** The head's attention-probability dropout (`headDropout(layer dropout, b·heads + h)`), null: none. */
  readonly dropout: AttentionDropout | null;
  /** `[numHashes·seqLen]` flat index n·L + t at each sorted slot (the forward's sort). */
  readonly sorted: Int32Array;
  /** `[numHashes, seqLen]` offset buckets for the paper-exact masks, or null (HF semantics). */
  readonly buckets: Int32Array | null;
  /** `[batch, seqLen]` attention mask (row of this batch element at `maskOffset`), or null. */
  readonly mask: Int32Array | null;
  readonly maskOffset: number;
  /** `[seqLen, numHashes]` per-round log-sum-exp at `lseOffset`. */
  readonly lse: Float;
  readonly lseOffset: number;
  /** `[seqLen, numHashes, headSize]` per-round outputs at `outPerRoundOffset`. */
  readonly outPerRound: Float;
  readonly outPerRoundOffset: number;
  /** The head's forward inputs (shared query/key vectors, values), `[seqLen, headSize]` rows. */
  readonly qk: HeadRows;
  readonly v: HeadRows;
  /** Gradient at the head output o `[seqLen, headSize]` rows. */
  readonly dOut: HeadRows;
  /** ACCUMULATED gradients at qk and v `[seqLen, headSize]` rows. */
  readonly dqk: HeadRows;
  readonly dv: HeadRows;
  /** Sorted slots per block (rounded down to whole chunks; default ATTENTION_BLOCK_ROWS). Changes memory and speed, never results. */
  readonly blockRows?: number;
}

/** The blocks of owned chunks [start_i, start_{i+1}) of a head: one block, or several with a last block of ≥ 2A chunks. */
export function lshBackwardBlocks(numChunks: number, chunk: ChunkSpec, blockRows = ATTENTION_BLOCK_ROWS): number[] {
  const A = chunk.numChunksBefore + chunk.numChunksAfter;
  const Q = Math.max(chunksPerBlock(chunk.chunkLength, blockRows), 2 * A);
  const starts: number[] = [];
  for (let g = 0; g < numChunks; g += Q) starts.push(g);
  if (starts.length > 1 && numChunks - starts[starts.length - 1]! < 2 * A) starts.pop(); // merge a short tail
  starts.push(numChunks);
  return starts;
}

/** Most rows one block gathers (owned + 2A halo chunks), and the rows of the wrap-around calls (0: none). */
export function lshBackwardBlockRows(
  numChunks: number,
  chunk: ChunkSpec,
  blockRows = ATTENTION_BLOCK_ROWS,
): { block: number; wrap: number } {
  const starts = lshBackwardBlocks(numChunks, chunk, blockRows);
  const c = chunk.chunkLength;
  const { numChunksBefore: before, numChunksAfter: after } = chunk;
  if (starts.length === 2) return { block: numChunks * c, wrap: 0 };
  let most = 0;
  for (let i = 0; i + 1 < starts.length; i++) most = Math.max(most, starts[i + 1]! - starts[i]!);
  const A = before + after;
  return { block: (most + 2 * A) * c, wrap: A > 0 ? Math.max(2 * before + after, before + 2 * after) * c : 0 };
}

/** One block's buffers (rows of the gathered sorted slots). */
interface BlockBuffers {
  pos: Int32Array; // sequence position of each row
  tMajor: Int32Array; // row t·R + n of the [L, R] layouts
  keyValid: Int32Array | null;
  q: Float;
  k: Float;
  v: Float;
  rstd: Float;
  lse: Float;
  dLse: Float;
  w: Float; // round weight w_{t,n} of each row
  dOutRows: Float; // dOut_t of each row
  dOut: Float; // do⁽ⁿ⁾ = w_{t,n}·dOut_t
  dq: Float;
  dk: Float;
  dv: Float;
}

function blockBuffers(be: Backend, rows: number, d: number, mask: boolean): BlockBuffers {
  return {
    pos: be.ints(rows),
    tMajor: be.ints(rows),
    keyValid: mask ? be.ints(rows) : null,
    q: be.floats(rows * d),
    k: be.floats(rows * d),
    v: be.floats(rows * d),
    rstd: be.floats(rows),
    lse: be.floats(rows),
    dLse: be.floats(rows),
    w: be.floats(rows),
    dOutRows: be.floats(rows * d),
    dOut: be.floats(rows * d),
    dq: be.floats(rows * d),
    dk: be.floats(rows * d),
    dv: be.floats(rows * d),
  };
}

/**
 * Backward of one head of `lshHeadForward` (lsh-head.ts) for one batch element, from that head's
 * forward constants (sort, per-round lse and outputs): ACCUMULATES into `dqk` and `dv` (see the file
 * header for the blocks and the bits). Arguments are trusted (callers check them).
 */
export function lshHeadBackward(be: Backend, a: LshHeadBackwardArgs): void {
  const { seqLen: L, headSize: d, numHashes: R, chunk } = a;
  const RL = R * L;
  const c = chunk.chunkLength;
  const before = chunk.numChunksBefore;
  const after = chunk.numChunksAfter;
  const A = before + after;
  const N = RL / c;
  be.scope(() => {
    // forward: w_{t,·} = softmax_n(z_{t,·}) (Eq. 12; recomputed from the kept z at buffer precision)
    const weights = be.floats(RL); // [L, R]
    const zAll = be.floats(L);
    be.softmaxRows({ rows: L, cols: R, s: a.lse, sOffset: a.lseOffset, lds: R, p: weights, ldp: R, lse: zAll });
    // forward: o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t  ⇒  dw_{t,n} = dOut_t · o⁽ⁿ⁾_t  (do⁽ⁿ⁾_t = w_{t,n}·dOut_t per block)
    const dw = be.floats(RL); // [L, R]
    be.gemmBatched({
      batch: L,
      m: 1,
      n: R,
      k: d,
      a: a.dOut.buf,
      aOffset: a.dOut.offset,
      lda: d,
      strideA: a.dOut.ld,
      b: a.outPerRound,
      bOffset: a.outPerRoundOffset,
      ldb: d,
      transB: true,
      strideB: R * d,
      c: dw,
      ldc: R,
      strideC: R,
    });
    // forward: w_{t,·} = softmax_n(z_{t,·})  ⇒  dz_{t,n} = w_{t,n}(dw_{t,n} − Σ_m w_{t,m} dw_{t,m})
    const dz = be.floats(RL); // [L, R]
    be.softmaxRowsBackward({ rows: L, cols: R, p: weights, ldp: R, dp: dw, lddp: R, ds: dz, ldds: R });

    const starts = lshBackwardBlocks(N, chunk, a.blockRows);
    const sizes = lshBackwardBlockRows(N, chunk, a.blockRows);
    const mask = a.mask !== null;
    const blk = blockBuffers(be, sizes.block, d, mask);
    const wrap = sizes.wrap > 0 ? blockBuffers(be, sizes.wrap, d, mask) : null;
    const ctx = { be, a, weights, dz, RL };
    if (starts.length === 2) {
      // one block over all N chunks: the whole sorted sequence, row i = slot i
      gatherRows(ctx, blk, 0, RL);
      attend(ctx, blk, 0, RL, null);
      finish(ctx, blk, 0, RL);
      return;
    }
    const nBlocks = starts.length - 1;
    for (let i = 0; i < nBlocks; i++) {
      const g0 = starts[i]!;
      const g1 = starts[i + 1]!;
      const nq = g1 - g0;
      const rows = (nq + 2 * A) * c;
      const rowBase = (g0 - A) * c; // slot of row 0 (wraps below 0 and past R·L)
      gatherRows(ctx, blk, rowBase, rows);
      if (i === 0) zeroDOut(blk, 0, A * c, d); // query chunks [N−A, N): their part comes last (below)
      if (i === nBlocks - 1) {
        zeroDOut(blk, (A + nq) * c, rows, d); // query chunks [0, A): their part came first ...
        if (before > 0 && wrap) {
          // ... computed here: query chunks [0, before) into the key chunks [N−before, N)
          const n = (2 * before + after) * c;
          gatherRows(ctx, wrap, -before * c, n);
          attend(ctx, wrap, -before * c, n, [before, 2 * before]);
          const at = (A + nq - before) * c * d;
          blk.dk.set(wrap.dk.subarray(0, before * c * d), at);
          blk.dv.set(wrap.dv.subarray(0, before * c * d), at);
        }
      }
      attend(ctx, blk, rowBase, rows, null);
      if (i === 0 && after > 0 && wrap) {
        // key chunks [0, after) last receive from the query chunks [N−after, N)
        const n = (A + after) * c;
        gatherRows(ctx, wrap, (N - A) * c, n);
        const span = after * c * d;
        wrap.dk.set(blk.dk.subarray(A * c * d, A * c * d + span), A * c * d);
        wrap.dv.set(blk.dv.subarray(A * c * d, A * c * d + span), A * c * d);
        attend(ctx, wrap, (N - A) * c, n, [before, A]);
        blk.dk.set(wrap.dk.subarray(A * c * d, A * c * d + span), A * c * d);
        blk.dv.set(wrap.dv.subarray(A * c * d, A * c * d + span), A * c * d);
      }
      finish(ctx, blk, A * c, (A + nq) * c);
    }
  });
}

interface Ctx {
  readonly be: Backend;
  readonly a: LshHeadBackwardArgs;
  /** [L, R] round weights and d(lse) */
  readonly weights: Float;
  readonly dz: Float;
  readonly RL: number;
}

/**
 * Fills rows [0, n) of `b` with sorted slots rowBase … rowBase + n − 1 (mod R·L): positions, q, k̂, v,
 * the forward's lse, d(lse), do⁽ⁿ⁾; zeroes dq, dk, dv.
 */
function gatherRows(ctx: Ctx, b: BlockBuffers, rowBase: number, n: number): void {
  const { be, a, RL } = ctx;
  const { seqLen: L, numHashes: R, headSize: d } = a;
  let slot = ((rowBase % RL) + RL) % RL;
  for (let i = 0; i < n; i++, slot = slot + 1 === RL ? 0 : slot + 1) {
    const idx = a.sorted[slot]!; // n·L + t
    const t = idx % L;
    b.pos[i] = t;
    b.tMajor[i] = t * R + (idx - t) / L;
    if (b.keyValid) b.keyValid[i] = a.mask![a.maskOffset + t]!;
  }
  const pos = b.pos.subarray(0, n);
  const tMajor = b.tMajor.subarray(0, n);
  be.gatherRows({ rows: n, cols: d, index: pos, src: a.qk.buf, srcOffset: a.qk.offset, ldSrc: a.qk.ld, dst: b.q, ldDst: d });
  be.gatherRows({ rows: n, cols: d, index: pos, src: a.v.buf, srcOffset: a.v.offset, ldSrc: a.v.ld, dst: b.v, ldDst: d });
  // HF `_len_and_dim_norm`: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d (the forward's call, row by row)
  be.rmsNormForward({
    rows: n,
    cols: d,
    x: b.q.subarray(0, n * d),
    y: b.k.subarray(0, n * d),
    rstd: b.rstd.subarray(0, n),
    eps: KEY_NORM_EPS,
    scale: 1 / Math.sqrt(d),
  });
  // forward: unsort (scatter by tMajor)  ⇒  backward: sort (gather by tMajor)
  be.gatherRows({ rows: n, cols: 1, index: tMajor, src: a.lse, srcOffset: a.lseOffset, ldSrc: 1, dst: b.lse, ldDst: 1 });
  be.gatherRows({ rows: n, cols: 1, index: tMajor, src: ctx.dz, ldSrc: 1, dst: b.dLse, ldDst: 1 });
  // do⁽ⁿ⁾_t = w_{t,n}·dOut_t (a k = 1 product per row, as one over [L, R] computes it)
  be.gatherRows({ rows: n, cols: 1, index: tMajor, src: ctx.weights, ldSrc: 1, dst: b.w, ldDst: 1 });
  be.gatherRows({ rows: n, cols: d, index: pos, src: a.dOut.buf, srcOffset: a.dOut.offset, ldSrc: a.dOut.ld, dst: b.dOutRows, ldDst: d });
  be.gemmBatched({
    batch: n,
    m: 1,
    n: d,
    k: 1,
    a: b.w,
    lda: 1,
    strideA: 1,
    b: b.dOutRows,
    ldb: d,
    strideB: d,
    c: b.dOut,
    ldc: d,
    strideC: d,
  });
  b.dq.fill(0, 0, n * d);
  b.dk.fill(0, 0, n * d);
  b.dv.fill(0, 0, n * d);
}

/** Rows [r0, r1) of `b` add nothing as queries: do⁽ⁿ⁾ = 0 and d(lse) = 0 (their dS is exactly 0). */
function zeroDOut(b: BlockBuffers, r0: number, r1: number, d: number): void {
  b.dOut.fill(0, r0 * d, r1 * d);
  b.dLse.fill(0, r0, r1);
}

/**
 * The chunk-attention backward over rows [0, n) of `b` (row i = sorted slot rowBase + i): all chunks
 * (`chunks` null: split over threads as the kernel does) or query chunks [chunks[0], chunks[1]).
 */
function attend(ctx: Ctx, b: BlockBuffers, rowBase: number, n: number, chunks: [number, number] | null): void {
  const { be, a } = ctx;
  be.chunkAttentionBackward({
    n,
    d: a.headSize,
    chunkLength: a.chunk.chunkLength,
    numChunksBefore: a.chunk.numChunksBefore,
    numChunksAfter: a.chunk.numChunksAfter,
    q: b.q,
    k: b.k,
    v: b.v,
    pos: b.pos.subarray(0, n),
    keyValid: b.keyValid ? b.keyValid.subarray(0, n) : null,
    causal: a.causal,
    maskValue: MASK_VALUE,
    selfMaskValue: SELF_MASK_VALUE,
    rowBase, // dropout keyed by the query's slot; paper mode takes each row's round from it
    paper: a.buckets ? { seqLen: a.seqLen, numHashes: a.numHashes, buckets: a.buckets } : null,
    dropout: a.dropout,
    ...(chunks ? { chunkBegin: chunks[0], chunkEnd: chunks[1] } : {}),
    lse: b.lse,
    dOut: b.dOut,
    dLse: b.dLse,
    dq: b.dq,
    dk: b.dk,
    dv: b.dv,
  });
}

/** Owned rows [r0, r1): dq += ∂k̂/∂q·dk̂, then scatter-add dq and dv to their positions (ascending slots). */
function finish(ctx: Ctx, b: BlockBuffers, r0: number, r1: number): void {
  const { be, a } = ctx;
  const d = a.headSize;
  const n = r1 - r0;
  // forward: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d  ⇒  dq += ∂k̂/∂q · dk̂ (keys are the shared vectors too)
  be.rmsNormBackward({
    rows: n,
    cols: d,
    dy: b.dk.subarray(r0 * d, r1 * d),
    x: b.q.subarray(r0 * d, r1 * d),
    rstd: b.rstd.subarray(r0, r1),
    scale: 1 / Math.sqrt(d),
    dx: b.dq.subarray(r0 * d, r1 * d),
  });
  // forward: q_k = qk[p_k], v_k = v[p_k] (gather = sort)  ⇒  scatter-add back (R copies per position add up)
  const index = b.pos.subarray(r0, r1);
  be.scatterAddRows({
    rows: n,
    cols: d,
    index,
    src: b.dq,
    srcOffset: r0 * d,
    ldSrc: d,
    dst: a.dqk.buf,
    dstOffset: a.dqk.offset,
    ldDst: a.dqk.ld,
  });
  be.scatterAddRows({
    rows: n,
    cols: d,
    index,
    src: b.dv,
    srcOffset: r0 * d,
    ldSrc: d,
    dst: a.dv.buf,
    dstOffset: a.dv.offset,
    ldDst: a.dv.ld,
  });
}
