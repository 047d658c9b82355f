/**
 * The per-layer work of cached decoding (decode.ts): the rotations a layer hashes with, hashing raw qk
 * rows, the first hashing of a short prompt's cache, and filling a layer's cache during the prompt pass.
 */
import type { Backend, Float } from '../backend/backend.js';
import { KEY_NORM_EPS } from '../attention/config.js';
import type { LocalDecodeCache } from '../attention/decode-local.js';
import type { LshDecodeCache } from '../attention/decode-lsh.js';
import { drawRotations, hashHead, rotationShape } from '../attention/hashing.js';
import { bucketCount, type NumBuckets } from '../config/buckets.js';
import type { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { FeedForwardWeights } from '../nn/feed-forward.js';
import { linearForward } from '../nn/linear.js';
import type { ReformerModelWithLMHead } from './lm-model.js';
import { PROMPT_CAPTURE_BLOCK_ROWS } from './memory/decode.js';

/** What the per-layer functions read of their `DecodeSession`. */
export interface DecodeContext {
  readonly be: Backend;
  readonly cfg: ReformerConfig;
  readonly model: ReformerModelWithLMHead;
  /** Injected rotations per layer (`DecodeOptions.rotations`), else null. */
  readonly injected: ReadonlyArray<Float64Array | null>;
}

/** One layer's weights and cache in a session. */
export interface LayerState {
  readonly kind: 'lsh' | 'local';
  readonly ln: { gamma: Float; beta: Float };
  /** lsh: [W_qk, W_v]; local: [W_q, W_k, W_v] — each [heads·headSize, hidden] */
  readonly proj: Float[];
  readonly wo: Float;
  readonly ff: FeedForwardWeights;
  readonly lsh: LshDecodeCache | null;
  readonly local: LocalDecodeCache | null;
  /** LSH: the rotations `[heads, d, R, half]` that hashed the cache (reused for every query), or null. */
  rotations: Float64Array | null;
  numBuckets: NumBuckets | null;
}

/** Rotations of LSH layer `i` for `numBuckets` as a buffer of the backend: injected, or drawn (hash_seed / the model's generator). */
export function rotationsFor(c: DecodeContext, i: number, numBuckets: NumBuckets): Float {
  const shape = rotationShape(c.cfg.num_attention_heads, c.cfg.attention_head_size, c.cfg.num_hashes, numBuckets);
  const injected = c.injected[i];
  if (injected) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (injected.length !== n) {
      throw new ShapeError(`cached decoding: rotations[${i}] must have [${shape.join(', ')}] = ${n} values, got ${injected.length}`);
    }
    const r = c.be.floats(n);
    r.set(injected);
    return r;
  }
  return drawRotations(c.be, shape, c.cfg.hash_seed ?? null, c.model.reformer.rng);
}

/**
 * Offset buckets of `rows` raw qk rows `[rows, heads·headSize]` with layer l's rotations into
 * `out` `[heads, rounds, rows]` (no mask: a step never has padding), round offset n·nEff.
 */
export function hashRows(c: DecodeContext, l: LayerState, qk: Float, rows: number, nEff: number, out: Int32Array): void {
  const be = c.be;
  const cfg = c.cfg;
  const H = cfg.num_attention_heads;
  const d = cfg.attention_head_size;
  const R = cfg.num_hashes;
  be.scope(() => {
    const rot = be.floats(l.rotations!.length);
    rot.set(l.rotations!);
    const stride = rot.length / H;
    for (let h = 0; h < H; h++) {
      hashHead(be, {
        qk,
        qkOffset: h * d,
        ldqk: H * d,
        seqLen: rows,
        headSize: d,
        numHashes: R,
        numBuckets: l.numBuckets!,
        rotations: rot,
        rotationsOffset: h * stride,
        mask: null,
        maskOffset: 0,
        bucketsPerRound: nEff,
        out,
        outOffset: h * R * rows,
      });
    }
  });
}

/**
 * `num_buckets` for a short prompt's first hashing at a step (fixed by an earlier forward, or the config).
 * @throws ConfigError when it is automatic and still unresolved (HF raises a TypeError there).
 */
export function firstHashBuckets(c: DecodeContext): NumBuckets {
  const nb = c.model.reformer.resolvedConfig().num_buckets;
  if (nb === null) {
    throw new ConfigError(
      'num_buckets',
      `is null (automatic) and no forward longer than lsh_attn_chunk_length (${c.cfg.lsh_attn_chunk_length}) has fixed it, so a prompt that short ` +
        'cannot be continued with the cache (HF raises a TypeError here); set num_buckets, use a longer prompt, or generate without the cache',
    );
  }
  return nb;
}

/**
 * A short prompt's LSH layer reached T+1 ≥ chunk length: HF hashes all T+1 cached rows with one
 * (new) draw, without mask (offsets n·N), and caches those buckets.
 */
export function firstHash(c: DecodeContext, i: number, l: LayerState): void {
  const cfg = c.cfg;
  const cache = l.lsh!;
  const nb = firstHashBuckets(c);
  const be = c.be;
  const n = cache.length;
  const all = cfg.num_attention_heads * cfg.attention_head_size;
  be.scope(() => {
    l.numBuckets = nb;
    const rot = rotationsFor(c, i, nb);
    l.rotations = Float64Array.from(rot);
    const qk = be.floats(n * all);
    qk.set(cache.rawQk!.subarray(0, n * all));
    const out = be.ints(cfg.num_attention_heads * cfg.num_hashes * n);
    hashRows(c, l, qk, n, bucketCount(nb), out);
    cache.setBuckets(out, n);
  });
}

/**
 * The prompt pass's hook before layer `i`'s attention: x = its input X2 `[paddedLen, hidden]`. Caches
 * LayerNorm_a(x) of the first P rows projected (LSH: k̂, v and, for a prompt the layer does not hash,
 * the raw qk; local: k/√d and v of the rows the next query can see), block by block.
 */
export function fillLayer(c: DecodeContext, l: LayerState, x: Float, P: number, lshShort: boolean, states: Float64Array | null): void {
  const be = c.be;
  const cfg = c.cfg;
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const d = cfg.attention_head_size;
  const all = H * d;
  const first = l.local && !states ? l.local.firstKeptRow(P) : 0;
  be.scope(() => {
    const nb = Math.min(P - first, PROMPT_CAPTURE_BLOCK_ROWS);
    const ln = be.floats(nb * D);
    const mean = be.floats(nb);
    const rstd = be.floats(nb);
    const a = be.floats(nb * all);
    const b = be.floats(nb * all);
    const khat = l.lsh ? be.floats(nb * all) : null;
    const kr = l.lsh ? be.floats(nb * H) : null;
    for (let r0 = first; r0 < P; r0 += nb) {
      const n = Math.min(nb, P - r0);
      be.layerNormForward({
        rows: n,
        cols: D,
        x: x.subarray(r0 * D, (r0 + n) * D),
        gamma: l.ln.gamma,
        beta: l.ln.beta,
        eps: cfg.layer_norm_eps,
        y: ln.subarray(0, n * D),
        mean: mean.subarray(0, n),
        rstd: rstd.subarray(0, n),
      });
      states?.set(ln.subarray(0, n * D), r0 * D);
      // lsh: a = qk, b = v;  local: a = k, b = v (the query projection is not needed)
      const [wa, wb] = l.lsh ? [l.proj[0]!, l.proj[1]!] : [l.proj[1]!, l.proj[2]!];
      linearForward(be, ln, n, D, wa, all, null, a);
      linearForward(be, ln, n, D, wb, all, null, b);
      if (l.lsh) {
        be.rmsNormForward({
          rows: n * H,
          cols: d,
          x: a.subarray(0, n * all),
          y: khat!.subarray(0, n * all),
          rstd: kr!.subarray(0, n * H),
          eps: KEY_NORM_EPS,
          scale: 1 / Math.sqrt(d),
        });
        l.lsh.appendRows(khat!, b, lshShort ? a : null, n);
      } else {
        be.scale(a, 1 / Math.sqrt(d), n * all);
        l.local!.putRows(a, b, r0, n);
      }
    }
  });
}
