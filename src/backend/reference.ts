/**
 * The reference backend: plain TypeScript loops that mirror the math, one operation at a time.
 *
 * It is the oracle every fast kernel is checked against (spec/kernels), and a fallback that runs in
 * any JavaScript engine. No processor-specific tricks: sums are accumulated in float64 and stored at
 * the buffer's precision (f32 or f64). Values that HF stores in fp32 before reusing them (the
 * log-sum-exp of attention rows, see the fixtures README "fp32 logsumexp quirk") are re-read from
 * the output buffer, so an f32 reference reproduces fp32 rounding where it matters.
 */
import type {
  Activation,
  AdamWParams,
  Backend,
  ChunkAttentionBackwardParams,
  ChunkAttentionForwardParams,
  ChunkAttentionParams,
  DType,
  Float,
  GemmBatchedParams,
  GemmParams,
  LayerNormBackwardParams,
  LayerNormParams,
  LshHashParams,
  LshRoundCombineParams,
  RmsNormBackwardParams,
  RmsNormParams,
  RowsParams,
  SoftmaxBackwardParams,
  SoftmaxParams,
} from './backend.js';
import { activationDerivative, activationValue } from './activations.js';
import { attentionDropoutRow } from './attention-dropout.js';
import * as v from './validate.js';

export interface ReferenceBackendOptions {
  /** Element type of float buffers. Default 'f32'; 'f64' for gradient checks. */
  dtype?: DType;
}

export class ReferenceBackend implements Backend {
  readonly name: string;
  readonly dtype: DType;

  constructor(options: ReferenceBackendOptions = {}) {
    this.dtype = options.dtype ?? 'f32';
    this.name = `reference-${this.dtype}`;
  }

  floats(n: number): Float {
    v.checkInt('floats', 'n', n);
    return this.dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }

  ints(n: number): Int32Array {
    v.checkInt('ints', 'n', n);
    return new Int32Array(n);
  }

  scope<T>(fn: () => T): T {
    // Buffers are garbage-collected JS arrays: nothing to free.
    return fn();
  }

  // ---------------------------------------------------------------- dense linear algebra

  gemm(p: GemmParams): void {
    v.validateGemm(p);
    gemmLoop(p, p.aOffset ?? 0, p.bOffset ?? 0, p.cOffset ?? 0);
  }

  gemmBatched(p: GemmBatchedParams): void {
    v.validateGemmBatched(p);
    for (let i = 0; i < p.batch; i++) {
      gemmLoop(p, (p.aOffset ?? 0) + i * p.strideA, (p.bOffset ?? 0) + i * p.strideB, (p.cOffset ?? 0) + i * p.strideC);
    }
  }

  // ---------------------------------------------------------------- element-wise

  add(out: Float, a: Float, b: Float, n: number): void {
    v.validateElementwise('add', n, ['out', out], ['a', a], ['b', b]);
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  }

  axpy(y: Float, alpha: number, x: Float, n: number): void {
    v.validateElementwise('axpy', n, ['y', y], ['x', x]);
    v.checkFinite('axpy', 'alpha', alpha);
    for (let i = 0; i < n; i++) y[i] = y[i]! + alpha * x[i]!;
  }

  scale(x: Float, alpha: number, n: number): void {
    v.validateElementwise('scale', n, ['x', x]);
    v.checkFinite('scale', 'alpha', alpha);
    for (let i = 0; i < n; i++) x[i] = x[i]! * alpha;
  }

  addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
    v.validateRowVector('addRowVector', x, vec, rows, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < cols; j++) x[o + j] = x[o + j]! + vec[j]!;
    }
  }

  sumRows(out: Float, x: Float, rows: number, cols: number): void {
    v.validateRowVector('sumRows', x, out, rows, cols);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + j]!;
      out[j] = out[j]! + s;
    }
  }

  sumSquares(x: Float, n: number): number {
    v.validateElementwise('sumSquares', n, ['x', x]);
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  }

  // ---------------------------------------------------------------- activations

  activationForward(kind: Activation, x: Float, y: Float, n: number): void {
    v.validateElementwise('activationForward', n, ['x', x], ['y', y]);
    for (let i = 0; i < n; i++) y[i] = activationValue(kind, x[i]!);
  }

  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
    v.validateElementwise('activationBackward', n, ['x', x], ['dy', dy], ['dx', dx]);
    for (let i = 0; i < n; i++) dx[i] = dx[i]! + activationDerivative(kind, x[i]!) * dy[i]!;
  }

  // ---------------------------------------------------------------- normalisation

  layerNormForward(p: LayerNormParams): void {
    v.validateLayerNorm(p);
    const { rows, cols, x, y, gamma, beta, eps } = p;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mean = 0;
      for (let j = 0; j < cols; j++) mean += x[o + j]!;
      mean /= cols;
      let variance = 0; // biased, as torch.nn.LayerNorm
      for (let j = 0; j < cols; j++) variance += (x[o + j]! - mean) ** 2;
      variance /= cols;
      p.mean[r] = mean;
      p.rstd[r] = 1 / Math.sqrt(variance + eps);
      const m = p.mean[r]!;
      const rs = p.rstd[r]!;
      for (let j = 0; j < cols; j++) y[o + j] = (x[o + j]! - m) * rs * gamma[j]! + beta[j]!;
    }
  }

  layerNormBackward(p: LayerNormBackwardParams): void {
    v.validateLayerNormBackward(p);
    const { rows, cols, dy, x, gamma, dx, dgamma, dbeta } = p;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mean = p.mean[r]!;
      const rstd = p.rstd[r]!;
      // xhat = (x - mean)·rstd; dxhat = dy·gamma
      let meanDxhat = 0;
      let meanDxhatXhat = 0;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j]! - mean) * rstd;
        const dxhat = dy[o + j]! * gamma[j]!;
        meanDxhat += dxhat;
        meanDxhatXhat += dxhat * xhat;
      }
      meanDxhat /= cols;
      meanDxhatXhat /= cols;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j]! - mean) * rstd;
        const dxhat = dy[o + j]! * gamma[j]!;
        dbeta[j] = dbeta[j]! + dy[o + j]!;
        dgamma[j] = dgamma[j]! + dy[o + j]! * xhat;
        // dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
        dx[o + j] = dx[o + j]! + rstd * (dxhat - meanDxhat - xhat * meanDxhatXhat);
      }
    }
  }

  rmsNormForward(p: RmsNormParams): void {
    v.validateRmsNorm(p);
    const { rows, cols, x, y, eps, scale } = p;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let ms = 0;
      for (let j = 0; j < cols; j++) ms += x[o + j]! * x[o + j]!;
      p.rstd[r] = 1 / Math.sqrt(ms / cols + eps);
      const rs = p.rstd[r]!;
      for (let j = 0; j < cols; j++) y[o + j] = x[o + j]! * rs * scale;
    }
  }

  rmsNormBackward(p: RmsNormBackwardParams): void {
    v.validateRmsNormBackward(p);
    const { rows, cols, dy, x, rstd, scale, dx } = p;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const rs = rstd[r]!;
      // y = s·x·rs, rs = (mean(x²)+eps)^(−1/2)  ⇒  dx = s·rs·(dy − x·rs²·Σ(dy·x)/cols)
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[o + j]! * x[o + j]!;
      const c = (rs * rs * dot) / cols;
      for (let j = 0; j < cols; j++) dx[o + j] = dx[o + j]! + scale * rs * (dy[o + j]! - x[o + j]! * c);
    }
  }

  // ---------------------------------------------------------------- softmax

  softmaxRows(p: SoftmaxParams): void {
    v.validateSoftmax(p);
    const { rows, cols, s, lds, p: out, ldp, lse } = p;
    const sOff = p.sOffset ?? 0;
    const pOff = p.pOffset ?? 0;
    const lOff = p.lseOffset ?? 0;
    for (let r = 0; r < rows; r++) {
      const so = sOff + r * lds;
      const po = pOff + r * ldp;
      lse[lOff + r] = logSumExp(s, so, cols);
      const l = lse[lOff + r]!; // re-read: stored precision, as torch
      for (let j = 0; j < cols; j++) out[po + j] = l === -Infinity ? 0 : Math.exp(s[so + j]! - l);
    }
  }

  softmaxRowsBackward(p: SoftmaxBackwardParams): void {
    v.validateSoftmaxBackward(p);
    const { rows, cols, p: prob, ldp, dp, lddp, ds, ldds, dlse } = p;
    const pOff = p.pOffset ?? 0;
    const dpOff = p.dpOffset ?? 0;
    const dsOff = p.dsOffset ?? 0;
    const dlOff = p.dlseOffset ?? 0;
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += prob[pOff + r * ldp + j]! * dp[dpOff + r * lddp + j]!;
      const g = dlse ? dlse[dlOff + r]! : 0;
      for (let j = 0; j < cols; j++) {
        const pj = prob[pOff + r * ldp + j]!;
        const k = dsOff + r * ldds + j;
        ds[k] = ds[k]! + pj * (dp[dpOff + r * lddp + j]! - dot + g);
      }
    }
  }

  // ---------------------------------------------------------------- LSH hashing and sorting

  lshHash(p: LshHashParams): void {
    v.validateLshHash(p);
    const { x, ldx, rows, dHead, rotations, numHashes, factors, buckets } = p;
    const xOff = p.xOffset ?? 0;
    const rOff = p.rotationsOffset ?? 0;
    const bOff = p.bucketsOffset ?? 0;
    const half = factors.reduce((a, f) => a + f / 2, 0); // rotation_size / 2
    const width = numHashes * half; // columns of rotations viewed as [dHead, numHashes·half]
    const rotated = new Float64Array(half);
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < numHashes; h++) {
        // rotated = x_t · R[:, h, :]
        for (let c = 0; c < half; c++) {
          let acc = 0;
          for (let i = 0; i < dHead; i++) acc += x[xOff + t * ldx + i]! * rotations[rOff + i * width + h * half + c]!;
          rotated[c] = acc;
        }
        // bucket = b1 + f1·b2 + f1·f2·b3 + …, b_k = argmax([s_k, −s_k]) of slice k
        let bucket = 0;
        let radix = 1;
        let start = 0;
        for (const f of factors) {
          const fh = f / 2;
          let best = 0;
          let bestValue = -Infinity;
          for (let idx = 0; idx < f; idx++) {
            const value = idx < fh ? rotated[start + idx]! : -rotated[start + idx - fh]!;
            if (value > bestValue) {
              bestValue = value;
              best = idx;
            }
          }
          bucket += radix * best;
          radix *= f;
          start += fh;
        }
        buckets[bOff + h * rows + t] = bucket;
      }
    }
  }

  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
    v.validateArgsort(perm, keys, n, numKeys);
    // Stable counting sort: count, exclusive prefix sum, place in index order.
    const start = new Int32Array(numKeys + 1);
    for (let i = 0; i < n; i++) start[keys[i]! + 1]!++;
    for (let key = 0; key < numKeys; key++) start[key + 1]! += start[key]!;
    for (let i = 0; i < n; i++) perm[start[keys[i]!]!++] = i;
  }

  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
    v.validatePermutation('invertPermutation', perm, n);
    v.checkVec('invertPermutation', 'inv', inv, n);
    for (let i = 0; i < n; i++) inv[perm[i]!] = i;
  }

  gatherRows(p: RowsParams): void {
    v.validateRows('gatherRows', p, rowsAddressable(p.src, p.srcOffset ?? 0, p.ldSrc, p.cols), 'src');
    const idxOff = p.indexOffset ?? 0;
    for (let i = 0; i < p.rows; i++) {
      const so = (p.srcOffset ?? 0) + p.index[idxOff + i]! * p.ldSrc;
      const dOff = (p.dstOffset ?? 0) + i * p.ldDst;
      for (let j = 0; j < p.cols; j++) p.dst[dOff + j] = p.src[so + j]!;
    }
  }

  scatterRows(p: RowsParams): void {
    v.validateRows('scatterRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
    scatterLoop(p, false);
  }

  scatterAddRows(p: RowsParams): void {
    v.validateRows('scatterAddRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
    scatterLoop(p, true);
  }

  // ---------------------------------------------------------------- attention

  chunkAttentionForward(p: ChunkAttentionForwardParams): void {
    v.validateChunkForward(p);
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

  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void {
    v.validateChunkBackward(p);
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
          // ds_w = p_w (dp_w − Σ p·dp + dlse); replaced (masked) scores carry no gradient
          if (!g.scoreIsLive[w]) continue;
          const ds = pw * (dprob[w]! - dot + gLse);
          const ko = g.kOff + row * g.ldk;
          for (let dd = 0; dd < p.d; dd++) {
            p.dq[qo + dd] = p.dq[qo + dd]! + ds * p.k[ko + dd]!;
            p.dk[ko + dd] = p.dk[ko + dd]! + ds * p.q[qo + dd]!;
          }
        }
      }
    }
  }

  lshRoundCombine(p: LshRoundCombineParams): void {
    v.validateLshRoundCombine(p);
    const { d, pos, roundOut, roundLse, acc, stats } = p;
    const posOff = p.posOffset ?? 0;
    const outOff = p.roundOutOffset ?? 0;
    const ldOut = p.ldRoundOut ?? d;
    const lseOff = p.roundLseOffset ?? 0;
    const accOff = p.accOffset ?? 0;
    const ldAcc = p.ldAcc ?? d;
    const statsOff = p.statsOffset ?? 0;
    for (let k = 0; k < p.rows; k++) {
      const t = pos[posOff + k]!;
      const z = roundLse[lseOff + k]!;
      const a = accOff + t * ldAcc;
      const o = outOff + k * ldOut;
      const mi = statsOff + 2 * t; // m_t, then s_t (stored at buffer precision, re-read before use)
      // acc_t ← α·acc_t + β·o⁽ʳ⁾_t,  s_t ← α·s_t + β,  m_t ← max(m_t, z)
      let alpha = 0;
      let beta = 1;
      if (p.first) {
        stats[mi] = z;
        stats[mi + 1] = 1;
      } else if (z <= stats[mi]!) {
        alpha = 1;
        beta = Math.exp(z - stats[mi]!);
        stats[mi + 1] = stats[mi + 1]! + beta;
      } else {
        alpha = Math.exp(stats[mi]! - z);
        stats[mi + 1] = stats[mi + 1]! * alpha + 1;
        stats[mi] = z;
      }
      if (p.last) {
        // o_t = acc_t · exp(m_t − Z_t), Z_t = m_t + log s_t stored at buffer precision first (HF fp32 logsumexp)
        const m = stats[mi]!;
        const zt = m + Math.log(stats[mi + 1]!);
        const scale = Math.exp(m - (this.dtype === 'f32' ? Math.fround(zt) : zt));
        alpha *= scale;
        beta *= scale;
      }
      if (alpha === 0) {
        for (let j = 0; j < d; j++) acc[a + j] = beta * roundOut[o + j]!;
      } else {
        for (let j = 0; j < d; j++) acc[a + j] = alpha * acc[a + j]! + beta * roundOut[o + j]!;
      }
    }
  }

  // ---------------------------------------------------------------- optimiser

  adamw(p: AdamWParams): void {
    v.validateAdamW(p);
    const { n, param, grad, m, v: vv, lr, beta1, beta2, eps, weightDecay, step } = p;
    // torch.optim.AdamW: p ← p·(1 − lr·wd); p ← p − (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps)
    const bc1 = 1 - beta1 ** step;
    const bc2 = 1 - beta2 ** step;
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      vv[i] = beta2 * vv[i]! + (1 - beta2) * g * g;
      const denom = Math.sqrt(vv[i]!) / Math.sqrt(bc2) + eps;
      param[i] = param[i]! * (1 - lr * weightDecay) - (lr / bc1) * (m[i]! / denom);
    }
  }
}

// ------------------------------------------------------------------ helpers

/** Plain triple loop with float64 accumulation; strides and transposes as documented in GemmParams. */
function gemmLoop(p: GemmParams, aOff: number, bOff: number, cOff: number): void {
  const { m, n, k, a, lda, b, ldb, c, ldc } = p;
  // element (i, l) of A and (l, j) of B, whatever their storage
  const aRow = p.transA ? 1 : lda;
  const aCol = p.transA ? lda : 1;
  const bRow = p.transB ? 1 : ldb;
  const bCol = p.transB ? ldb : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) acc += a[aOff + i * aRow + l * aCol]! * b[bOff + l * bRow + j * bCol]!;
      const idx = cOff + i * ldc + j;
      c[idx] = p.accumulate ? c[idx]! + acc : acc;
    }
  }
}

/** log Σ_j exp(x[off + j]) with the max seeded at −Infinity; an all −Infinity row gives −Infinity. */
export function logSumExp(x: ArrayLike<number>, off: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (x[off + j]! > max) max = x[off + j]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(x[off + j]! - max);
  return max + Math.log(sum);
}

/** How many whole rows of `cols` elements with stride `ld` fit in `arr` after `offset`. */
function rowsAddressable(arr: Float, offset: number, ld: number, cols: number): number {
  if (cols === 0) return 2 ** 31 - 1;
  const avail = arr.length - offset - cols;
  if (avail < 0) return 0;
  return ld === 0 ? 1 : Math.floor(avail / ld) + 1;
}

function scatterLoop(p: RowsParams, accumulate: boolean): void {
  const idxOff = p.indexOffset ?? 0;
  for (let i = 0; i < p.rows; i++) {
    const dOff = (p.dstOffset ?? 0) + p.index[idxOff + i]! * p.ldDst;
    const so = (p.srcOffset ?? 0) + i * p.ldSrc;
    for (let j = 0; j < p.cols; j++) p.dst[dOff + j] = accumulate ? p.dst[dOff + j]! + p.src[so + j]! : p.src[so + j]!;
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
  if (p.dropout && p.dropout.prob > 0) attentionDropoutRow(keep, keep.length, p.dropout.prob, p.dropout.seed, i);
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
      const round = Math.floor(i / L);
      if (Math.floor(j / L) !== round || paper.buckets[round * L + qPos] !== paper.buckets[round * L + kPos]) {
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
