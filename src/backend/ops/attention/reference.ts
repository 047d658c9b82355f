/** Reference loops of the chunked-attention family (see params.ts). */
import { logSumExp } from '../softmax/reference.js';
import { attentionDropoutRow } from './dropout.js';
import {
  type ChunkAttentionBackwardParams,
  type ChunkAttentionForwardParams,
  type ChunkAttentionParams,
  validateChunkBackward,
  validateChunkForward,
} from './params.js';

export function chunkAttentionForward(p: ChunkAttentionForwardParams): void {
  validateChunkForward(p);
  const g = chunkGeometry(p);
  const s = new Float64Array(g.window);
  const keyRows = new Int32Array(g.window);
  const keep = new Float64Array(g.window); // dropout factors of the row: 1/(1 − prob) or 0 (all 1 without dropout)
  const ldOut = p.ldOut ?? p.d;
  const outOff = p.outOffset ?? 0;
  const lseOff = p.lseOffset ?? 0;
  for (let c = g.begin; c < g.end; c++) {
    windowRows(p, g, c, keyRows);
    for (let qi = 0; qi < p.chunkLength; qi++) {
      const i = c * p.chunkLength + qi;
      maskedScores(p, g, i, keyRows, s);
      dropoutFactors(p, i, keep);
      // lse stored at buffer precision, then re-read (torch stores fp32 logsumexp before subtracting)
      p.lse[lseOff + i] = logSumExp(s, 0, g.window);
      const l = p.lse[lseOff + i]!;
      const o = outOff + i * ldOut;
      for (let dd = 0; dd < p.d; dd++) {
        let acc = 0;
        for (let w = 0; w < g.window; w++) {
          // p' = dropout(exp(s − lse)) (HF: dropout on the probabilities, before P·V)
          const prob = l === -Infinity ? 0 : Math.exp(s[w]! - l) * keep[w]!;
          acc += prob * p.v[g.vOff + keyRows[w]! * g.ldv + dd]!;
        }
        p.out[o + dd] = acc;
      }
    }
  }
}

export function chunkAttentionBackward(p: ChunkAttentionBackwardParams): void {
  validateChunkBackward(p);
  const g = chunkGeometry(p);
  const s = new Float64Array(g.window);
  const prob = new Float64Array(g.window);
  const dprob = new Float64Array(g.window);
  const keyRows = new Int32Array(g.window);
  const keep = new Float64Array(g.window);
  const ldOut = p.ldOut ?? p.d;
  const dOutOff = p.dOutOffset ?? 0;
  const lseOff = p.lseOffset ?? 0;
  for (let c = g.begin; c < g.end; c++) {
    windowRows(p, g, c, keyRows);
    for (let qi = 0; qi < p.chunkLength; qi++) {
      const i = c * p.chunkLength + qi;
      maskedScores(p, g, i, keyRows, s);
      dropoutFactors(p, i, keep); // the forward's mask, replayed from (seed, i, w)
      const l = p.lse[lseOff + i]!;
      const gLse = p.dLse ? p.dLse[(p.dLseOffset ?? 0) + i]! : 0;
      const go = dOutOff + i * ldOut;
      // forward: p_w = exp(s_w − lse); p'_w = keep_w·p_w; out = Σ_w p'_w v_w
      let dot = 0;
      for (let w = 0; w < g.window; w++) {
        prob[w] = l === -Infinity ? 0 : Math.exp(s[w]! - l);
        let dpw = 0; // dp'_w = dOut · v_w, then dp_w = keep_w · dp'_w
        const vo = g.vOff + keyRows[w]! * g.ldv;
        for (let dd = 0; dd < p.d; dd++) dpw += p.dOut[go + dd]! * p.v[vo + dd]!;
        dprob[w] = dpw * keep[w]!;
        dot += prob[w]! * dprob[w]!;
      }
      const qo = g.qOff + i * g.ldq;
      for (let w = 0; w < g.window; w++) {
        const row = keyRows[w]!;
        const pw = prob[w]!;
        // dv_w += p'_w · dOut
        const vo = g.vOff + row * g.ldv;
        const pkw = pw * keep[w]!;
        for (let dd = 0; dd < p.d; dd++) p.dv[vo + dd] = p.dv[vo + dd]! + pkw * p.dOut[go + dd]!;
        // ds_w = p_w (dp_w − Σ p·dp + dlse); replaced (masked) scores carry no gradient: ds_w = 0, still
        // multiplied into dq and dk (as torch's where + matmul: 0·∞ is NaN)
        const ds = g.scoreIsLive[w] ? pw * (dprob[w]! - dot + gLse) : 0;
        const ko = g.kOff + row * g.ldk;
        for (let dd = 0; dd < p.d; dd++) {
          p.dq[qo + dd] = p.dq[qo + dd]! + ds * p.k[ko + dd]!;
          p.dk[ko + dd] = p.dk[ko + dd]! + ds * p.q[qo + dd]!;
        }
      }
    }
  }
}

interface ChunkGeometry {
  numChunks: number;
  begin: number;
  end: number;
  /** keys per query: (before + 1 + after)·chunkLength */
  window: number;
  qOff: number;
  kOff: number;
  vOff: number;
  ldq: number;
  ldk: number;
  ldv: number;
  /** per window slot of the current query: true if its score is q·k (not replaced by a mask value) */
  scoreIsLive: Uint8Array;
}

function chunkGeometry(p: ChunkAttentionParams): ChunkGeometry {
  const numChunks = p.n / p.chunkLength;
  const window = (p.numChunksBefore + 1 + p.numChunksAfter) * p.chunkLength;
  return {
    numChunks,
    begin: p.chunkBegin ?? 0,
    end: p.chunkEnd ?? numChunks,
    window,
    qOff: p.qOffset ?? 0,
    kOff: p.kOffset ?? 0,
    vOff: p.vOffset ?? 0,
    ldq: p.ldq ?? p.d,
    ldk: p.ldk ?? p.d,
    ldv: p.ldv ?? p.d,
    scoreIsLive: new Uint8Array(window),
  };
}

/** Dropout factors of query row i's window slots (1 everywhere without dropout). */
function dropoutFactors(p: ChunkAttentionParams, i: number, keep: Float64Array): void {
  if (p.dropout && p.dropout.prob > 0) attentionDropoutRow(keep, keep.length, p.dropout.prob, p.dropout.seed, (p.rowBase ?? 0) + i);
  else keep.fill(1);
}

/** Rows of the keys seen by query chunk c: chunks c−before … c+after modulo numChunks, in that order. */
function windowRows(p: ChunkAttentionParams, g: ChunkGeometry, c: number, keyRows: Int32Array): void {
  let w = 0;
  for (let o = -p.numChunksBefore; o <= p.numChunksAfter; o++) {
    const kc = (((c + o) % g.numChunks) + g.numChunks) % g.numChunks;
    for (let r = 0; r < p.chunkLength; r++) keyRows[w++] = kc * p.chunkLength + r;
  }
}

/** Scores of query row i against its window, with masks applied by replacement (see ChunkAttentionParams). */
function maskedScores(p: ChunkAttentionParams, g: ChunkGeometry, i: number, keyRows: Int32Array, s: Float64Array): void {
  const qo = g.qOff + i * g.ldq;
  const qPos = p.pos[i]!;
  const paper = p.paper;
  for (let w = 0; w < g.window; w++) {
    const j = keyRows[w]!;
    const kPos = p.pos[j]!;
    let score = 0;
    const ko = g.kOff + j * g.ldk;
    for (let dd = 0; dd < p.d; dd++) score += p.q[qo + dd]! * p.k[ko + dd]!;
    let live = true; // score is still q·k
    let masked = false; // replaced by maskValue
    if ((p.keyValid && p.keyValid[j] === 0) || (p.causal && qPos < kPos)) {
      score = p.maskValue;
      live = false;
      masked = true;
    }
    if (p.selfMaskValue !== null && qPos === kPos) {
      score = p.selfMaskValue; // overrides the mask: a token may fall back to itself
      live = false;
      masked = false;
    }
    if (paper) {
      const L = paper.seqLen;
      const total = L * paper.numHashes;
      const base = p.rowBase ?? 0;
      const slot = (row: number): number => (((base + row) % total) + total) % total; // the row's sorted slot
      const round = Math.floor(slot(i) / L);
      if (Math.floor(slot(j) / L) !== round || paper.buckets[round * L + qPos] !== paper.buckets[round * L + kPos]) {
        // j ∉ P_i^(r): other round's row or other bucket (m_ij = ∞, Eq. 15)
        score = p.maskValue;
        live = false;
      } else if (!masked) {
        // m_ij = log N_ij, N_ij = rounds in which i and j share a bucket (Eq. 14-16)
        let shared = 0;
        for (let r = 0; r < paper.numHashes; r++) if (paper.buckets[r * L + qPos] === paper.buckets[r * L + kPos]) shared++;
        score -= Math.log(shared);
      }
    }
    // scores live in the buffers' precision, as torch keeps them (matters for −1e5 − log N in paper mode)
    s[w] = p.q instanceof Float32Array ? Math.fround(score) : score;
    g.scoreIsLive[w] = live ? 1 : 0;
  }
}
