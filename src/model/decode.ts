/**
 * Cached incremental decoding of `ReformerModelWithLMHead` with HF's `use_cache` /
 * `past_buckets_states` semantics (test/fixtures/hf-reformer/README.md, "Cached incremental decoding"):
 *
 *   prompt(ids)  an ordinary evaluation forward (HF's eval padding, padding mask and LSH padding bucket
 *                included) that also fills every layer's cache from the layer's attention input (the
 *                attention LayerNorm output of the first P positions) and the LSH buckets of the pass;
 *                returns the logits of the last prompt position.
 *   step(id)     the token at position T = length: embedding at position T, then every layer with the
 *                token as the only query (LSH: src/attention/decode-lsh.ts, local:
 *                src/attention/decode-local.ts), the feed-forward, the final LayerNorm and the LM head.
 *
 * Where cached and non-cached results differ by design: local layers agree with a non-cached forward
 * (up to rounding) once T ≥ local_num_chunks_before·chunk; LSH layers do not, because a full forward
 * re-sorts every position when tokens are appended, while a cached step sorts only the new query into
 * each round's list (HF's rule, README "How close is cached to non-cached?"). The decode_* fixtures
 * show up to 0.46 in the logits with order-one weights.
 *
 * Rotations: the prompt pass draws each LSH layer's rotations up front (from `hash_seed`, or the model's
 * generator in layer order, exactly as the forward would) and every step hashes its query with the same
 * rotations. HF draws anew for every step; with `hash_seed` set (every HF decode_* case) that is the same
 * tensor, without it HF hashes the query and the cached keys with unrelated rotations, which we do not
 * copy. Injected rotations (`DecodeOptions.rotations`) serve every draw.
 *
 * Memory: the cache lives in plain typed arrays (memory/decode.ts: O(LSH layers · context ·
 * heads·headSize), a fixed ring per local layer) and never holds more than `maxLength` positions; the
 * prompt pass is refused, before anything runs, when its backend estimate or the cache exceeds the
 * limits (ResourceError). Batch 1 only (HF's cached LSH path is wrong for batch > 1).
 */
import type { Backend, Float } from '../backend/backend.js';
import { LocalDecodeCache } from '../attention/decode-local.js';
import { LshDecodeCache, lshWindowLength } from '../attention/decode-lsh.js';
import { KEY_NORM_EPS } from '../attention/config.js';
import { bucketCount, resolveNumBuckets, type NumBuckets } from '../config/buckets.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, ShapeError, UsageError } from '../errors.js';
import { wordEmbeddingForward } from '../nn/embeddings.js';
import { feedForwardAddForward, type FeedForwardSpec } from '../nn/feed-forward.js';
import { lmHeadForward } from '../nn/lm-head.js';
import { describeValue, optionsArg } from '../util/args.js';
import { linearForward } from '../nn/linear.js';
import { positionForward, type EncoderParts } from './embedding-stage.js';
import { prepareEncoderInput } from './encoder-input.js';
import type { IncrementalDecoder } from './language-model.js';
import { maxContextLength } from './lengths.js';
import type { ReformerModelWithLMHead } from './lm-model.js';
import { checkBackendMemory, checkDecodeCache } from './memory/check.js';
import { type DecodeContext, fillLayer, firstHash, firstHashBuckets, hashRows, type LayerState, rotationsFor } from './decode-layers.js';
import { DEFAULT_MAX_CACHE_BYTES } from './memory/decode.js';
import type { DecodeCapture, DecodeOptions, DecodeStepCapture } from './decode-types.js';

/** Cached decoding of one sequence with a `ReformerModelWithLMHead` (see the file header). */
export class DecodeSession implements IncrementalDecoder {
  readonly model: ReformerModelWithLMHead;
  readonly maxLength: number;
  /** HF-fixture intermediates of the last prompt and its steps (`capture: true`), else null. */
  readonly capture: DecodeCapture | null;
  private readonly be: Backend;
  private readonly cfg: ReformerConfig;
  private readonly layers: LayerState[];
  private readonly injected: Array<Float64Array | null>;
  /** What the per-layer functions (decode-layers.ts) read. */
  private readonly ctx: DecodeContext;
  private readonly maxCacheBytes: number;
  private positions = 0;

  /**
   * @throws UsageError for paper-exact attention (no cached path), ConfigError / ShapeError for bad
   *   options (ConfigError('model') for a model that is not a `ReformerModelWithLMHead`), ResourceError
   *   if the cache at `capacity` exceeds `maxCacheBytes`.
   */
  constructor(model: ReformerModelWithLMHead, options: DecodeOptions = {}) {
    const m = model as Partial<ReformerModelWithLMHead> | null | undefined;
    if (
      m === null ||
      typeof m !== 'object' ||
      !(m.config instanceof ReformerConfig) ||
      m.options === null ||
      typeof m.options !== 'object' ||
      m.backend === null ||
      typeof m.backend !== 'object'
    ) {
      throw new ConfigError(
        'model',
        `new DecodeSession(model) needs a ReformerModelWithLMHead (or call model.createDecoder()); other models generate without the cache (useCache: false), got ${describeValue(model)}`,
      );
    }
    optionsArg('new DecodeSession', options, '{ capacity: 1024, maxLength: 4096 }');
    if (model.options.paperExactAttention) {
      throw new UsageError(
        'cached decoding follows HF, and paper-exact attention (options.paperExactAttention) has no cached path; generate without the cache (useCache: false, --no-cache)',
      );
    }
    this.model = model;
    this.be = model.backend;
    this.cfg = model.config;
    const limit = maxContextLength(this.cfg);
    const maxLength = options.maxLength ?? limit;
    if (!Number.isSafeInteger(maxLength) || maxLength < 1 || maxLength > limit) {
      throw new ConfigError('maxLength', `must be an integer in [1, ${limit}] (the longest input this model takes), got ${maxLength}`);
    }
    this.maxLength = maxLength;
    const capacity = options.capacity ?? Math.min(maxLength, 1024);
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new ConfigError('capacity', `must be a positive integer, got ${capacity}`);
    this.maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
    const f64 = this.be.dtype === 'f64';
    checkDecodeCache(this.cfg, Math.min(capacity, maxLength), this.maxCacheBytes, f64);
    const rot = options.rotations ?? null;
    if (rot !== null && (!Array.isArray(rot) || rot.length > this.cfg.attn_layers.length)) {
      throw new ShapeError(
        `cached decoding: rotations must be an array with one entry (or null) per layer (${this.cfg.attn_layers.length})`,
      );
    }
    this.injected = this.cfg.attn_layers.map((_, i) => (rot?.[i] ? Float64Array.from(rot[i]!) : null));
    this.ctx = { be: this.be, cfg: this.cfg, model, injected: this.injected };
    this.capture = options.capture ? { prompt: null, steps: [] } : null;
    const P = model.parameters;
    const H = this.cfg.num_attention_heads;
    const d = this.cfg.attention_head_size;
    this.layers = this.cfg.attn_layers.map((kind, i) => {
      const p = `reformer.encoder.layers.${i}.`;
      const a = (n: string): Float => P.param(`${p}attention.${n}`);
      const names = kind === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value'];
      return {
        kind,
        ln: { gamma: a('layer_norm.weight'), beta: a('layer_norm.bias') },
        proj: names.map((n) => a(`self_attention.${n}.weight`)),
        wo: a('output.dense.weight'),
        ff: {
          lnWeight: P.param(`${p}feed_forward.layer_norm.weight`),
          lnBias: P.param(`${p}feed_forward.layer_norm.bias`),
          w1: P.param(`${p}feed_forward.dense.dense.weight`),
          b1: P.param(`${p}feed_forward.dense.dense.bias`),
          w2: P.param(`${p}feed_forward.output.dense.weight`),
          b2: P.param(`${p}feed_forward.output.dense.bias`),
        },
        lsh:
          kind === 'lsh'
            ? new LshDecodeCache(
                {
                  heads: H,
                  headSize: d,
                  numHashes: this.cfg.num_hashes,
                  chunkLength: this.cfg.lsh_attn_chunk_length,
                  numChunksBefore: this.cfg.lsh_num_chunks_before,
                  numChunksAfter: this.cfg.lsh_num_chunks_after,
                },
                { maxLength, capacity, f64 },
              )
            : null,
        local:
          kind === 'local'
            ? new LocalDecodeCache(
                { heads: H, headSize: d, chunkLength: this.cfg.local_attn_chunk_length, numChunksBefore: this.cfg.local_num_chunks_before },
                f64,
              )
            : null,
        rotations: null,
        numBuckets: null,
      };
    });
  }

  /** Positions cached. */
  get length(): number {
    return this.positions;
  }

  get vocabSize(): number {
    return this.cfg.vocab_size;
  }

  /**
   * LSH layer `layer`'s cached offset buckets `[heads, rounds, length]` (HF `past_buckets_states[i][0]`),
   * or null (a local layer, or an LSH layer that has not hashed yet).
   */
  cachedBuckets(layer: number): Int32Array | null {
    const c = this.layers[layer]?.lsh;
    return c?.hashed ? c.cachedBuckets() : null;
  }

  /**
   * LSH layer `layer`'s rotations `[heads, head_size, num_hashes, rotation_size/2]` (those that hashed
   * the cache and hash every query) and its resolved `num_buckets`; null before the layer has hashed.
   */
  layerHashing(layer: number): { rotations: Float64Array; numBuckets: NumBuckets } | null {
    const l = this.layers[layer];
    return l?.rotations && l.numBuckets !== null ? { rotations: l.rotations, numBuckets: l.numBuckets } : null;
  }

  /** Bytes the cache takes now (plain typed arrays). */
  get cacheBytes(): number {
    return this.layers.reduce((a, l) => a + (l.lsh ? l.lsh.bytes : l.local!.bytes), 0);
  }

  /**
   * Forgets the cache and runs the prompt pass (see the file header).
   * @param ids `[P]` token ids, 1 ≤ P ≤ maxLength
   * @returns logits `[vocab]` of the last prompt position
   * @throws ShapeError (ids), ConfigError (length vs the position embeddings), ResourceError (memory)
   */
  prompt(ids: ArrayLike<number>): Float64Array {
    const be = this.be;
    const cfg = this.cfg;
    const P = ids?.length;
    if (!Number.isSafeInteger(P) || P < 1 || P > this.maxLength) {
      throw new ShapeError(`cached decoding: the prompt must have 1 … ${this.maxLength} tokens (maxLength), got ${String(P)}`);
    }
    const inputIds = Int32Array.from(ids);
    const input = { inputIds, batch: 1, seqLen: P, training: false };
    const Lp = prepareEncoderInput(cfg, input).paddedLen; // validates the ids
    checkBackendMemory(be, cfg, { batch: 1, seqLen: P, mode: 'forward', promptCapture: true });
    this.reserve(P);
    for (const l of this.layers) {
      l.lsh?.reset();
      l.local?.reset();
      l.rotations = null;
      l.numBuckets = null;
    }
    this.positions = 0;
    const lshShort = Lp <= cfg.lsh_attn_chunk_length; // the LSH layers do not hash this prompt
    const V = cfg.vocab_size;
    const D = cfg.hidden_size;
    const capture = this.capture;
    const result = be.scope(() => {
      // rotations drawn up front, in layer order, as the forward would draw them
      const rotations: Array<Float | null> = this.layers.map((l, i) => {
        if (l.kind !== 'lsh' || lshShort) return null;
        l.numBuckets = this.model.reformer.resolvedConfig().num_buckets ?? resolveNumBuckets(cfg, Lp);
        const r = rotationsFor(this.ctx, i, l.numBuckets);
        l.rotations = Float64Array.from(r);
        return r;
      });
      const states = capture ? this.layers.map(() => new Float64Array(P * D)) : null;
      let embedding: Float64Array | null = null;
      const logits = new Float64Array((capture ? P : 1) * V);
      const head = this.headWeights();
      const out = this.model.reformer.forwardRows(
        {
          ...input,
          rotations,
          onAttentionInput: (layer, x) => {
            if (layer === 0 && capture) embedding = Float64Array.from(x.subarray(0, Lp * D));
            fillLayer(this.ctx, this.layers[layer]!, x, P, lshShort, states?.[layer] ?? null);
          },
        },
        (r0, n, h) => {
          // the LM head on the rows we need: the last one, or every row when capturing
          const first = capture ? 0 : Math.max(0, P - 1 - r0);
          if (first >= n) return;
          be.scope(() => {
            const rows = n - first;
            const lg = be.floats(rows * V);
            lmHeadForward(be, head, h.subarray(first * 2 * D, n * 2 * D), rows, 2 * D, V, 0, lg);
            logits.set(lg, (capture ? r0 + first : 0) * V);
          });
        },
        { captureBuckets: true },
      );
      this.layers.forEach((l, i) => {
        const b = out.buckets[i];
        if (l.lsh && b) l.lsh.setBuckets(b, Lp);
      });
      if (capture) {
        capture.prompt = {
          paddedLen: Lp,
          embedding: embedding ?? new Float64Array(0),
          logits,
          buckets: out.buckets.map((b) => (b ? Int32Array.from(b) : null)),
          states: states!,
        };
        capture.steps.length = 0;
      }
      return capture ? logits.slice((P - 1) * V) : logits;
    });
    this.positions = P;
    return result;
  }

  /**
   * Appends token `id` at position `length` and returns its logits `[vocab]` (the next token's).
   * @throws UsageError before a prompt; ShapeError for an id outside the vocabulary or a full cache
   *   (`length === maxLength`: start again with `prompt`).
   */
  step(id: number): Float64Array {
    const be = this.be;
    const cfg = this.cfg;
    const T = this.positions;
    if (T === 0) throw new UsageError('cached decoding: call prompt(ids) before step(id)');
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab_size) {
      throw new ShapeError(`cached decoding: token id ${id} is outside the vocabulary [0, ${cfg.vocab_size})`);
    }
    if (T >= this.maxLength) {
      throw new ShapeError(
        `cached decoding: the cache holds ${T} positions, its maximum (maxLength ${this.maxLength}); start again with prompt() on the last tokens`,
      );
    }
    if (this.layers.some((l) => l.lsh && !l.lsh.hashed && T + 1 >= cfg.lsh_attn_chunk_length)) firstHashBuckets(this.ctx);
    this.reserve(T + 1);
    const D = cfg.hidden_size;
    const H = cfg.num_attention_heads;
    const d = cfg.attention_head_size;
    const all = H * d;
    const R = cfg.num_hashes;
    const V = cfg.vocab_size;
    const capture = this.capture;
    const stepCap: DecodeStepCapture | null = capture
      ? { embedding: new Float64Array(D), states: [], buckets: this.layers.map(() => null), windows: this.layers.map(() => null) }
      : null;
    const logits = be.scope(() => {
      // ---- embedding of the token at position T: W_word[id] + P(T)   (X1 = X2 = emb)
      const idBuf = be.ints(1);
      idBuf[0] = id;
      const posBuf = be.ints(1);
      posBuf[0] = T;
      const x1 = be.floats(D);
      const x2 = be.floats(D);
      wordEmbeddingForward(be, this.model.parameters.param('reformer.embeddings.word_embeddings.weight'), D, idBuf, 1, x1);
      positionForward(this.parts, posBuf, 1, 1, 1, x2, null, 0);
      be.add(x1, x1, x2, D);
      x2.set(x1);
      stepCap?.embedding.set(x1);
      const h = be.floats(D);
      const stats = be.floats(2);
      const proj = [be.floats(all), be.floats(all), be.floats(all)];
      const rstd = be.floats(H);
      const o = be.floats(all);
      const qb = be.ints(H * R);
      const ffSpec = this.ffSpec;
      for (const [i, l] of this.layers.entries()) {
        // h = LayerNorm_a(X2): the query's row (HF caches it as `states`)
        be.layerNormForward({
          rows: 1,
          cols: D,
          x: x2,
          gamma: l.ln.gamma,
          beta: l.ln.beta,
          eps: cfg.layer_norm_eps,
          y: h,
          mean: stats.subarray(0, 1),
          rstd: stats.subarray(1, 2),
        });
        stepCap?.states.push(Float64Array.from(h));
        for (const [j, w] of l.proj.entries()) linearForward(be, h, 1, D, w, all, null, proj[j]!);
        if (l.lsh) {
          const [qk, v, khat] = proj as [Float, Float, Float];
          be.rmsNormForward({ rows: H, cols: d, x: qk, y: khat, rstd, eps: KEY_NORM_EPS, scale: 1 / Math.sqrt(d) });
          const cache = l.lsh;
          let buckets: Int32Array | null = null;
          if (cache.hashed) {
            const nb = l.numBuckets!;
            hashRows(this.ctx, l, qk, 1, cache.queryBucketsPerRound(bucketCount(nb)), qb);
            buckets = qb;
            if (stepCap) stepCap.buckets[i] = Int32Array.from(qb);
          }
          const windows = stepCap && cache.hashed ? new Int32Array(H * R * lshWindowLength(cache.geometry)) : null;
          cache.step(qk, 0, khat, 0, v, 0, buckets, o, 0, windows);
          if (stepCap) stepCap.windows[i] = windows;
          if (!cache.hashed && cache.length >= cfg.lsh_attn_chunk_length) firstHash(this.ctx, i, l);
        } else {
          const [q, k, v] = proj as [Float, Float, Float];
          be.scale(k, 1 / Math.sqrt(d), all);
          l.local!.step(q, 0, k, 0, v, 0, o, 0);
        }
        // Y1 = X1 + W_o·o;   Y2 = X2 + FF(Y1)
        linearForward(be, o, 1, all, l.wo, D, null, x1, true);
        feedForwardAddForward(be, ffSpec, l.ff, x1, 1, x2);
      }
      // ---- final LayerNorm over [Y1, Y2], LM head
      const cat = be.floats(2 * D);
      cat.set(x1, 0);
      cat.set(x2, D);
      const out = be.floats(2 * D);
      be.layerNormForward({
        rows: 1,
        cols: 2 * D,
        x: cat,
        gamma: this.model.parameters.param('reformer.encoder.layer_norm.weight'),
        beta: this.model.parameters.param('reformer.encoder.layer_norm.bias'),
        eps: cfg.layer_norm_eps,
        y: out,
        mean: stats.subarray(0, 1),
        rstd: stats.subarray(1, 2),
      });
      const lg = be.floats(V);
      lmHeadForward(be, this.headWeights(), out, 1, 2 * D, V, 0, lg);
      return Float64Array.from(lg);
    });
    this.positions = T + 1;
    if (capture && stepCap) capture.steps.push(stepCap);
    return logits;
  }

  // ------------------------------------------------------------------ internals

  /** Room for n positions in every LSH cache, refused (ResourceError) beyond `maxCacheBytes`. */
  private reserve(n: number): void {
    const lsh = this.layers.find((l) => l.lsh)?.lsh;
    if (!lsh || n <= lsh.capacity) return;
    checkDecodeCache(this.cfg, lsh.nextCapacity(n), this.maxCacheBytes, this.be.dtype === 'f64');
    for (const l of this.layers) l.lsh?.reserve(n);
  }

  private get parts(): EncoderParts {
    return { be: this.be, cfg: this.cfg, params: this.model.parameters, prefix: 'reformer.' };
  }

  private get ffSpec(): FeedForwardSpec {
    const c = this.cfg;
    return {
      hidden: c.hidden_size,
      inner: c.feed_forward_size,
      act: c.hidden_act,
      eps: c.layer_norm_eps,
      chunkSize: c.chunk_size_feed_forward,
      dropout: 0,
    };
  }

  private headWeights(): { weight: Float; bias: Float } {
    const P = this.model.parameters;
    return { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') };
  }
}
