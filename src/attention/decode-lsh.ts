/**
 * Cached incremental decoding of one LSH layer: HF `LSHSelfAttention` with `past_buckets_states`
 * (test/fixtures/hf-reformer/README.md, "Cached incremental decoding"). A new token at position T is
 * the only query; the cache supplies the keys and values of positions 0 … T−1.
 *
 * What is cached, per layer (plain typed arrays of the backend's precision, not backend buffers: the
 * cache outlives every `be.scope` of the steps and is freed by the garbage collector):
 *   k̂_t = qk_t / rms(qk_t) / √d and v_t for every position          [T, heads·headSize] each
 *   the offset buckets b⁽ⁿ⁾_t of every position (round offsets included)  [heads·rounds, T]
 *   per (head, round) the positions sorted by (bucket, position)     [heads·rounds, T]
 * HF keeps the LayerNorm output h_t instead and re-projects the window's rows at every step; caching
 * k̂ and v gives the same numbers without the projections.
 *
 * One step (per head h and round n), exactly HF's rule:
 *   1. the query q = W_qk·h_T (raw) is hashed with the layer's rotations; its round offset is n·N_eff,
 *      N_eff = N + 1 if the largest cached bucket (whole cache) exceeds R·N − 1, else N (HF's guess of
 *      the padding bucket; it can miss, see the README);
 *   2. the T+1 pairs (bucket, position) of the round, the query's last, sort by (bucket, position);
 *      with k the query's slot, the window is the slots (⌊k/c⌋ − before)·c + i, i < c·(1+before+after),
 *      each taken modulo T+1 (positions repeat when T+1 is shorter than the window);
 *   3. scores q·k̂ with the self-mask only (position T gets −1e5), log-sum-exp z⁽ⁿ⁾, o⁽ⁿ⁾ = softmax·V;
 *   4. rounds combine with w_n = exp(z⁽ⁿ⁾ − logsumexp_n z⁽ⁿ⁾) (paper Eq. 12, as in the forward).
 * Because every cached position is smaller than T, the query's slot is the number of cached entries
 * whose bucket is ≤ its own (a binary search), and appending it is one insertion into the sorted list.
 *
 * Short prompts (HF: the layer did not hash because the prompt was not longer than the chunk): until
 * some step has T+1 ≥ chunk length, a step attends to every cached position and itself (self-mask
 * only), and the raw qk rows are kept; at that step all T+1 rows are hashed (no padding bucket,
 * offsets n·N) and the cached path takes over (`setBuckets`).
 *
 * Where HF differs from a non-cached forward by design (the per-round window modulo T+1, the N_eff
 * guess, no causal mask), this follows HF; see README "How close is cached to non-cached?".
 */
import type { Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { SELF_MASK_VALUE } from './config.js';

/** The geometry of one LSH layer's cached step (HF config fields of the layer). */
export interface LshDecodeGeometry {
  readonly heads: number;
  readonly headSize: number;
  /** R = `num_hashes`. */
  readonly numHashes: number;
  /** c = `lsh_attn_chunk_length`. */
  readonly chunkLength: number;
  readonly numChunksBefore: number;
  readonly numChunksAfter: number;
}

/** Entries of one round's window: c·(1 + before + after) (HF `lsh_window_length` of the fixtures). */
export function lshWindowLength(g: LshDecodeGeometry): number {
  return g.chunkLength * (1 + g.numChunksBefore + g.numChunksAfter);
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

/** A float array of the backend's precision (f32 unless `f64`). */
function floatArray(n: number, f64: boolean): Float {
  return f64 ? new Float64Array(n) : new Float32Array(n);
}

/**
 * The window of a new query (README step 4): `sorted` holds the T cached positions of one (head,
 * round) ordered by (bucket, position), `bucketOf(t)` their buckets; the query has position T and
 * bucket `qb`. Writes the W original positions of the window (in window order) to `out[outOffset …]`
 * and returns the query's slot k.
 */
export function lshStepWindow(
  sorted: Int32Array,
  sortedOffset: number,
  buckets: Int32Array,
  bucketsOffset: number,
  T: number,
  qb: number,
  g: LshDecodeGeometry,
  out: Int32Array,
  outOffset: number,
): number {
  // k = #cached entries with bucket ≤ qb (equal buckets sort by position, and every cached position is < T)
  let lo = 0;
  let hi = T;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (buckets[bucketsOffset + sorted[sortedOffset + mid]!]! <= qb) lo = mid + 1;
    else hi = mid;
  }
  const k = lo;
  const c = g.chunkLength;
  const W = lshWindowLength(g);
  const start = (Math.floor(k / c) - g.numChunksBefore) * c;
  const n = T + 1;
  for (let i = 0; i < W; i++) {
    const s = mod(start + i, n);
    out[outOffset + i] = s < k ? sorted[sortedOffset + s]! : s === k ? T : sorted[sortedOffset + s - 1]!;
  }
  return k;
}

/** The per-layer LSH cache and its one-token step (see the file header). Batch 1. */
export class LshDecodeCache {
  readonly geometry: LshDecodeGeometry;
  /** Float64 arithmetic buffers (f64 backend) or float32 storage with fp32-rounded log-sum-exps (HF fp32). */
  readonly f64: boolean;
  /** Positions cached (T). */
  length = 0;
  /** Rows allocated (grows by doubling up to `maxLength`). */
  capacity: number;
  readonly maxLength: number;
  /** `[capacity, heads·headSize]` normalised keys k̂. */
  khat: Float;
  /** `[capacity, heads·headSize]` values. */
  v: Float;
  /** `[heads·rounds, capacity]` offset buckets (row h·R + n), or null until the layer has hashed. */
  buckets: Int32Array | null = null;
  /** `[heads·rounds, capacity]` cached positions sorted by (bucket, position), or null until hashed. */
  order: Int32Array | null = null;
  /** Largest cached bucket over the whole cache (HF's padding-bucket guess), −1 when none. */
  maxBucket = -1;
  /** `[chunkLength + 1, heads·headSize]` raw qk rows kept while the layer has not hashed (short prompt). */
  rawQk: Float | null = null;
  /** Per-step scratch (reused: a step allocates nothing). */
  private readonly scratch: {
    pos: Int32Array;
    s: Float64Array;
    lse: Float64Array;
    o: Float64Array;
    slots: Int32Array;
  };

  constructor(geometry: LshDecodeGeometry, options: { maxLength: number; capacity: number; f64: boolean }) {
    this.geometry = geometry;
    this.f64 = options.f64;
    this.maxLength = options.maxLength;
    this.capacity = Math.max(1, Math.min(options.capacity, options.maxLength));
    const all = geometry.heads * geometry.headSize;
    this.khat = floatArray(this.capacity * all, this.f64);
    this.v = floatArray(this.capacity * all, this.f64);
    const W = lshWindowLength(geometry);
    this.scratch = {
      pos: new Int32Array(W),
      s: new Float64Array(Math.max(W, geometry.chunkLength + 2)),
      lse: new Float64Array(geometry.numHashes),
      o: new Float64Array(geometry.numHashes * geometry.headSize),
      slots: new Int32Array(geometry.numHashes),
    };
  }

  /** True once the layer has hashed (the cached LSH path; before that, full attention over the cache). */
  get hashed(): boolean {
    return this.buckets !== null;
  }

  /** Bytes this cache takes at `capacity` rows (for the memory report). */
  get bytes(): number {
    const g = this.geometry;
    const fb = this.f64 ? 8 : 4;
    const all = g.heads * g.headSize;
    const hr = g.heads * g.numHashes;
    return 2 * this.capacity * all * fb + (this.buckets ? 2 * hr * this.capacity * 4 : 0) + (this.rawQk ? this.rawQk.length * fb : 0);
  }

  /** Forgets every position (a new prompt). Keeps the allocation. */
  reset(): void {
    this.length = 0;
    this.buckets = null;
    this.order = null;
    this.maxBucket = -1;
    this.rawQk = null;
  }

  /** The capacity `reserve(n)` leaves: the current one, doubled until it holds n, at most `maxLength`. */
  nextCapacity(n: number): number {
    let cap = this.capacity;
    while (cap < n) cap *= 2;
    return Math.min(cap, this.maxLength);
  }

  /** Makes room for `n` positions (doubling, at most `maxLength`). @throws ShapeError beyond `maxLength`. */
  reserve(n: number): void {
    if (n > this.maxLength) {
      throw new ShapeError(`LSH decode cache: ${n} positions exceed its maximum of ${this.maxLength}; start again from a shorter prompt`);
    }
    if (n <= this.capacity) return;
    const cap = this.nextCapacity(n);
    const all = this.geometry.heads * this.geometry.headSize;
    const grow = (a: Float): Float => {
      const b = floatArray(cap * all, this.f64);
      b.set(a.subarray(0, this.length * all));
      return b;
    };
    this.khat = grow(this.khat);
    this.v = grow(this.v);
    if (this.buckets && this.order) {
      const hr = this.geometry.heads * this.geometry.numHashes;
      const nb = new Int32Array(hr * cap);
      const no = new Int32Array(hr * cap);
      for (let i = 0; i < hr; i++) {
        nb.set(this.buckets.subarray(i * this.capacity, i * this.capacity + this.length), i * cap);
        no.set(this.order.subarray(i * this.capacity, i * this.capacity + this.length), i * cap);
      }
      this.buckets = nb;
      this.order = no;
    }
    this.capacity = cap;
  }

  /**
   * Appends prompt rows: `khat`, `v` `[rows, heads·headSize]` (rows start at `offset` in both),
   * and, while the layer has not hashed, the raw `qk` rows too.
   */
  appendRows(khat: Float, v: Float, qk: Float | null, rows: number): void {
    const all = this.geometry.heads * this.geometry.headSize;
    this.reserve(this.length + rows);
    this.khat.set(khat.subarray(0, rows * all), this.length * all);
    this.v.set(v.subarray(0, rows * all), this.length * all);
    if (qk) {
      const c = this.geometry.chunkLength;
      if (this.length + rows > c + 1) throw new ShapeError(`LSH decode cache: raw qk rows are kept for at most ${c + 1} positions`);
      this.rawQk ??= floatArray((c + 1) * all, this.f64);
      this.rawQk.set(qk.subarray(0, rows * all), this.length * all);
    }
    this.length += rows;
  }

  /**
   * Sets the offset buckets of every cached position from `[heads, rounds, stride]` (`stride ≥ length`,
   * columns 0 … length−1 are used: HF caches the first P columns of the padded prompt) and builds the
   * sorted lists. Drops the raw qk rows.
   */
  setBuckets(buckets: ArrayLike<number>, stride: number): void {
    const { heads: H, numHashes: R } = this.geometry;
    const T = this.length;
    const cap = this.capacity;
    const hr = H * R;
    const b = new Int32Array(hr * cap);
    const order = new Int32Array(hr * cap);
    let max = -1;
    for (let i = 0; i < hr; i++) {
      for (let t = 0; t < T; t++) {
        const x = buckets[i * stride + t]!;
        b[i * cap + t] = x;
        if (x > max) max = x;
      }
      // stable sort of 0 … T−1 by bucket (ties keep position order, as HF's stable argsort)
      const idx = Array.from({ length: T }, (_, t) => t);
      const base = i * cap;
      idx.sort((p, q) => b[base + p]! - b[base + q]! || p - q);
      for (let t = 0; t < T; t++) order[base + t] = idx[t]!;
    }
    this.buckets = b;
    this.order = order;
    this.maxBucket = max;
    this.rawQk = null;
  }

  /** N_eff of the next query's round offsets: N + 1 if the cache holds a bucket above R·N − 1 (HF's guess). */
  queryBucketsPerRound(numBucketsPerRound: number): number {
    return this.maxBucket > this.geometry.numHashes * numBucketsPerRound - 1 ? numBucketsPerRound + 1 : numBucketsPerRound;
  }

  /**
   * One cached step: the new token's raw `q` and normalised key `khatNew` and value `vNew`
   * (`[heads·headSize]` at the given offsets) attend to the cache; writes o `[heads·headSize]` to
   * `out[outOffset …]` and appends the token (with `queryBuckets` `[heads, rounds]`, offsets included,
   * when the layer has hashed; null before). `windows`, if given, receives the window positions
   * `[heads, rounds, W]` (HF `cap:step.layers.<i>.window_positions`; hashed layers only).
   */
  step(
    q: Float,
    qOffset: number,
    khatNew: Float,
    khatOffset: number,
    vNew: Float,
    vOffset: number,
    queryBuckets: Int32Array | null,
    out: Float,
    outOffset: number,
    windows: Int32Array | null = null,
  ): void {
    const g = this.geometry;
    const { heads: H, headSize: d, numHashes: R } = g;
    const all = H * d;
    const T = this.length;
    if ((queryBuckets === null) === this.hashed) {
      throw new ShapeError(
        this.hashed
          ? 'LSH decode step: the layer has hashed, the query needs its buckets'
          : 'LSH decode step: no buckets before the layer hashes',
      );
    }
    this.reserve(T + 1);
    // the new token's key and value join the cache first (it is in its own window, self-masked)
    for (let j = 0; j < all; j++) {
      this.khat[T * all + j] = khatNew[khatOffset + j]!;
      this.v[T * all + j] = vNew[vOffset + j]!;
    }
    const round = this.f64 ? (x: number): number => x : Math.fround;
    const kh = this.khat;
    const vv = this.v;
    if (!this.hashed) {
      // short prompt: attention over every cached position and the token itself (self-mask only)
      if (this.rawQk && T < g.chunkLength + 1) for (let j = 0; j < all; j++) this.rawQk[T * all + j] = q[qOffset + j]!;
      else if (!this.rawQk) throw new ShapeError('LSH decode step: no raw qk rows kept before hashing');
      const s = this.scratch.s;
      const acc = this.scratch.o;
      for (let h = 0; h < H; h++) {
        const qo = qOffset + h * d;
        let m = -Infinity;
        for (let t = 0; t <= T; t++) {
          let x = SELF_MASK_VALUE;
          if (t !== T) {
            x = 0;
            const ko = t * all + h * d;
            for (let j = 0; j < d; j++) x += q[qo + j]! * kh[ko + j]!;
          }
          s[t] = x;
          if (x > m) m = x;
        }
        let sum = 0;
        for (let t = 0; t <= T; t++) sum += Math.exp(s[t]! - m);
        const lse = round(m + Math.log(sum));
        const oo = outOffset + h * d;
        acc.fill(0, 0, d);
        for (let t = 0; t <= T; t++) {
          const p = Math.exp(s[t]! - lse);
          const vo = t * all + h * d;
          for (let j = 0; j < d; j++) acc[j]! += p * vv[vo + j]!;
        }
        for (let j = 0; j < d; j++) out[oo + j] = acc[j]!;
      }
      this.length = T + 1;
      return;
    }
    const W = lshWindowLength(g);
    const cap = this.capacity;
    const buckets = this.buckets!;
    const order = this.order!;
    const { pos, s, lse, o, slots } = this.scratch;
    for (let h = 0; h < H; h++) {
      const qo = qOffset + h * d;
      for (let r = 0; r < R; r++) {
        const hr = h * R + r;
        const qb = queryBuckets![hr]!;
        slots[r] = lshStepWindow(order, hr * cap, buckets, hr * cap, T, qb, g, pos, 0);
        if (windows) windows.set(pos, hr * W);
        let m = -Infinity;
        for (let i = 0; i < W; i++) {
          const t = pos[i]!;
          let x = SELF_MASK_VALUE;
          if (t !== T) {
            x = 0;
            const ko = t * all + h * d;
            for (let j = 0; j < d; j++) x += q[qo + j]! * kh[ko + j]!;
          }
          s[i] = x;
          if (x > m) m = x;
        }
        let sum = 0;
        for (let i = 0; i < W; i++) sum += Math.exp(s[i]! - m);
        const z = round(m + Math.log(sum));
        lse[r] = z;
        const or = r * d;
        for (let j = 0; j < d; j++) o[or + j] = 0;
        for (let i = 0; i < W; i++) {
          const p = Math.exp(s[i]! - z);
          const vo = pos[i]! * all + h * d;
          for (let j = 0; j < d; j++) o[or + j]! += p * vv[vo + j]!;
        }
      }
      // rounds: w_n = exp(z_n − logsumexp_n z_n)   (paper Eq. 12; HF sums the rounds when R > 1)
      const oo = outOffset + h * d;
      if (R === 1) {
        for (let j = 0; j < d; j++) out[oo + j] = o[j]!;
      } else {
        let m = -Infinity;
        for (let r = 0; r < R; r++) if (lse[r]! > m) m = lse[r]!;
        let sum = 0;
        for (let r = 0; r < R; r++) sum += Math.exp(lse[r]! - m);
        const all_ = round(m + Math.log(sum));
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let r = 0; r < R; r++) acc += Math.exp(lse[r]! - all_) * o[r * d + j]!;
          out[oo + j] = acc;
        }
      }
      // append the token to each round's sorted list at its slot
      for (let r = 0; r < R; r++) {
        const hr = h * R + r;
        const base = hr * cap;
        const k = slots[r]!;
        order.copyWithin(base + k + 1, base + k, base + T);
        order[base + k] = T;
        const qb = queryBuckets![hr]!;
        buckets[base + T] = qb;
        if (qb > this.maxBucket) this.maxBucket = qb;
      }
    }
    this.length = T + 1;
  }

  /** `[heads, rounds, length]` offset buckets of every cached position (HF `past_buckets_states[i][0]`). */
  cachedBuckets(): Int32Array {
    const { heads: H, numHashes: R } = this.geometry;
    const T = this.length;
    const out = new Int32Array(H * R * T);
    if (!this.buckets) return out;
    for (let i = 0; i < H * R; i++) out.set(this.buckets.subarray(i * this.capacity, i * this.capacity + T), i * T);
    return out;
  }
}
