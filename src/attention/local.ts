/**
 * Local (chunked) self-attention, HuggingFace `LocalSelfAttention` semantics (not in the paper; trax
 * `SelfAttention(chunk_len)`):
 *
 *   q = x·W_qᵀ,  k = x·W_kᵀ / √d,  v = x·W_vᵀ                   (no biases, no key normalisation)
 *   positions are cut into chunks of c; query chunk j sees key chunks j−before … j+after modulo L/c
 *   (wrap-around, also in non-causal mode); masked scores become −1e9 (padding keys, and
 *   key position > query position when causal); no self-mask; softmax; p·v.
 *
 * If `seqLen <= local_attn_chunk_length` it is ordinary attention over all positions (HF short path).
 *
 * The forward streams over blocks of query chunks (`localBlockRows` + `localChunkAttention`): a block of
 * Q chunks gathers the rows of `before` chunks in front and `after` chunks behind (wrapping around the
 * sequence like HF's `_look_adjacent`) and runs the chunk attention on its query chunks, all heads. The
 * attention block (block.ts) and `localAttentionForward` below both use these two functions.
 *
 * HF quirk kept on purpose: a query whose window holds no valid key (e.g. a padded position 0 under a
 * causal mask) has all scores at −1e9, so its softmax spreads over the whole window, future keys
 * included (in fp32 the stored lse rounds to −1e9 and every probability becomes 1). Only padded
 * queries can be in that state (a real query always sees itself), and their outputs are ignored.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { linearForward } from '../nn/linear.js';
import { backendArg, dimsArg, objectArg, optionsArg } from '../util/args.js';
import { checkBatchSeq, checkLength, copyMask } from './common.js';
import {
  ATTENTION_BLOCK_ROWS,
  attentionConfigArg,
  chunkingFor,
  chunksPerBlock,
  headLayout,
  localChunkSpec,
  MASK_VALUE,
  type AttentionConfig,
  type ChunkSpec,
} from './config.js';
import { headDropout } from './lsh.js';

export interface LocalAttentionSpec {
  batch: number;
  seqLen: number;
  heads: number;
  headSize: number;
  chunk: ChunkSpec;
  /** HF `is_decoder`. */
  causal: boolean;
  /** Query rows per streamed block (default ATTENTION_BLOCK_ROWS). Changes memory and speed, never results. */
  blockRows?: number;
}

export interface LocalAttentionCache {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headSize: number;
  /** Chunking actually used (the short path is one chunk of seqLen). */
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  readonly shortPath: boolean;
  /** `[batch, seqLen, heads·headSize]`: the queries, the keys actually attended with (k/√d), the values. */
  readonly q: Float;
  readonly kScaled: Float;
  readonly v: Float;
  readonly attentionMask: Int32Array | null;
  /** `[batch, heads, seqLen]` log-sum-exp of each query's window. */
  readonly lse: Float;
  /** Attention-probability dropout of the forward (the layer's seed), replayed by the backward; null: none. */
  readonly dropout: AttentionDropout | null;
}

/** The members a `LocalAttentionSpec` (and its cache) must carry as positive integers. */
const LOCAL_DIMS = ['batch', 'seqLen', 'heads', 'headSize'] as const;

/**
 * Checks a `LocalAttentionSpec` argument, or a `LocalAttentionCache` (which carries the spec) (O(1)).
 * @throws ShapeError naming the missing or bad member.
 */
export function localSpecArg(
  where: string,
  spec: unknown,
  name = 'spec',
  what = 'a LocalAttentionSpec (localSpecFromConfig(config, batch, seqLen))',
): asserts spec is LocalAttentionSpec {
  dimsArg(where, name, spec, LOCAL_DIMS, what);
  dimsArg(where, `${name}.chunk`, spec.chunk, ['chunkLength'], 'a chunking {chunkLength, numChunksBefore, numChunksAfter}');
}

/**
 * Resolves a `LocalAttentionSpec` from the config (HF names); `isDecoder` overrides `is_decoder`.
 * @throws ConfigError (no config object, bad head fields, `overrides` not an object), ShapeError
 *   (batch or seqLen not a positive integer).
 */
export function localSpecFromConfig(
  cfg: AttentionConfig,
  batch: number,
  seqLen: number,
  overrides: { isDecoder?: boolean } = {},
): LocalAttentionSpec {
  attentionConfigArg('localSpecFromConfig', cfg);
  checkBatchSeq('localSpecFromConfig', batch, seqLen);
  optionsArg('localSpecFromConfig', overrides, '{ isDecoder: true }');
  const { heads, headSize } = headLayout(cfg);
  return { batch, seqLen, heads, headSize, chunk: localChunkSpec(cfg), causal: overrides.isDecoder ?? cfg.is_decoder };
}

/** Geometry of a streamed local forward (from `chunkingFor` and the block size). */
export interface LocalBlocks {
  readonly seqLen: number;
  readonly chunk: ChunkSpec;
  readonly shortPath: boolean;
  readonly numChunks: number;
  /** Query chunks per block. */
  readonly chunksPerBlock: number;
  /** Most gathered rows of one block: (Q + before + after)·c. */
  readonly maxRows: number;
}

export function localBlocks(spec: ChunkSpec, seqLen: number, blockRows = ATTENTION_BLOCK_ROWS): LocalBlocks {
  const { chunk, shortPath } = chunkingFor('local', spec, seqLen);
  const c = chunk.chunkLength;
  const numChunks = seqLen / c;
  const Q = Math.min(numChunks, chunksPerBlock(c, blockRows));
  return { seqLen, chunk, shortPath, numChunks, chunksPerBlock: Q, maxRows: (Q + chunk.numChunksBefore + chunk.numChunksAfter) * c };
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

/**
 * The rows of the block of query chunks j0 … j0+nq−1: `idx[i]` = sequence position of gathered row i
 * (the block's neighbours wrap around the sequence like HF's `_look_adjacent`), `keyValid[i]` its mask.
 * @returns the number of rows, (nq + before + after)·c, and the position of row 0 (may be negative).
 */
export function localBlockRows(
  g: LocalBlocks,
  j0: number,
  nq: number,
  idx: Int32Array,
  keyValid: Int32Array | null,
  mask: Int32Array | null,
  maskOffset: number,
): { rows: number; start: number } {
  const c = g.chunk.chunkLength;
  const rows = (nq + g.chunk.numChunksBefore + g.chunk.numChunksAfter) * c;
  const start = (j0 - g.chunk.numChunksBefore) * c;
  for (let i = 0; i < rows; i++) {
    const t = mod(start + i, g.seqLen);
    idx[i] = t;
    if (keyValid) keyValid[i] = mask![maskOffset + t]!;
  }
  return { rows, start };
}

/** One block of local attention over gathered rows (see `localChunkAttention`). */
export interface LocalBlockParams {
  readonly g: LocalBlocks;
  readonly heads: number;
  readonly headSize: number;
  readonly causal: boolean;
  /** Gathered rows `[rows, heads·headSize]` (stride heads·headSize): queries, keys already divided by √d, values. */
  readonly q: Float;
  readonly k: Float;
  readonly v: Float;
  readonly rows: number;
  /** Position of gathered row 0 in the sequence (`localBlockRows`' start). */
  readonly start: number;
  readonly nq: number;
  readonly idx: Int32Array;
  readonly keyValid: Int32Array | null;
  /** Out: `[rows, heads·headSize]`, the query rows written. */
  readonly out: Float;
  /** Out: `[heads, rows]` log-sum-exp of the query rows (row stride `rows`). */
  readonly lse: Float;
  /** Dropout of the layer (seed per head: `attentionDropoutCallSeed(seed, b·heads + h)`), null: none. */
  readonly dropout: AttentionDropout | null;
  readonly batchIndex: number;
}

/** Chunk attention of every head on the block's query chunks (HF masks; no self-mask in local attention). */
export function localChunkAttention(be: Backend, p: LocalBlockParams): void {
  const { heads: H, headSize: d } = p;
  const all = H * d;
  const { chunk } = p.g;
  const before = chunk.numChunksBefore;
  for (let h = 0; h < H; h++) {
    be.chunkAttentionForward({
      n: p.rows,
      d,
      chunkLength: chunk.chunkLength,
      numChunksBefore: before,
      numChunksAfter: chunk.numChunksAfter,
      q: p.q,
      qOffset: h * d,
      ldq: all,
      k: p.k,
      kOffset: h * d,
      ldk: all,
      v: p.v,
      vOffset: h * d,
      ldv: all,
      pos: p.idx.subarray(0, p.rows),
      keyValid: p.keyValid ? p.keyValid.subarray(0, p.rows) : null,
      causal: p.causal,
      maskValue: MASK_VALUE,
      selfMaskValue: null, // HF LocalSelfAttention has no self-mask
      rowBase: p.start, // row i is position start + i: the dropout mask is keyed by position
      dropout: headDropout(p.dropout, p.batchIndex * H + h),
      chunkBegin: before,
      chunkEnd: before + p.nq,
      out: p.out,
      outOffset: h * d,
      ldOut: all,
      lse: p.lse,
      lseOffset: h * p.rows,
    });
  }
}

/**
 * Local attention over projected vectors, keeping the cache for the backward.
 * @param q,k,v `[batch, seqLen, heads·headSize]` (k unscaled; divided by √d here, as HF)
 * @param attentionMask `[batch, seqLen]` (1 = real, 0 = padding; masks keys), or null
 * @param dropout dropout on the attention probabilities (HF `local_attention_probs_dropout_prob`, training
 *   only) with the layer's seed; head h of batch element b uses `attentionDropoutCallSeed(seed, b·heads + h)`.
 * @returns out `[batch, seqLen, heads·headSize]` and the cache.
 * @throws ShapeError for bad lengths (names the next valid sequence length) or a malformed spec;
 *   ConfigError('backend') without a backend.
 */
export function localAttentionForward(
  be: Backend,
  spec: LocalAttentionSpec,
  q: Float,
  k: Float,
  v: Float,
  attentionMask: ArrayLike<number> | null = null,
  dropout: AttentionDropout | null = null,
): { out: Float; cache: LocalAttentionCache } {
  backendArg('localAttentionForward', be);
  localSpecArg('localAttentionForward', spec);
  const { batch: B, seqLen: L, heads: H, headSize: d } = spec;
  checkBatchSeq('local attention', B, L);
  const all = H * d;
  for (const [name, t] of [
    ['query', q],
    ['key', k],
    ['value', v],
  ] as const) {
    checkLength(`local attention: ${name} vectors`, t, { batch: B, seq: L, heads·head_size: all });
  }
  const g = localBlocks(spec.chunk, L, spec.blockRows);
  const mask = copyMask(be, 'local attention', attentionMask, B, L);
  // HF: key_vectors = key_vectors / sqrt(attention_head_size)
  const kScaled = be.floats(B * L * all);
  kScaled.set(k);
  be.scale(kScaled, 1 / Math.sqrt(d), kScaled.length);
  const cache: LocalAttentionCache = {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    chunk: g.chunk,
    causal: spec.causal,
    shortPath: g.shortPath,
    q,
    kScaled,
    v,
    attentionMask: mask,
    lse: be.floats(B * H * L), // [B, H, L]
    dropout: dropout && dropout.prob > 0 ? { prob: dropout.prob, seed: dropout.seed } : null,
  };
  const out = be.floats(B * L * all); // [B, L, H·d]
  be.scope(() => {
    const n = g.maxRows;
    const idx = be.ints(n);
    const keyValid = mask ? be.ints(n) : null;
    const [qb, kb, vb, ob] = [be.floats(n * all), be.floats(n * all), be.floats(n * all), be.floats(n * all)];
    const lse = be.floats(H * n);
    const c = g.chunk.chunkLength;
    const k0 = g.chunk.numChunksBefore * c;
    for (let b = 0; b < B; b++) {
      for (let j0 = 0; j0 < g.numChunks; j0 += g.chunksPerBlock) {
        const nq = Math.min(g.chunksPerBlock, g.numChunks - j0);
        const { rows, start } = localBlockRows(g, j0, nq, idx, keyValid, mask, b * L);
        const index = idx.subarray(0, rows);
        for (const [src, dst] of [
          [q, qb],
          [kScaled, kb],
          [v, vb],
        ] as const) {
          be.gatherRows({ rows, cols: all, index, src, srcOffset: b * L * all, ldSrc: all, dst, ldDst: all });
        }
        localChunkAttention(be, {
          g,
          heads: H,
          headSize: d,
          causal: spec.causal,
          q: qb,
          k: kb,
          v: vb,
          rows,
          start,
          nq,
          idx,
          keyValid,
          out: ob,
          lse,
          dropout: cache.dropout,
          batchIndex: b,
        });
        const t0 = j0 * c;
        const nr = nq * c;
        out.set(ob.subarray(k0 * all, (k0 + nr) * all), (b * L + t0) * all);
        for (let h = 0; h < H; h++) cache.lse.set(lse.subarray(h * rows + k0, h * rows + k0 + nr), (b * H + h) * L + t0);
      }
    }
  });
  return { out, cache };
}

// ------------------------------------------------------------------ the HF module (with projections)

/** HF `LocalSelfAttention` parameters (state_dict names): `[heads·headSize, hidden]` each, no bias. */
export interface LocalSelfAttentionWeights {
  readonly 'query.weight': Float;
  readonly 'key.weight': Float;
  readonly 'value.weight': Float;
}

export interface LocalSelfAttentionOptions {
  batch: number;
  seqLen: number;
  /** `[batch, seqLen]`, 1 = real token, 0 = padding. */
  attentionMask?: ArrayLike<number> | null;
  /** Overrides `is_decoder`. */
  isDecoder?: boolean;
  /** Attention-probability dropout with the layer's seed (training only); null: none. */
  dropout?: AttentionDropout | null;
}

export interface LocalSelfAttentionCache {
  readonly kind: 'local';
  /** Reference to the input `[batch, seqLen, hidden]`; must stay unchanged until the backward. */
  readonly x: Float;
  readonly hidden: number;
  readonly attention: LocalAttentionCache;
}

/**
 * HF `LocalSelfAttention.forward`.
 * @param x `[batch, seqLen, hidden_size]`
 * @returns out `[batch, seqLen, heads·headSize]` and the cache.
 * @throws ConfigError (`backend`, `config`, `weights` or `options` not given, bad config fields),
 *   ShapeError (lengths of x, the weights, the mask).
 */
export function localSelfAttentionForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: LocalSelfAttentionWeights,
  x: Float,
  options: LocalSelfAttentionOptions,
): { out: Float; cache: LocalSelfAttentionCache } {
  const where = 'localSelfAttentionForward';
  backendArg(where, be);
  attentionConfigArg(where, cfg);
  objectArg(where, 'weights', weights, 'the LocalSelfAttention weights (query.weight, key.weight, value.weight)');
  optionsArg(where, options, '{ batch: 1, seqLen: 64 }', false);
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('LocalSelfAttention', B, L);
  checkLength('LocalSelfAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  const proj: Float[] = [];
  for (const name of ['query.weight', 'key.weight', 'value.weight'] as const) {
    checkLength(`LocalSelfAttention: ${name}`, weights[name], { heads·head_size: all, hidden: D });
    const y = be.floats(B * L * all); // [B, L, H·d]
    linearForward(be, x, B * L, D, weights[name], all, null, y);
    proj.push(y);
  }
  const spec = localSpecFromConfig(cfg, B, L, options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {});
  const { out, cache } = localAttentionForward(
    be,
    spec,
    proj[0]!,
    proj[1]!,
    proj[2]!,
    options.attentionMask ?? null,
    options.dropout ?? null,
  );
  return { out, cache: { kind: 'local', x, hidden: D, attention: cache } };
}
