/**
 * What the page draws of LSH attention (Kitaev et al. 2020 Sec. 2, HF `LSHSelfAttention`): for one LSH
 * layer of a model and one window of text,
 *
 *   1. the layer's real attention input: an evaluation forward of the whole model captures it
 *      (`EncoderInput.onAttentionInput`), then the block's own LayerNorm, as `reformer verify` does;
 *   2. LSH self-attention on it with `numHashes` rounds and rotations from `new Rng(seed)`: each token's
 *      bucket per round and head, and the sorted order (slots grouped by bucket, then position) cut into
 *      chunks of `lsh_attn_chunk_length`;
 *   3. for a query token: the keys LSH let it attend to (its chunk and `lsh_num_chunks_before/after`
 *      neighbours in every round, with wrap-around: HF `_look_adjacent`) beside the exact softmax
 *      weights of full attention (`exactSharedQkProbabilities`, float64), and the recall (the exact
 *      mass inside the attended set);
 *   4. `attentionQualityReport` (src/attention/quality.ts) for the same rotations: output error and
 *      recall of the whole window, the numbers of `reformer verify`.
 *
 * O(L²) per head for the exact probabilities (computed per head when first asked): analysis of one
 * window of at most the model's context (1024 tokens for the shipped model), not a training path.
 */
import {
  type AttentionQualityRow,
  attentionQualityReport,
  ByteTokenizer,
  chunkLengthRule,
  ConfigError,
  exactSharedQkProbabilities,
  type Float,
  lshAttendedKeys,
  lshQueryWindows,
  lshSelfAttentionForward,
  type LshSelfAttentionWeights,
  modelMaxContext,
  type ReformerModelWithLMHead,
  Rng,
} from '../../../src/index.js';

export interface LshRequest {
  /** Index of an LSH layer in `attn_layers`. */
  layer: number;
  /** Hash rounds (HF allows a per-forward `num_hashes`). */
  numHashes: number;
  /** Seed of the rotations. */
  seed: number;
}

/** The picture of one window (plain data: it crosses the worker boundary). */
export interface LshPicture {
  readonly layer: number;
  readonly numHashes: number;
  readonly seed: number;
  readonly seqLen: number;
  readonly heads: number;
  /** Buckets per round (`num_buckets`, factorised ones multiplied). */
  readonly numBuckets: number;
  readonly chunkLength: number;
  readonly chunksBefore: number;
  readonly chunksAfter: number;
  readonly causal: boolean;
  /** Display text of each token: the character at its first byte, '' for a character's later bytes. */
  readonly labels: readonly string[];
  /** `[heads, numHashes, seqLen]`: bucket of each token per round, in [0, numBuckets). */
  readonly buckets: Int32Array;
  /** `[heads, numHashes·seqLen]`: position of the token at each sorted slot (round n's slots are n·seqLen …). */
  readonly sortedPositions: Int32Array;
  /** `reformer verify`'s numbers for these rotations. */
  readonly quality: AttentionQualityRow;
}

/** The view of one query token. */
export interface QueryView {
  readonly head: number;
  readonly position: number;
  /** `[seqLen]` exact full-attention weights of this query (softmax over every allowed key). */
  readonly exact: Float64Array;
  /** `[seqLen]` 1 where LSH attended to the key in some round (a causal model's future keys are masked anyway). */
  readonly attended: Uint8Array;
  /** Exact softmax mass inside the attended set (1 = LSH missed nothing). */
  readonly recall: number;
  /** Keys attended. */
  readonly keys: number;
  /** Per round: the query's chunk in the sorted order and the chunks it looked at. */
  readonly rounds: readonly { chunk: number; window: number[] }[];
}

/** Bytes → display labels: the character at its lead byte, '' for continuation bytes (U+FFFD for invalid ones). */
export function byteLabels(bytes: Uint8Array): string[] {
  const labels: string[] = [];
  const decoder = new TextDecoder('utf-8');
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    const end = Math.min(bytes.length, i + n);
    labels.push(decoder.decode(bytes.subarray(i, end)));
    for (let j = i + 1; j < end; j++) labels.push('');
    i = end;
  }
  return labels;
}

/** The window the picture takes of `bytes`: at most the model's context, cut to a multiple of the chunk lengths' lcm. */
export function windowLength(lm: ReformerModelWithLMHead, available: number): number {
  const { lcm } = chunkLengthRule(lm.config);
  const max = modelMaxContext(lm) ?? lm.config.max_position_embeddings;
  const L = Math.floor(Math.min(max, available) / lcm) * lcm;
  const min = 2 * lm.config.lsh_attn_chunk_length;
  if (L < min) {
    throw new ConfigError(
      'text',
      `holds ${available} bytes; LSH needs at least ${min} (two chunks of lsh_attn_chunk_length ${lm.config.lsh_attn_chunk_length}): paste more text`,
    );
  }
  return L;
}

/**
 * The input of LSH layer `layer`'s self-attention on `bytes` (`[L, hidden]`, a copy): an evaluation
 * forward captures the attention block's input (`onAttentionInput`), then the block's LayerNorm.
 */
export function normedAttentionInput(lm: ReformerModelWithLMHead, bytes: Uint8Array, layer: number): Float32Array {
  const cfg = lm.config;
  const L = bytes.length;
  const D = cfg.hidden_size;
  const inputIds = new ByteTokenizer().encode(bytes);
  const be = lm.backend;
  let captured: Float32Array | null = null;
  be.scope(() => {
    lm.reformer.forward({
      inputIds,
      batch: 1,
      seqLen: L,
      training: false,
      onAttentionInput: (l: number, x: Float) => {
        if (l === layer) captured = Float32Array.from(x.subarray(0, L * D));
      },
    });
  });
  if (!captured) throw new Error(`layer ${layer}'s attention input was not captured`);
  const input: Float32Array = captured;
  const p = (n: string): Float => lm.parameters.param(`reformer.encoder.layers.${layer}.attention.${n}`);
  return be.scope(() => {
    const x = be.floats(L * D);
    x.set(input);
    const normed = be.floats(L * D);
    be.layerNormForward({
      rows: L,
      cols: D,
      x,
      gamma: p('layer_norm.weight'),
      beta: p('layer_norm.bias'),
      eps: cfg.layer_norm_eps,
      y: normed,
      mean: be.floats(L),
      rstd: be.floats(L),
    });
    return Float32Array.from(normed);
  });
}

/** The LSH self-attention weights of a layer (live model buffers). */
function lshWeights(lm: ReformerModelWithLMHead, layer: number): LshSelfAttentionWeights {
  const p = (n: string): Float => lm.parameters.param(`reformer.encoder.layers.${layer}.attention.self_attention.${n}`);
  return { 'query_key.weight': p('query_key.weight'), 'value.weight': p('value.weight') };
}

/** @throws ConfigError if `layer` is not an LSH layer of the model */
function checkLshLayer(lm: ReformerModelWithLMHead, layer: number): void {
  const layers = lm.config.attn_layers;
  if (layers[layer] !== 'lsh') {
    const lsh = layers.flatMap((t, i) => (t === 'lsh' ? [i] : []));
    throw new ConfigError(
      'layer',
      `${layer} is not an LSH layer of this model (attn_layers ${JSON.stringify(layers)}; LSH: ${lsh.join(', ') || 'none'})`,
    );
  }
}

/**
 * `reformer verify`'s report for one layer and window, one row per `num_hashes` value, each with the
 * rotations of `new Rng(seed)` (the rotations the picture of that value shows).
 */
export function qualityByRounds(
  lm: ReformerModelWithLMHead,
  bytes: Uint8Array,
  layer: number,
  seed: number,
  numHashesList: readonly number[],
): AttentionQualityRow[] {
  checkLshLayer(lm, layer);
  const L = windowLength(lm, bytes.length);
  const input = normedAttentionInput(lm, bytes.subarray(0, L), layer);
  const be = lm.backend;
  const resolved = lm.reformer.resolvedConfig();
  return numHashesList.map((R) =>
    be.scope(() => {
      const normed = be.floats(input.length);
      normed.set(input);
      const [row] = attentionQualityReport(be, resolved, lshWeights(lm, layer), normed, {
        batch: 1,
        seqLen: L,
        numHashesList: [R],
        rng: new Rng(seed),
      });
      return row!;
    }),
  );
}

export class LshAnalysis {
  readonly picture: LshPicture;
  private readonly qk: Float32Array;
  private readonly v: Float32Array;
  private readonly headSize: number;
  private readonly undoSorted: Int32Array;
  private readonly sorted: Int32Array;
  private readonly probs = new Map<number, Float64Array>();

  /**
   * @param bytes the text (UTF-8); its first `windowLength` bytes are used
   * @throws ConfigError if the layer is not an LSH layer, the text is too short, or numHashes < 1
   */
  constructor(lm: ReformerModelWithLMHead, bytes: Uint8Array, request: LshRequest) {
    const { layer, numHashes, seed } = request;
    checkLshLayer(lm, layer);
    if (!Number.isInteger(numHashes) || numHashes < 1 || numHashes > 64) {
      throw new ConfigError('num_hashes', `must be an integer in [1, 64], got ${numHashes}`);
    }
    const L = windowLength(lm, bytes.length);
    const input = normedAttentionInput(lm, bytes.subarray(0, L), layer);
    const be = lm.backend;
    const resolved = lm.reformer.resolvedConfig();
    const r = be.scope(() => {
      const normed = be.floats(input.length);
      normed.set(input);
      const weights = lshWeights(lm, layer);
      const a = lshSelfAttentionForward(be, resolved, weights, normed, { batch: 1, seqLen: L, numHashes, rng: new Rng(seed) }).cache
        .attention;
      const [quality] = attentionQualityReport(be, resolved, weights, normed, {
        batch: 1,
        seqLen: L,
        numHashesList: [numHashes],
        rng: new Rng(seed),
      });
      if (!a.buckets) throw new Error(`layer ${layer} took the short path (no hashing) at ${L} tokens`);
      return {
        qk: Float32Array.from(a.qk),
        v: Float32Array.from(a.v),
        buckets: Int32Array.from(a.buckets),
        sorted: Int32Array.from(a.sorted),
        undoSorted: Int32Array.from(a.undoSorted),
        heads: a.heads,
        headSize: a.headSize,
        nEff: a.numBucketsEff,
        chunk: a.chunk,
        causal: a.causal,
        quality: quality!,
      };
    });
    const H = r.heads;
    const buckets = new Int32Array(H * numHashes * L);
    for (let i = 0; i < buckets.length; i++) {
      const n = Math.floor(i / L) % numHashes;
      buckets[i] = r.buckets[i]! - n * r.nEff;
    }
    const sortedPositions = new Int32Array(r.sorted.length);
    for (let i = 0; i < sortedPositions.length; i++) sortedPositions[i] = r.sorted[i]! % L;
    this.qk = r.qk;
    this.v = r.v;
    this.headSize = r.headSize;
    this.sorted = r.sorted;
    this.undoSorted = r.undoSorted;
    this.picture = {
      layer,
      numHashes,
      seed,
      seqLen: L,
      heads: H,
      numBuckets: r.nEff,
      chunkLength: r.chunk.chunkLength,
      chunksBefore: r.chunk.numChunksBefore,
      chunksAfter: r.chunk.numChunksAfter,
      causal: r.causal,
      labels: byteLabels(bytes.subarray(0, L)),
      buckets,
      sortedPositions,
      quality: r.quality,
    };
  }

  /** The view of query `position` in `head`. @throws ConfigError for an index out of range */
  query(head: number, position: number): QueryView {
    const { seqLen: L, heads: H, numHashes: R, chunkLength: c, chunksBefore, chunksAfter } = this.picture;
    if (!Number.isInteger(head) || head < 0 || head >= H) throw new ConfigError('head', `must be in [0, ${H}), got ${head}`);
    if (!Number.isInteger(position) || position < 0 || position >= L)
      throw new ConfigError('position', `must be in [0, ${L}), got ${position}`);
    const exact = this.probabilities(head).slice(position * L, (position + 1) * L);
    const source = {
      seqLen: L,
      heads: H,
      numHashes: R,
      chunk: { chunkLength: c, numChunksBefore: chunksBefore, numChunksAfter: chunksAfter },
      sorted: this.sorted,
      undoSorted: this.undoSorted,
      paperExact: false,
      buckets: null,
    };
    const rounds = lshQueryWindows(source, 0, head, position);
    const attended = new Uint8Array(L);
    lshAttendedKeys(source, 0, head, position, attended);
    let recall = 0;
    let keys = 0;
    for (let j = 0; j < L; j++) {
      if (!attended[j]) continue;
      recall += exact[j]!;
      keys++;
    }
    return { head, position, exact, attended, recall: Math.min(1, recall), keys, rounds };
  }

  /** Exact probabilities `[L, L]` of one head (computed once). */
  private probabilities(head: number): Float64Array {
    let p = this.probs.get(head);
    if (!p) {
      const { seqLen, heads, causal } = this.picture;
      p = exactSharedQkProbabilities(
        { qk: this.qk, v: this.v, batch: 1, seqLen, heads, headSize: this.headSize, causal, attentionMask: null },
        0,
        head,
      );
      this.probs.set(head, p);
    }
    return p;
  }
}
