/**
 * Cached incremental decoding of one local-attention layer: HF `LocalSelfAttention` with
 * `past_buckets_states` (test/fixtures/hf-reformer/README.md, "Cached incremental decoding", local
 * layer). The new token at position T is the only query; its keys are the cached positions HF's
 * `_retrieve_relevant_hidden_states` keeps, then the token itself:
 *
 *   s = (⌊T/c⌋ − before)·c;   keys = positions s … T−1 (s ≥ 0), or the last min(T, −s) (s < 0, Python's
 *   negative slice), then T.   Scores q·k/√d, no mask at all, softmax, p·V.
 *
 * For T ≥ before·c these are exactly the keys of the causal non-cached local attention of the last
 * position, so local-only cached decoding reproduces full forwards up to rounding.
 *
 * Only what the next query can see is kept: a ring of (before + 1)·c positions of the scaled keys
 * k/√d and the values (plain typed arrays of the backend's precision). The number of keys of a query
 * is at most before·c + c − 1 < the ring, so the ring never overwrites a key still in use.
 */
import type { Float } from '../backend/backend.js';

/** The geometry of one local layer's cached step. */
export interface LocalDecodeGeometry {
  readonly heads: number;
  readonly headSize: number;
  /** c = `local_attn_chunk_length`. */
  readonly chunkLength: number;
  /** `local_num_chunks_before` (`num_chunks_after` is not used by HF's cached path). */
  readonly numChunksBefore: number;
}

/** How many cached positions (the most recent ones) the query at position T attends to, besides itself. */
export function localStepKeys(T: number, g: LocalDecodeGeometry): number {
  const c = g.chunkLength;
  const s = (Math.floor(T / c) - g.numChunksBefore) * c;
  return s >= 0 ? T - s : Math.min(T, -s);
}

/** The per-layer local cache (a ring of scaled keys and values) and its one-token step. Batch 1. */
export class LocalDecodeCache {
  readonly geometry: LocalDecodeGeometry;
  readonly f64: boolean;
  /** Positions seen (T). */
  length = 0;
  /** Ring rows: (before + 1)·chunk. */
  readonly ring: number;
  /** `[ring, heads·headSize]` k/√d of position t at row t mod ring. */
  readonly k: Float;
  /** `[ring, heads·headSize]` values. */
  readonly v: Float;
  /** Per-step scratch (reused). */
  private readonly scratch: { s: Float64Array; acc: Float64Array };

  constructor(geometry: LocalDecodeGeometry, f64: boolean) {
    this.geometry = geometry;
    this.f64 = f64;
    this.ring = (geometry.numChunksBefore + 1) * geometry.chunkLength;
    const n = this.ring * geometry.heads * geometry.headSize;
    this.k = f64 ? new Float64Array(n) : new Float32Array(n);
    this.v = f64 ? new Float64Array(n) : new Float32Array(n);
    this.scratch = { s: new Float64Array(this.ring + 1), acc: new Float64Array(geometry.headSize) };
  }

  /** Bytes of the ring. */
  get bytes(): number {
    return 2 * this.k.length * (this.f64 ? 8 : 4);
  }

  reset(): void {
    this.length = 0;
  }

  /** The first row of the last `ring` positions of a prompt of `P` tokens (rows before it are never needed). */
  firstKeptRow(P: number): number {
    return Math.max(0, P - this.ring);
  }

  /**
   * Stores prompt rows `[rows, heads·headSize]` of scaled keys and values for positions
   * `first … first + rows − 1`, then sets the length to `first + rows`.
   */
  putRows(k: Float, v: Float, first: number, rows: number): void {
    const all = this.geometry.heads * this.geometry.headSize;
    for (let i = 0; i < rows; i++) {
      const slot = (first + i) % this.ring;
      this.k.set(k.subarray(i * all, (i + 1) * all), slot * all);
      this.v.set(v.subarray(i * all, (i + 1) * all), slot * all);
    }
    this.length = first + rows;
  }

  /**
   * One cached step: the new token's q, k/√d, v (`[heads·headSize]` at the offsets) attend to the
   * cached keys (`localStepKeys`) and itself; writes o `[heads·headSize]` to `out[outOffset …]` and
   * appends the token.
   */
  step(q: Float, qOffset: number, kNew: Float, kOffset: number, vNew: Float, vOffset: number, out: Float, outOffset: number): void {
    const { heads: H, headSize: d } = this.geometry;
    const all = H * d;
    const T = this.length;
    const K = localStepKeys(T, this.geometry);
    const { s, acc } = this.scratch;
    const round = this.f64 ? (x: number): number => x : Math.fround;
    const kr = this.k;
    const vr = this.v;
    for (let h = 0; h < H; h++) {
      const qo = qOffset + h * d;
      // keys T−K … T−1 from the ring, then the token itself
      let m = -Infinity;
      for (let i = 0; i < K; i++) {
        const off = ((T - K + i) % this.ring) * all + h * d;
        let x = 0;
        for (let j = 0; j < d; j++) x += q[qo + j]! * kr[off + j]!;
        s[i] = x;
        if (x > m) m = x;
      }
      let self = 0;
      for (let j = 0; j < d; j++) self += q[qo + j]! * kNew[kOffset + h * d + j]!;
      s[K] = self;
      if (self > m) m = self;
      let sum = 0;
      for (let i = 0; i <= K; i++) sum += Math.exp(s[i]! - m);
      const lse = round(m + Math.log(sum));
      acc.fill(0, 0, d);
      for (let i = 0; i < K; i++) {
        const p = Math.exp(s[i]! - lse);
        const off = ((T - K + i) % this.ring) * all + h * d;
        for (let j = 0; j < d; j++) acc[j]! += p * vr[off + j]!;
      }
      const p = Math.exp(self - lse);
      for (let j = 0; j < d; j++) out[outOffset + h * d + j] = acc[j]! + p * vNew[vOffset + h * d + j]!;
    }
    const slot = (T % this.ring) * all;
    for (let j = 0; j < all; j++) {
      this.k[slot + j] = kNew[kOffset + j]!;
      this.v[slot + j] = vNew[vOffset + j]!;
    }
    this.length = T + 1;
  }
}
