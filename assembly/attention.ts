// Chunked attention over rows already in attention order (semantics: Backend.chunkAttentionForward /
// chunkAttentionBackward, ChunkAttentionParams). Fused per query chunk c:
//   window  = key chunks c − before … c + after (mod numChunks), W = (before + 1 + after)·L keys
//   S [L, W] = Q_c · K_windowᵀ        (K window transposed into scratch, then a direct 4×8 micro-GEMM)
//   masks by replacement (padding / causal → maskValue, then self → selfMaskValue, then paper mode)
//   lse_i = logsumexp(S_i) stored as f32 and re-read; P = exp(S − lse)
//   optional attention dropout: P' = M ⊙ P / (1 − prob), M from (seed, row, slot) (src/backend/ops/attention/dropout.ts)
//   out_c = Σ_o P'[:, o-th L columns] · V_(chunk o)   (one micro-GEMM per neighbour chunk, in place)
// The backward recomputes S and P from q, k and the forward's lse (and M from the seed), then
//   dP' = dOut_c · V_windowᵀ, dP = M ⊙ dP'/(1 − prob), dS = P ⊙ (dP − Σ_w P·dP + dlse) on live scores
//   (replaced scores: 0), dq_c += dS·K_window,  dk_window += dSᵀ·Q_c,  dv_window += P'ᵀ·dOut_c (accumulating).
// Non-finite values follow the reference backend: a row with a NaN or ±∞ score (or a NaN lse) gets
// Math.exp's semantics (softmaxRow; the backward's rare path with expvIeee), and a dropped or replaced
// entry still multiplies (0·∞ = NaN, as torch's mask multiply and matmul).
// Query chunks [chunkBegin, chunkEnd) only, so the work can be split; each call needs its own scratch.
// The backward's dk/dv updates touch neighbour chunks. Its `partition` mode splits the work over
// threads without races and with the bits of one call: the call owns chunks [chunkBegin, chunkEnd)
// (dq rows of those query chunks, dk/dv rows of those key chunks) and visits, in ascending chunk
// order, every query chunk whose window holds an owned key chunk: owned query chunks fully, the others
// (at most before + after "halo" chunks past each end) recomputed, with only their owned dk/dv updates
// applied. So every dk/dv row receives the same contributions in the same order (query chunk
// ascending, window slot ascending) as in one call over all chunks, and concurrent calls over disjoint
// ranges write disjoint rows.
import { gemmDirect } from './gemm';
import { EXP_TABLE, expv, expvIeee, transposeBlock } from './simd';
import { softmaxRow } from './softmax';

// @ts-ignore: decorator
@inline function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

// @ts-ignore: decorator
@inline function align64f(x: f64): f64 {
  return Math.ceil(x / 64) * 64;
}

/**
 * Scratch bytes of one chunk-attention call (forward: backward = 0), computed in f64 so that sizes past
 * 4 GiB are reported as they are (the caller refuses them) instead of wrapping in 32-bit arithmetic.
 * Same layout as the kernels below, which run only when the total fits the memory.
 */
export function chunkAttentionScratchBytes(d: i32, chunkLength: i32, before: i32, after: i32, backward: i32): f64 {
  const w = <f64>(before + 1 + after) * <f64>chunkLength;
  const lw = align64f(<f64>chunkLength * w * 4);
  const dw = align64f(<f64>d * w * 4);
  const keys = align64f(w * 4);
  let total = lw + dw + 3 * keys; // S, KT, kpos, kinv, krow
  if (backward != 0) total += lw + dw + lw; // dP, VT, live
  return total;
}

/** Sorted slot of row i of a call whose row 0 is slot `rowBase` of the whole sequence of `total` slots. */
// @ts-ignore: decorator
@inline function slotOf(rowBase: i32, i: i32, total: i32): i32 {
  let s = (rowBase + i) % total;
  if (s < 0) s += total;
  return s;
}

// ---- attention-probability dropout: the same bits as src/backend/ops/attention/dropout.ts

// @ts-ignore: decorator
@inline function fmix32(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

// @ts-ignore: decorator
@inline function fmix32x4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(<i32>0x85ebca6b));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(<i32>0xc2b2ae35));
  return v128.xor(h, i32x4.shr_u(h, 16));
}

/**
 * row[j] *= keep(seed, i, j) ? scale : 0 for j < w, keep ⇔ fmix32(key_i + j·0x27D4EB2F) ≥ threshold (unsigned),
 * key_i = fmix32(seed XOR i·0x9E3779B1). A dropped value becomes x − x: +0 for a finite x, NaN for NaN or
 * ±∞ (the reference's x·0, torch's mask multiply).
 */
function dropoutRow(row: usize, w: i32, i: i32, seed: u32, threshold: u32, scale: f32): void {
  const key = fmix32(seed ^ (<u32>i * 0x9e3779b1));
  const C: u32 = 0x27d4eb2f;
  const thr = i32x4.splat(<i32>threshold);
  const sc = f32x4.splat(scale);
  let ctr = i32x4.add(i32x4.splat(<i32>key), i32x4.mul(i32x4(0, 1, 2, 3), i32x4.splat(<i32>C)));
  const step = i32x4.splat(<i32>(C * 4));
  let j = 0;
  for (; j + 4 <= w; j += 4) {
    const o = <usize>j << 2;
    const kept = i32x4.ge_u(fmix32x4(ctr), thr);
    const x = v128.load(row + o);
    v128.store(row + o, v128.bitselect(f32x4.mul(x, sc), f32x4.sub(x, x), kept));
    ctr = i32x4.add(ctr, step);
  }
  for (; j < w; j++) {
    const o = <usize>j << 2;
    const bits = fmix32(key + <u32>j * C);
    const x = load<f32>(row + o);
    store<f32>(row + o, bits >= threshold ? x * scale : x - x);
  }
}

/**
 * The rare path of the backward's P: p = exp(s − l) with Math.exp's non-finite semantics (expvIeee),
 * one value at a time, written over the scores at srow; returns Σ_w p·dP.
 */
function expRowIeee(srow: usize, dprow: usize, w: i32, l: f32): f32 {
  let dot: f32 = 0;
  for (let j = 0; j < w; j++) {
    const o = <usize>j << 2;
    const p = f32x4.extract_lane(
      expvIeee(
        f32x4.splat(load<f32>(srow + o) - l),
        v128.load(EXP_TABLE, 0), v128.load(EXP_TABLE, 16), v128.load(EXP_TABLE, 32), v128.load(EXP_TABLE, 48),
        v128.load(EXP_TABLE, 64), v128.load(EXP_TABLE, 80), v128.load(EXP_TABLE, 96), v128.load(EXP_TABLE, 112),
        v128.load(EXP_TABLE, 128), v128.load(EXP_TABLE, 144), v128.load(EXP_TABLE, 160), v128.load(EXP_TABLE, 176),
        v128.load(EXP_TABLE, 192), v128.load(EXP_TABLE, 208),
      ),
      0,
    );
    store<f32>(srow + o, p);
    dot += p * load<f32>(dprow + o);
  }
  return dot;
}

/** Geometry and inputs shared by forward and backward (plain struct in linear memory would be overkill). */
// @ts-ignore: decorator
@inline function windowChunk(c: i32, o: i32, before: i32, numChunks: i32): i32 {
  let kc = (c - before + o) % numChunks;
  if (kc < 0) kc += numChunks;
  return kc;
}

/**
 * Fills, for query chunk c: KT [d, W] (transposed keys of the window), kpos [W], kinv [W]
 * (−1 where the key row is padding), krow [W] (key row index); and VT [d, W] when vt != 0.
 */
function buildWindow(
  c: i32, numChunks: i32, L: i32, d: i32, before: i32, nb: i32,
  k: usize, ldkB: usize, v: usize, ldvB: usize,
  pos: usize, keyValid: usize,
  kt: usize, vt: usize, kpos: usize, kinv: usize, krow: usize,
): void {
  const w = nb * L;
  const wB = <usize>w << 2;
  for (let o = 0; o < nb; o++) {
    const kc = windowChunk(c, o, before, numChunks);
    const row0 = kc * L;
    const col0 = <usize>(o * L) << 2;
    transposeBlock(L, d, k + <usize>row0 * ldkB, ldkB, kt + col0, wB);
    if (vt != 0) transposeBlock(L, d, v + <usize>row0 * ldvB, ldvB, vt + col0, wB);
    for (let r = 0; r < L; r++) {
      const slot = <usize>(o * L + r) << 2;
      const row = row0 + r;
      store<i32>(kpos + slot, load<i32>(pos + (<usize>row << 2)));
      store<i32>(kinv + slot, keyValid != 0 && load<i32>(keyValid + (<usize>row << 2)) == 0 ? -1 : 0);
      store<i32>(krow + slot, row);
    }
  }
}

/**
 * Masks one score row S[w], w < W, of query row i (position qPos) by replacement; writes live[w]
 * (−1 if the score is still q·k, else 0) when live != 0.
 */
function maskRow(
  srow: usize, w: i32, i: i32, qPos: i32,
  kpos: usize, kinv: usize, krow: usize,
  causal: bool, maskValue: f32, hasSelf: bool, selfValue: f32,
  paper: usize, seqLen: i32, numHashes: i32, rowBase: i32,
  live: usize,
): void {
  if (paper == 0) {
    const qv = i32x4.splat(qPos);
    const mv = f32x4.splat(maskValue);
    const sv = f32x4.splat(selfValue);
    let j = 0;
    for (; j + 4 <= w; j += 4) {
      const o = <usize>j << 2;
      const kp = v128.load(kpos + o);
      let inv = v128.load(kinv + o);
      if (causal) inv = v128.or(inv, i32x4.lt_s(qv, kp));
      let s = v128.bitselect(mv, v128.load(srow + o), inv);
      let lv = v128.not(inv);
      if (hasSelf) {
        const self = i32x4.eq(qv, kp);
        s = v128.bitselect(sv, s, self);
        lv = v128.andnot(lv, self);
      }
      v128.store(srow + o, s);
      if (live != 0) v128.store(live + o, lv);
    }
    for (; j < w; j++) {
      const o = <usize>j << 2;
      const kp = load<i32>(kpos + o);
      let s = load<f32>(srow + o);
      let lv = -1;
      if (load<i32>(kinv + o) != 0 || (causal && qPos < kp)) {
        s = maskValue;
        lv = 0;
      }
      if (hasSelf && qPos == kp) {
        s = selfValue;
        lv = 0;
      }
      store<f32>(srow + o, s);
      if (live != 0) store<i32>(live + o, lv);
    }
    return;
  }
  // paper-exact multi-round mode (Kitaev et al. App. A, Eq. 11-16), scalar
  const total = seqLen * numHashes;
  const round = slotOf(rowBase, i, total) / seqLen;
  const qBucket = load<i32>(paper + ((<usize>round * <usize>seqLen + <usize>qPos) << 2));
  for (let j = 0; j < w; j++) {
    const o = <usize>j << 2;
    const kp = load<i32>(kpos + o);
    const row = load<i32>(krow + o);
    let s = load<f32>(srow + o);
    let lv = -1;
    let masked = false;
    if (load<i32>(kinv + o) != 0 || (causal && qPos < kp)) {
      s = maskValue;
      lv = 0;
      masked = true;
    }
    if (hasSelf && qPos == kp) {
      s = selfValue; // overrides the mask: a token may fall back to itself
      lv = 0;
      masked = false;
    }
    if (slotOf(rowBase, row, total) / seqLen != round || load<i32>(paper + ((<usize>round * <usize>seqLen + <usize>kp) << 2)) != qBucket) {
      // j ∉ P_i^(r): another round's row or another bucket (m_ij = ∞)
      s = maskValue;
      lv = 0;
    } else if (!masked) {
      // m_ij = log N_ij, N_ij = rounds in which i and j share a bucket
      let shared = 0;
      for (let r = 0; r < numHashes; r++) {
        const base = paper + ((<usize>r * <usize>seqLen) << 2);
        if (load<i32>(base + (<usize>qPos << 2)) == load<i32>(base + (<usize>kp << 2))) shared++;
      }
      s = <f32>(<f64>s - Math.log(<f64>shared));
    }
    store<f32>(srow + o, s);
    if (live != 0) store<i32>(live + o, lv);
  }
}

/**
 * Forward. Strides in elements; pointers to element 0 of each operand (offsets applied by the caller).
 * keyValid = 0: all keys valid; paper = 0: standard mode (else [numHashes, seqLen] buckets);
 * rowBase: index of row 0 in the whole attention sequence (a streamed block of it): row i is slot
 * rowBase + i, which keys its dropout mask and (mod numHashes·seqLen) its paper-mode round;
 * dropThreshold = 0: no attention dropout (else floor(prob·2^32), dropScale = 1/(1 − prob)).
 */
export function chunkAttentionForward(
  n: i32, d: i32, L: i32, before: i32, after: i32,
  q: usize, ldq: i32, k: usize, ldk: i32, v: usize, ldv: i32,
  pos: usize, keyValid: usize, causal: i32, maskValue: f32, hasSelf: i32, selfValue: f32,
  paper: usize, seqLen: i32, numHashes: i32, rowBase: i32,
  chunkBegin: i32, chunkEnd: i32,
  out: usize, ldOut: i32, lse: usize, scratch: usize,
  dropSeed: u32, dropThreshold: u32, dropScale: f32,
): void {
  const numChunks = n / L;
  const nb = before + 1 + after;
  const w = nb * L;
  const wB = <usize>w << 2;
  const ldqB = <usize>ldq << 2;
  const ldkB = <usize>ldk << 2;
  const ldvB = <usize>ldv << 2;
  const ldoB = <usize>ldOut << 2;
  const sBuf = scratch;
  const kt = sBuf + align64(<usize>L * wB);
  const kpos = kt + align64(<usize>d * wB);
  const kinv = kpos + align64(wB);
  const krow = kinv + align64(wB);
  for (let c = chunkBegin; c < chunkEnd; c++) {
    buildWindow(c, numChunks, L, d, before, nb, k, ldkB, v, ldvB, pos, keyValid, kt, 0, kpos, kinv, krow);
    const qc = q + <usize>(c * L) * ldqB;
    // S = Q_c · K_windowᵀ
    gemmDirect(L, w, d, qc, ldqB, 4, kt, wB, sBuf, wB, false);
    for (let qi = 0; qi < L; qi++) {
      const i = c * L + qi;
      const srow = sBuf + <usize>qi * wB;
      maskRow(srow, w, i, load<i32>(pos + (<usize>i << 2)), kpos, kinv, krow,
        causal != 0, maskValue, hasSelf != 0, selfValue, paper, seqLen, numHashes, rowBase, 0);
      softmaxRow(w, srow, srow, lse + (<usize>i << 2));
      if (dropThreshold != 0) dropoutRow(srow, w, rowBase + i, dropSeed, dropThreshold, dropScale);
    }
    // out_c = Σ_o P_o · V_(chunk o)
    const oc = out + <usize>(c * L) * ldoB;
    for (let o = 0; o < nb; o++) {
      const kc = windowChunk(c, o, before, numChunks);
      gemmDirect(L, d, L, sBuf + (<usize>(o * L) << 2), wB, 4, v + <usize>(kc * L) * ldvB, ldvB, oc, ldoB, o > 0);
    }
  }
}

/**
 * Backward (accumulates dq, dk, dv, which share the strides of q, k, v). dLse = 0: none.
 * partition = 0: query chunks [chunkBegin, chunkEnd) and all their dk/dv updates; 1: the call owns
 * chunks [chunkBegin, chunkEnd) (see the file header: race-free, bit-identical splits).
 */
export function chunkAttentionBackward(
  n: i32, d: i32, L: i32, before: i32, after: i32,
  q: usize, ldq: i32, k: usize, ldk: i32, v: usize, ldv: i32,
  pos: usize, keyValid: usize, causal: i32, maskValue: f32, hasSelf: i32, selfValue: f32,
  paper: usize, seqLen: i32, numHashes: i32, rowBase: i32,
  chunkBegin: i32, chunkEnd: i32,
  lse: usize, dOut: usize, ldOut: i32, dLse: usize,
  dq: usize, dk: usize, dv: usize, scratch: usize,
  dropSeed: u32, dropThreshold: u32, dropScale: f32,
  partition: i32,
): void {
  const numChunks = n / L;
  const nb = before + 1 + after;
  const w = nb * L;
  const wB = <usize>w << 2;
  const ldqB = <usize>ldq << 2;
  const ldkB = <usize>ldk << 2;
  const ldvB = <usize>ldv << 2;
  const ldoB = <usize>ldOut << 2;
  const sBuf = scratch; // S, then P
  const kt = sBuf + align64(<usize>L * wB);
  const kpos = kt + align64(<usize>d * wB);
  const kinv = kpos + align64(wB);
  const krow = kinv + align64(wB);
  const dpBuf = krow + align64(wB); // dP, then dS
  const vt = dpBuf + align64(<usize>L * wB);
  const live = vt + align64(<usize>d * wB);
  const e0 = v128.load(EXP_TABLE, 0), e1 = v128.load(EXP_TABLE, 16), e2 = v128.load(EXP_TABLE, 32), e3 = v128.load(EXP_TABLE, 48);
  const e4 = v128.load(EXP_TABLE, 64), e5 = v128.load(EXP_TABLE, 80), e6 = v128.load(EXP_TABLE, 96), e7 = v128.load(EXP_TABLE, 112);
  const e8 = v128.load(EXP_TABLE, 128), e9 = v128.load(EXP_TABLE, 144), e10 = v128.load(EXP_TABLE, 160), e11 = v128.load(EXP_TABLE, 176);
  const first = partition != 0 ? 0 : chunkBegin;
  const last = partition != 0 ? numChunks : chunkEnd;
  for (let c = first; c < last; c++) {
    // own: dq and every dk/dv update of this query chunk; else (partition halo) only owned dk/dv rows
    const own = c >= chunkBegin && c < chunkEnd;
    if (!own) {
      let touches = false;
      for (let o = 0; o < nb; o++) {
        const kc = windowChunk(c, o, before, numChunks);
        if (kc >= chunkBegin && kc < chunkEnd) touches = true;
      }
      if (!touches) continue;
    }
    buildWindow(c, numChunks, L, d, before, nb, k, ldkB, v, ldvB, pos, keyValid, kt, vt, kpos, kinv, krow);
    const qc = q + <usize>(c * L) * ldqB;
    const goc = dOut + <usize>(c * L) * ldoB;
    // S = Q_c · K_windowᵀ, masked; dP = dOut_c · V_windowᵀ
    gemmDirect(L, w, d, qc, ldqB, 4, kt, wB, sBuf, wB, false);
    gemmDirect(L, w, d, goc, ldoB, 4, vt, wB, dpBuf, wB, false);
    for (let qi = 0; qi < L; qi++) {
      const i = c * L + qi;
      const srow = sBuf + <usize>qi * wB;
      const dprow = dpBuf + <usize>qi * wB;
      const lrow = live + <usize>qi * wB;
      maskRow(srow, w, i, load<i32>(pos + (<usize>i << 2)), kpos, kinv, krow,
        causal != 0, maskValue, hasSelf != 0, selfValue, paper, seqLen, numHashes, rowBase, lrow);
      // dropout (forward's mask): dP = M ⊙ dP' / (1 − prob)
      if (dropThreshold != 0) dropoutRow(dprow, w, rowBase + i, dropSeed, dropThreshold, dropScale);
      // P = exp(S − lse) (forward's stored lse); rowdot = Σ_w P·dP
      const l = load<f32>(lse + (<usize>i << 2));
      let dotv = f32x4.splat(0);
      let dot: f32 = 0;
      if (l == -Infinity) {
        memory.fill(srow, 0, wB);
        for (let j = 0; j < w; j++) dot += <f32>0 * load<f32>(dprow + (<usize>j << 2)); // 0·dP: NaN if dP is not finite
      } else if (l != l) {
        dot = expRowIeee(srow, dprow, w, l); // NaN lse: P = NaN
      } else {
        const lv = f32x4.splat(l);
        let flag = f32x4.splat(0); // Σ S: not finite if a score is NaN or ±∞
        let flagged = false;
        let j = 0;
        for (; j + 4 <= w; j += 4) {
          const o = <usize>j << 2;
          const sv = v128.load(srow + o);
          flag = f32x4.add(flag, sv);
          const p = expv(f32x4.sub(sv, lv), e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11);
          v128.store(srow + o, p);
          dotv = f32x4.add(dotv, f32x4.mul(p, v128.load(dprow + o)));
        }
        for (; j < w; j++) {
          const o = <usize>j << 2;
          const x = load<f32>(srow + o);
          if (x - x != 0) flagged = true;
          const p = f32x4.extract_lane(expv(f32x4.splat(x - l), e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11), 0);
          store<f32>(srow + o, p);
          dot += p * load<f32>(dprow + o);
        }
        dot += f32x4.extract_lane(dotv, 0) + f32x4.extract_lane(dotv, 1) + f32x4.extract_lane(dotv, 2) + f32x4.extract_lane(dotv, 3);
        const fd = f32x4.sub(flag, flag);
        if (flagged || v128.any_true(f32x4.ne(fd, fd))) {
          // rare: a NaN or ±∞ score (or an overflowing sum): the row's scores again, then P with Math.exp's semantics
          gemmDirect(1, w, d, qc + <usize>qi * ldqB, ldqB, 4, kt, wB, srow, wB, false);
          maskRow(srow, w, i, load<i32>(pos + (<usize>i << 2)), kpos, kinv, krow,
            causal != 0, maskValue, hasSelf != 0, selfValue, paper, seqLen, numHashes, rowBase, lrow);
          dot = expRowIeee(srow, dprow, w, l);
        }
      }
      // dS = P ⊙ (dP − rowdot + dlse) on live scores, in place of dP
      const g: f32 = dLse != 0 ? load<f32>(dLse + (<usize>i << 2)) : 0;
      const shift = g - dot;
      const shv = f32x4.splat(shift);
      let j = 0;
      for (; j + 4 <= w; j += 4) {
        const o = <usize>j << 2;
        const ds = f32x4.mul(v128.load(srow + o), f32x4.add(v128.load(dprow + o), shv));
        v128.store(dprow + o, v128.and(ds, v128.load(lrow + o)));
      }
      for (; j < w; j++) {
        const o = <usize>j << 2;
        const ds = load<f32>(srow + o) * (load<f32>(dprow + o) + shift);
        store<f32>(dprow + o, load<i32>(lrow + o) != 0 ? ds : 0);
      }
      // P' = M ⊙ P / (1 − prob) for dv_window += P'ᵀ·dOut_c
      if (dropThreshold != 0) dropoutRow(srow, w, rowBase + i, dropSeed, dropThreshold, dropScale);
    }
    const dqc = dq + <usize>(c * L) * ldqB;
    for (let o = 0; o < nb; o++) {
      const kc = windowChunk(c, o, before, numChunks);
      const col = <usize>(o * L) << 2;
      const rowK = <usize>(kc * L) * ldkB;
      const rowV = <usize>(kc * L) * ldvB;
      // dq_c += dS_o · K_(chunk o)
      if (own) gemmDirect(L, d, L, dpBuf + col, wB, 4, k + rowK, ldkB, dqc, ldqB, true);
      if (partition != 0 && (kc < chunkBegin || kc >= chunkEnd)) continue; // another call's rows
      // dk_(chunk o) += dS_oᵀ · Q_c
      gemmDirect(L, d, L, dpBuf + col, 4, wB, qc, ldqB, dk + rowK, ldkB, true);
      // dv_(chunk o) += P_oᵀ · dOut_c
      gemmDirect(L, d, L, sBuf + col, 4, wB, goc, ldoB, dv + rowV, ldvB, true);
    }
  }
}
