/**
 * A plain float64 implementation of ONE cached decoding step of `ReformerModelWithLMHead`, written from
 * the rules of test/fixtures/hf-reformer/README.md ("Cached incremental decoding") and nothing else of
 * src/ (only the scalar activation definitions). It takes HF's cache as HF keeps it (per layer the
 * attention LayerNorm outputs `states` [T, D] and, for LSH layers, the offset `buckets` [H, R, T] or
 * null) and recomputes every key and value from the states, as HF does.
 */
import type { Activation } from '../../src/backend/backend.js';
import { activationValue } from '../../src/backend/ops/activations/reference.js';
import type { ReformerConfig } from '../../src/config/reformer-config.js';

/** HF's `past_buckets_states[i]` of one layer. */
export interface RefCacheLayer {
  /** [T, D] */
  readonly states: Float64Array;
  /** [H, R, T] with round offsets, or null (local layers; LSH layers that have not hashed yet) */
  readonly buckets: Int32Array | null;
}

export interface RefStepResult {
  readonly logits: Float64Array;
  /** per layer: the token's attention LayerNorm output [D] (appended to `states`) */
  readonly h: Float64Array[];
  /** per layer: the query's offset buckets [H, R], or null where the cached LSH path did not run */
  readonly queryBuckets: Array<Int32Array | null>;
  /** per layer: window positions [H, R, W], or null */
  readonly windows: Array<Int32Array | null>;
  /** per layer: the buckets to cache after the step [H, R, T+1], or null (still not hashed / local) */
  readonly newBuckets: Array<Int32Array | null>;
}

type Get = (name: string) => ArrayLike<number>;

/** y = W·x, W [out, in] row-major (HF nn.Linear without bias). */
function matvec(w: ArrayLike<number>, x: ArrayLike<number>, out: number, inn: number, bias?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0;
    for (let i = 0; i < inn; i++) s += w[o * inn + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function layerNorm(x: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) ** 2;
  v /= n;
  const r = 1 / Math.sqrt(v + eps);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = (x[i]! - mean) * r * g[i]! + b[i]!;
  return y;
}

/** softmax-weighted sum: o = Σ softmax(s)_i · vals[i]; returns o and logsumexp(s). */
function attend(s: number[], vals: Float64Array[], d: number): { o: Float64Array; lse: number } {
  const m = Math.max(...s);
  let z = 0;
  for (const x of s) z += Math.exp(x - m);
  const lse = m + Math.log(z);
  const o = new Float64Array(d);
  s.forEach((x, i) => {
    const p = Math.exp(x - lse);
    for (let j = 0; j < d; j++) o[j]! += p * vals[i]![j]!;
  });
  return { o, lse };
}

/** Raw bucket of vector q (length d) for head h, round n: argmax([s, −s]) per factor, b1 + f1·b2 + … */
function hash(rot: ArrayLike<number>, q: ArrayLike<number>, h: number, n: number, d: number, R: number, factors: number[]): number {
  const half = factors.reduce((a, f) => a + f / 2, 0);
  const s: number[] = [];
  for (let k = 0; k < half; k++) {
    let acc = 0;
    for (let i = 0; i < d; i++) acc += rot[((h * d + i) * R + n) * half + k]! * q[i]!;
    s.push(acc);
  }
  let bucket = 0;
  let radix = 1;
  let start = 0;
  for (const f of factors) {
    const slice = s.slice(start, start + f / 2);
    const both = [...slice, ...slice.map((x) => -x)];
    let best = 0;
    for (let i = 1; i < both.length; i++) if (both[i]! > both[best]!) best = i;
    bucket += radix * best;
    radix *= f;
    start += f / 2;
  }
  return bucket;
}

/** k̂ = x / sqrt(mean(x²) + 1e-6) / √d (HF `_len_and_dim_norm`). */
function keyNorm(x: ArrayLike<number>, d: number): Float64Array {
  let ms = 0;
  for (let i = 0; i < d; i++) ms += x[i]! ** 2;
  ms /= d;
  const r = 1 / Math.sqrt(ms + 1e-6) / Math.sqrt(d);
  return Float64Array.from({ length: d }, (_, i) => x[i]! * r);
}

/**
 * One cached step of token `id` at position T = states.length / D (see the file header).
 * @param rotations per layer `[H, d, R, r/2]` (LSH layers; the draw that hashes the query and, for a
 *   short prompt, the whole cache)
 * @param numBuckets the layer's resolved `num_buckets` (LSH layers)
 */
export function referenceStep(
  cfg: ReformerConfig,
  get: Get,
  cache: readonly RefCacheLayer[],
  id: number,
  rotations: ReadonlyArray<ArrayLike<number> | null>,
  numBuckets: number | readonly number[] | null,
): RefStepResult {
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const d = cfg.attention_head_size;
  const all = H * d;
  const R = cfg.num_hashes;
  const T = cache[0]!.states.length / D;
  const pre = 'reformer.';
  // ---- embedding at position T
  const emb = new Float64Array(D);
  const we = get(`${pre}embeddings.word_embeddings.weight`);
  if (cfg.axial_pos_embds) {
    const [, n1] = cfg.axial_pos_shape as [number, number];
    const [d0, d1] = cfg.axial_pos_embds_dim as [number, number];
    const w0 = get(`${pre}embeddings.position_embeddings.weights.0`);
    const w1 = get(`${pre}embeddings.position_embeddings.weights.1`);
    for (let j = 0; j < d0; j++) emb[j] = w0[Math.floor(T / n1) * d0 + j]!;
    for (let j = 0; j < d1; j++) emb[d0 + j] = w1[(T % n1) * d1 + j]!;
  } else {
    const pe = get(`${pre}embeddings.position_embeddings.embedding.weight`);
    for (let j = 0; j < D; j++) emb[j] = pe[T * D + j]!;
  }
  for (let j = 0; j < D; j++) emb[j]! += we[id * D + j]!;
  const x1 = Float64Array.from(emb);
  const x2 = Float64Array.from(emb);
  const res: RefStepResult = { logits: new Float64Array(0), h: [], queryBuckets: [], windows: [], newBuckets: [] };
  cfg.attn_layers.forEach((type, l) => {
    const p = `${pre}encoder.layers.${l}.`;
    const a = (n: string): ArrayLike<number> => get(`${p}attention.${n}`);
    const h = layerNorm(x2, a('layer_norm.weight'), a('layer_norm.bias'), cfg.layer_norm_eps);
    res.h.push(h);
    const st = cache[l]!.states;
    const row = (t: number): Float64Array => (t === T ? h : st.subarray(t * D, (t + 1) * D));
    const o = new Float64Array(all);
    let qb: Int32Array | null = null;
    let win: Int32Array | null = null;
    let nb: Int32Array | null = null;
    if (type === 'local') {
      const c = cfg.local_attn_chunk_length;
      const s = (Math.floor(T / c) - cfg.local_num_chunks_before) * c;
      // Python states[s:] (a negative s keeps the last |s|), then the token itself
      const from = s >= 0 ? s : Math.max(0, T + s);
      const keys = [...Array.from({ length: T - from }, (_, i) => from + i), T];
      const q = matvec(a('self_attention.query.weight'), h, all, D);
      const K = keys.map((t) => matvec(a('self_attention.key.weight'), row(t), all, D).map((x) => x / Math.sqrt(d)));
      const Vv = keys.map((t) => matvec(a('self_attention.value.weight'), row(t), all, D));
      for (let hh = 0; hh < H; hh++) {
        const sc = K.map((k) => {
          let x = 0;
          for (let j = 0; j < d; j++) x += q[hh * d + j]! * k[hh * d + j]!;
          return x; // no mask at all
        });
        const { o: oh } = attend(
          sc,
          Vv.map((v) => v.subarray(hh * d, (hh + 1) * d)),
          d,
        );
        o.set(oh, hh * d);
      }
    } else {
      const wqk = a('self_attention.query_key.weight');
      const wv = a('self_attention.value.weight');
      const c = cfg.lsh_attn_chunk_length;
      const q = matvec(wqk, h, all, D);
      const qkOf = (t: number): Float64Array => matvec(wqk, row(t), all, D);
      const vOf = (t: number): Float64Array => matvec(wv, row(t), all, D);
      const factors = numBuckets === null ? [] : typeof numBuckets === 'number' ? [numBuckets] : [...numBuckets];
      const N = factors.reduce((x, f) => x * f, 1);
      const past = cache[l]!.buckets;
      if (past === null) {
        // short prompt: every cached state and the token, self-mask only
        const ts = Array.from({ length: T + 1 }, (_, t) => t);
        const qks = ts.map(qkOf);
        const vs = ts.map(vOf);
        for (let hh = 0; hh < H; hh++) {
          const sc = ts.map((t) => {
            if (t === T) return -1e5;
            const k = keyNorm(qks[t]!.subarray(hh * d, (hh + 1) * d), d);
            let x = 0;
            for (let j = 0; j < d; j++) x += q[hh * d + j]! * k[j]!;
            return x;
          });
          o.set(
            attend(
              sc,
              vs.map((v) => v.subarray(hh * d, (hh + 1) * d)),
              d,
            ).o,
            hh * d,
          );
        }
        if (T + 1 >= c) {
          // hash all T+1 states with one draw, no mask, offsets n·N
          nb = new Int32Array(H * R * (T + 1));
          for (let hh = 0; hh < H; hh++)
            for (let n = 0; n < R; n++)
              for (let t = 0; t <= T; t++)
                nb[(hh * R + n) * (T + 1) + t] = hash(rotations[l]!, qks[t]!.subarray(hh * d, (hh + 1) * d), hh, n, d, R, factors) + n * N;
        }
      } else {
        let maxB = -1;
        for (const x of past) maxB = Math.max(maxB, x);
        const nEff = maxB > R * N - 1 ? N + 1 : N;
        const W = c * (1 + cfg.lsh_num_chunks_before + cfg.lsh_num_chunks_after);
        qb = new Int32Array(H * R);
        win = new Int32Array(H * R * W);
        nb = new Int32Array(H * R * (T + 1));
        const qkCache = new Map<number, Float64Array>();
        const vCache = new Map<number, Float64Array>();
        const memo = (m: Map<number, Float64Array>, f: (t: number) => Float64Array, t: number): Float64Array => {
          if (!m.has(t)) m.set(t, f(t));
          return m.get(t)!;
        };
        const qkAt = (t: number): Float64Array => memo(qkCache, qkOf, t);
        const vAt = (t: number): Float64Array => memo(vCache, vOf, t);
        for (let hh = 0; hh < H; hh++) {
          const outs: Float64Array[] = [];
          const lses: number[] = [];
          for (let n = 0; n < R; n++) {
            const b = hash(rotations[l]!, q.subarray(hh * d, (hh + 1) * d), hh, n, d, R, factors) + n * nEff;
            qb[hh * R + n] = b;
            const pairs = Array.from({ length: T + 1 }, (_, t) => [t === T ? b : past[(hh * R + n) * T + t]!, t] as const);
            for (const [bk, t] of pairs) nb[(hh * R + n) * (T + 1) + t] = bk;
            const sorted = [...pairs].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
            const k = sorted.findIndex(([, t]) => t === T);
            const start = (Math.floor(k / c) - cfg.lsh_num_chunks_before) * c;
            const pos: number[] = [];
            for (let i = 0; i < W; i++) pos.push(sorted[(((start + i) % (T + 1)) + T + 1) % (T + 1)]![1]);
            win.set(pos, (hh * R + n) * W);
            const sc = pos.map((t) => {
              if (t === T) return -1e5; // the only mask: the token itself
              const kk = keyNorm(qkAt(t).subarray(hh * d, (hh + 1) * d), d);
              let x = 0;
              for (let j = 0; j < d; j++) x += q[hh * d + j]! * kk[j]!;
              return x;
            });
            const r = attend(
              sc,
              pos.map((t) => vAt(t).subarray(hh * d, (hh + 1) * d)),
              d,
            );
            outs.push(r.o);
            lses.push(r.lse);
          }
          const m = Math.max(...lses);
          const all_ = m + Math.log(lses.reduce((s, z) => s + Math.exp(z - m), 0));
          for (let n = 0; n < R; n++) {
            const w = Math.exp(lses[n]! - all_);
            for (let j = 0; j < d; j++) o[hh * d + j]! += w * outs[n]![j]!;
          }
        }
      }
    }
    res.queryBuckets.push(qb);
    res.windows.push(win);
    res.newBuckets.push(nb);
    // Y1 = X1 + W_o·o;  Y2 = X2 + FF(Y1)
    const att = matvec(a('output.dense.weight'), o, D, all);
    for (let j = 0; j < D; j++) x1[j]! += att[j]!;
    const f = (n: string): ArrayLike<number> => get(`${p}feed_forward.${n}`);
    const ln = layerNorm(x1, f('layer_norm.weight'), f('layer_norm.bias'), cfg.layer_norm_eps);
    const F = cfg.feed_forward_size;
    const hid = matvec(f('dense.dense.weight'), ln, F, D, f('dense.dense.bias')).map((x) =>
      activationValue(cfg.hidden_act as Activation, x),
    );
    const ff = matvec(f('output.dense.weight'), hid, D, F, f('output.dense.bias'));
    for (let j = 0; j < D; j++) x2[j]! += ff[j]!;
  });
  const cat = new Float64Array(2 * D);
  cat.set(x1, 0);
  cat.set(x2, D);
  const out = layerNorm(cat, get(`${pre}encoder.layer_norm.weight`), get(`${pre}encoder.layer_norm.bias`), cfg.layer_norm_eps);
  const logits = matvec(get('lm_head.decoder.weight'), out, cfg.vocab_size, 2 * D, get('lm_head.bias'));
  return { ...res, logits };
}
