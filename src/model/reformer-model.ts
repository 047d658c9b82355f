/**
 * HF `ReformerModel`: embeddings → reversible layers → LayerNorm over concat[Y1, Y2] → dropout.
 *
 * Axes: B batch, L sequence (Lp after eval padding), D = hidden_size, rows = B·Lp.
 *
 *   emb      = Dropout(W_word[ids]) + P(pos)                         [rows, D]   (HF ReformerEmbeddings)
 *   X1 = X2  = emb                                                               (HF: cat([emb, emb]) then chunk)
 *   Y1 = X1 + F_l(X2),  Y2 = X2 + G_l(Y1)        for l in attn_layers            (paper Eq. 9)
 *   out      = Dropout(LayerNorm_final(concat[Y1, Y2]))              [rows, 2D]  (attention stream first)
 *
 * Eval-time automatic padding (HF `_pad_to_mult_of_chunk_length`): if L is not a multiple of the
 * chunk-length lcm and L > the smallest chunk length, ids are padded with `pad_token_id` up to the
 * next multiple, the attention mask is extended with zeros (or created as ones-then-zeros), positions
 * continue 0…Lp−1, and the output is cut back to L. In training this is an error naming the length.
 *
 * The backward (`backward`) is the reversible one by default (options.reversible), or ordinary
 * back-propagation over stored layer inputs; both give the same gradients.
 *
 * Memory (linear in L; model/memory.ts estimates it):
 * - Evaluation runs the layers in place on the two streams X1, X2 [rows, D], each branch streamed
 *   (attention head by head / block by block, feed-forward in row blocks: src/attention/lean.ts,
 *   nn/feed-forward.ts), so a layer adds only per-head and per-block temporaries.
 * - The final LayerNorm is computed block by block of rows (`outputRows`): `forward` copies the
 *   blocks into one output buffer, `forwardRows` hands them to a consumer (the LM head's loss) and
 *   never holds [rows, 2D]; `trainRows` also takes dL/dh per block and back-propagates the LayerNorm
 *   there, before the layers' backward.
 */
import type { Backend, Float } from '../backend/backend.js';
import type { AttentionBlockWeights } from '../attention/block.js';
import type { AttentionConfig } from '../attention/config.js';
import { resolveOptions, type ReformerOptions } from '../config/options.js';
import { checkSequenceLength, type AttnLayerType, type ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, ShapeError, UsageError } from '../errors.js';
import { applyDropout } from '../nn/dropout.js';
import {
  axialPositionBackward,
  axialPositionForward,
  checkTokenIds,
  plainPositionBackward,
  plainPositionForward,
  wordEmbeddingBackward,
  wordEmbeddingForward,
  type AxialDropout,
  type AxialSpec,
} from '../nn/embeddings.js';
import type { FeedForwardSpec, FeedForwardWeights } from '../nn/feed-forward.js';
import { layerNormBackward, layerNormForward } from '../nn/layer-norm.js';
import { Rng } from '../util/rng.js';
import { checkBackendMemory, type MemoryMode } from './memory.js';
import { Parameters, type ParamSpec } from './parameters.js';
import { requireReformerConfig, validateRotations, validateTokenBatch } from './validate-inputs.js';
import {
  reversibleBackward,
  reversibleForward,
  reversibleInverse,
  type ReversibleBlock,
  type ReversibleRecord,
  type SublayerCall,
} from './reversible.js';
import { AttentionSublayer, FeedForwardSublayer, type AttentionState } from './sublayers.js';

/** One call of the encoder. */
export interface EncoderInput {
  /** [batch, seqLen] token ids in [0, vocab_size). */
  readonly inputIds: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
  /** [batch, seqLen], 1 = real token, 0 = padding; null/undefined = all real. */
  readonly attentionMask?: Int32Array | null;
  /** Training mode: dropout on, axial length must equal Π axial_pos_shape, no auto padding, backward possible. */
  readonly training: boolean;
  /**
   * Injected LSH rotations per layer index (`[heads, head_size, num_hashes, rotation_size/2]`, as HF's
   * `cap:<phase>.layers.<i>.rotations`); missing entries are drawn (from `hash_seed` or the model's generator).
   */
  readonly rotations?: ReadonlyArray<Float | null | undefined> | null;
  /** Hash rounds of every LSH layer for this call instead of `num_hashes` (HF's per-call `num_hashes`; more rounds at eval help, paper Table 2). */
  readonly numHashes?: number | null;
  /**
   * Diagnostics: called with each layer's attention-block input X2 [batch, paddedLen, hidden_size] (the
   * input of HF `ReformerAttention`, before its LayerNorm), in layer order as the layers run; used by
   * `reformer verify` to compare each LSH layer with exact attention. The buffer is the model's: copy
   * what you keep, never modify it.
   */
  readonly onAttentionInput?: ((layer: number, hidden: Float) => void) | null;
}

/** Result of `ReformerModel.forward`; pass it to `backward` (training forwards only). */
export interface EncoderOutput {
  /** last_hidden_state [batch, seqLen, 2·hidden_size] (cut back to the original seqLen). */
  readonly output: Float;
  readonly batch: number;
  readonly seqLen: number;
  /** Length the layers ran on (> seqLen after eval padding). */
  readonly paddedLen: number;
  /** Embedding output [batch, paddedLen, hidden_size] (HF `embedding_output`). */
  readonly embedding: Float;
  /**
   * Per layer: the LSH offset buckets [batch, heads, num_hashes, paddedLen] of this forward (HF
   * `cap:buckets`), null for local layers and short sequences.
   */
  readonly buckets: ReadonlyArray<Int32Array | null>;
  /** Internal state for the backward (null in eval). */
  readonly tape: EncoderTape | null;
}

/**
 * One encoder run up to the last layer: its sizes, what the embedding backward needs and the layers'
 * record. The final LayerNorm is not stored: `outputRows` computes it block by block (and recomputes
 * it for the backward) from the last layer's outputs `record.y1`, `record.y2`.
 */
interface EncoderRun {
  readonly batch: number;
  /** Length before eval padding. */
  readonly seqLen: number;
  /** Length the layers ran on. */
  readonly paddedLen: number;
  readonly training: boolean;
  /** [batch·paddedLen] token ids (a buffer of the backend) */
  readonly ids: Int32Array;
  /** [batch·paddedLen] positions t of each row */
  readonly positions: Int32Array;
  readonly seeds: { word: number | null; position: number | null; output: number | null };
  readonly record: ReversibleRecord;
  /** Copy of the embedding output [batch, paddedLen, hidden] if asked for (HF `embedding_output`), else null. */
  readonly embedding: Float | null;
}

/** An input checked by `prepare`: ids and mask padded to `paddedLen` in evaluation (else the input's own). */
interface PreparedInput {
  readonly ids: Int32Array;
  readonly mask: Int32Array | null;
  readonly paddedLen: number;
}

interface EncoderTape {
  readonly run: EncoderRun;
  /** Set by `backward`: the reversible backward overwrites the outputs, so a tape is used once. */
  consumed: boolean;
}

/**
 * Consumer of the encoder output one block of rows at a time (e.g. the LM head): `h` [n, 2·hidden]
 * holds rows r0 … r0 + n − 1 of last_hidden_state [batch·seqLen, 2·hidden] (padding cut off). In
 * training (`trainRows`) the sink writes d(loss)/dh for those rows into `dh` [n, 2·hidden] (zeroed).
 * `h` and `dh` are valid during the call only.
 */
export type OutputSink = (r0: number, n: number, h: Float, dh: Float | null) => void;

/** Rows per block of the final LayerNorm and the output sink (at most ~16 MiB of [block, vocab] logits downstream). */
export function outputBlockRows(config: Pick<ReformerConfig, 'vocab_size'>): number {
  return Math.max(64, Math.min(4096, Math.floor((4 << 20) / Math.max(1, config.vocab_size))));
}

/** lcm and min of the chunk lengths in use (HF `_get_least_common_mult_chunk_len`, `_get_min_chunk_len`). */
export function chunkLengthRule(config: ReformerConfig): { lcm: number; min: number } {
  const lengths = [...new Set(config.attn_layers)].map((t) =>
    t === 'lsh' ? config.lsh_attn_chunk_length : config.local_attn_chunk_length,
  );
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = lengths.reduce((a, b) => (a * b) / gcd(a, b));
  return { lcm, min: Math.min(...lengths) };
}

/** HF parameter names of the encoder (prefix '' for `ReformerModel`, 'reformer.' inside the LM). */
export function reformerParamSpecs(config: ReformerConfig, prefix = ''): ParamSpec[] {
  const D = config.hidden_size;
  const all = config.num_attention_heads * config.attention_head_size;
  const F = config.feed_forward_size;
  const normal = { kind: 'normal', std: config.initializer_range } as const;
  const ones = { kind: 'ones' } as const;
  const zeros = { kind: 'zeros' } as const;
  const specs: ParamSpec[] = [{ name: `${prefix}embeddings.word_embeddings.weight`, shape: [config.vocab_size, D], init: normal }];
  if (config.axial_pos_embds) {
    const k = config.axial_pos_shape.length;
    config.axial_pos_shape.forEach((n, axis) => {
      const shape = Array<number>(k).fill(1);
      shape[axis] = n;
      specs.push({
        name: `${prefix}embeddings.position_embeddings.weights.${axis}`,
        shape: [...shape, config.axial_pos_embds_dim[axis]!],
        init: { kind: 'normal', std: config.axial_norm_std },
      });
    });
  } else {
    specs.push({
      name: `${prefix}embeddings.position_embeddings.embedding.weight`,
      shape: [config.max_position_embeddings, D],
      init: normal,
    });
  }
  config.attn_layers.forEach((type, i) => {
    const p = `${prefix}encoder.layers.${i}.`;
    specs.push({ name: `${p}attention.layer_norm.weight`, shape: [D], init: ones });
    specs.push({ name: `${p}attention.layer_norm.bias`, shape: [D], init: zeros });
    const proj = type === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value'];
    for (const w of proj) specs.push({ name: `${p}attention.self_attention.${w}.weight`, shape: [all, D], init: normal });
    specs.push({ name: `${p}attention.output.dense.weight`, shape: [D, all], init: normal });
    specs.push({ name: `${p}feed_forward.layer_norm.weight`, shape: [D], init: ones });
    specs.push({ name: `${p}feed_forward.layer_norm.bias`, shape: [D], init: zeros });
    specs.push({ name: `${p}feed_forward.dense.dense.weight`, shape: [F, D], init: normal });
    specs.push({ name: `${p}feed_forward.dense.dense.bias`, shape: [F], init: zeros });
    specs.push({ name: `${p}feed_forward.output.dense.weight`, shape: [D, F], init: normal });
    specs.push({ name: `${p}feed_forward.output.dense.bias`, shape: [D], init: zeros });
  });
  specs.push({ name: `${prefix}encoder.layer_norm.weight`, shape: [2 * D], init: ones });
  specs.push({ name: `${prefix}encoder.layer_norm.bias`, shape: [2 * D], init: zeros });
  return specs;
}

/** The `ReformerConfig` fields as the attention code's `AttentionConfig` (a plain, per-layer copyable object). */
function attentionConfigOf(config: ReformerConfig): AttentionConfig {
  return {
    hidden_size: config.hidden_size,
    num_attention_heads: config.num_attention_heads,
    attention_head_size: config.attention_head_size,
    is_decoder: config.is_decoder,
    layer_norm_eps: config.layer_norm_eps,
    num_hashes: config.num_hashes,
    num_buckets: config.num_buckets,
    lsh_attn_chunk_length: config.lsh_attn_chunk_length,
    lsh_num_chunks_before: config.lsh_num_chunks_before,
    lsh_num_chunks_after: config.lsh_num_chunks_after,
    hash_seed: config.hash_seed,
    max_position_embeddings: config.max_position_embeddings,
    local_attn_chunk_length: config.local_attn_chunk_length,
    local_num_chunks_before: config.local_num_chunks_before,
    local_num_chunks_after: config.local_num_chunks_after,
  };
}

export interface ReformerModelInit {
  readonly options?: Partial<ReformerOptions>;
  /** HF name prefix: '' (default, `ReformerModel` state_dict) or 'reformer.' (inside `ReformerModelWithLMHead`). */
  readonly prefix?: string;
  /** Shared parameter store holding this model's names (the LM head adds its own); default: own store, HF-initialised. */
  readonly parameters?: Parameters;
}

export class ReformerModel {
  readonly backend: Backend;
  /** The config as given, until the first LSH forward resolves `num_buckets: null` (then `config` holds that value). */
  private givenConfig: ReformerConfig;
  readonly options: ReformerOptions;
  readonly prefix: string;
  readonly parameters: Parameters;
  /** The model's generator: rotations (without hash_seed), dropout seeds. Save/restore with `rngState`. */
  rng: Rng;
  private readonly blocks: ReversibleBlock[];
  private readonly attention: AttentionSublayer[];

  constructor(backend: Backend, config: ReformerConfig, init: ReformerModelInit = {}) {
    requireReformerConfig(config, 'ReformerModel');
    this.backend = backend;
    this.givenConfig = config;
    this.options = resolveOptions(init.options);
    this.prefix = init.prefix ?? '';
    if (init.parameters) {
      this.parameters = init.parameters;
    } else {
      this.parameters = new Parameters(backend, reformerParamSpecs(config, this.prefix));
      this.parameters.initialize(new Rng(this.options.seed));
    }
    this.rng = new Rng(this.options.seed).split();
    const P = this.parameters;
    const attnConfig = attentionConfigOf(config);
    const ffSpec: FeedForwardSpec = {
      hidden: config.hidden_size,
      inner: config.feed_forward_size,
      act: config.hidden_act,
      eps: config.layer_norm_eps,
      chunkSize: config.chunk_size_feed_forward,
      dropout: config.hidden_dropout_prob,
    };
    this.blocks = [];
    this.attention = [];
    config.attn_layers.forEach((type, i) => {
      const p = `${this.prefix}encoder.layers.${i}.`;
      const names = (type === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value']).map((w) => `self_attention.${w}.weight`);
      const views = (get: (n: string) => Float): AttentionBlockWeights => {
        const o: Record<string, Float> = {};
        for (const n of ['layer_norm.weight', 'layer_norm.bias', ...names, 'output.dense.weight']) o[n] = get(`${p}attention.${n}`);
        return o as unknown as AttentionBlockWeights;
      };
      const ffViews = (get: (n: string) => Float): FeedForwardWeights => ({
        lnWeight: get(`${p}feed_forward.layer_norm.weight`),
        lnBias: get(`${p}feed_forward.layer_norm.bias`),
        w1: get(`${p}feed_forward.dense.dense.weight`),
        b1: get(`${p}feed_forward.dense.dense.bias`),
        w2: get(`${p}feed_forward.output.dense.weight`),
        b2: get(`${p}feed_forward.output.dense.bias`),
      });
      const attn = new AttentionSublayer(
        backend,
        attnConfig,
        type,
        i,
        views((n) => P.param(n)),
        views((n) => P.grad(n)),
        config.hidden_dropout_prob,
        this.options.paperExactAttention,
        type === 'lsh' ? config.lsh_attention_probs_dropout_prob : config.local_attention_probs_dropout_prob,
      );
      const ff = new FeedForwardSublayer(
        backend,
        ffSpec,
        ffViews((n) => P.param(n)),
        ffViews((n) => P.grad(n)),
      );
      this.attention.push(attn);
      this.blocks.push({ f: attn, g: ff });
    });
  }

  /** Layer types in order. */
  get layerTypes(): readonly AttnLayerType[] {
    return this.config.attn_layers;
  }

  /**
   * The model's config. `num_buckets: null` (automatic) is replaced by the value the first LSH forward
   * resolved, as HF's `_set_num_buckets` stores it in `config` (so it is saved).
   */
  get config(): ReformerConfig {
    if (this.givenConfig.num_buckets === null) {
      const resolved = this.attention?.find((a) => a.resolvedNumBuckets !== null)?.resolvedNumBuckets ?? null;
      if (resolved !== null) this.givenConfig = this.givenConfig.with({ num_buckets: resolved });
    }
    return this.givenConfig;
  }

  /** `config` (kept for callers that ask for the resolved config by name). */
  resolvedConfig(): ReformerConfig {
    return this.config;
  }

  /**
   * Encoder forward: last_hidden_state [batch, seqLen, 2·hidden] in one buffer (and, in training, a
   * tape for `backward`). Evaluation runs the layers memory-lean (in place, streamed; see
   * reversible.ts); for very long sequences use `forwardRows`, which never holds the whole output.
   * @throws ShapeError (ids, mask, training length not a multiple of the chunk lcm),
   * ConfigError (sequence length vs max_position_embeddings / axial_pos_shape), ResourceError (the
   * estimated peak of this call, and in training of its backward too, exceeds the backend's memory
   * limit; thrown before anything is allocated).
   */
  forward(input: EncoderInput): EncoderOutput {
    const run = this.encode(input, this.prepare(input, true), { keepEmbedding: true, captureBuckets: true });
    const D2 = 2 * this.config.hidden_size;
    const output = this.backend.floats(run.batch * run.seqLen * D2); // [B, L, 2D]
    this.outputRows(run, (r0, n, h) => output.set(h.subarray(0, n * D2), r0 * D2), null);
    const tape: EncoderTape | null = run.training ? { run, consumed: false } : null;
    return {
      output,
      batch: run.batch,
      seqLen: run.seqLen,
      paddedLen: run.paddedLen,
      embedding: run.embedding!,
      buckets: bucketsOf(run.record),
      tape,
    };
  }

  /**
   * Evaluation forward whose output is consumed block by block (`sink(r0, n, h, null)`) and never
   * held whole: memory is the two residual streams [batch·seqLen, hidden] plus per-block and per-head
   * temporaries (what makes a 2^20-token forward fit a 4 GiB WASM memory). Buffers allocated here are
   * freed on return. `captureBuckets` (default false) returns each LSH layer's buckets.
   * @throws as `forward`.
   */
  forwardRows(
    input: EncoderInput,
    sink: OutputSink,
    options: { captureBuckets?: boolean } = {},
  ): { batch: number; seqLen: number; paddedLen: number; buckets: Array<Int32Array | null> } {
    if (input.training)
      throw new UsageError('ReformerModel.forwardRows: evaluation only (training: false); train with trainRows or forward + backward');
    return this.backend.scope(() => {
      const run = this.encode(input, this.prepare(input, false), { keepEmbedding: false, captureBuckets: options.captureBuckets ?? false });
      this.outputRows(run, sink, null);
      return { batch: run.batch, seqLen: run.seqLen, paddedLen: run.paddedLen, buckets: bucketsOf(run.record) };
    });
  }

  /**
   * Training forward and backward in one call, the output consumed block by block: `sink(r0, n, h, dh)`
   * gets the output rows and writes d(loss)/dh into `dh`; the final LayerNorm is differentiated block
   * by block, then the layers (reversible or stored, per options) and the embeddings. Parameter
   * gradients ACCUMULATE. Returns d(loss)/d(embedding output) [batch, seqLen, hidden] (a buffer in the
   * caller's scope); every other buffer is freed on return.
   * @throws as `forward`.
   */
  trainRows(input: EncoderInput, sink: OutputSink): { dEmbedding: Float; buckets: Array<Int32Array | null> } {
    if (!input.training) throw new UsageError('ReformerModel.trainRows: needs training: true (use forwardRows for evaluation)');
    const be = this.backend;
    const prepared = this.prepare(input, false); // before dEmbedding: a refused call allocates nothing
    const dEmbedding = be.floats(input.batch * input.seqLen * this.config.hidden_size);
    const buckets = be.scope(() => {
      const run = this.encode(input, prepared, { keepEmbedding: false, captureBuckets: true });
      const n = run.record.n;
      const dy1 = be.floats(n);
      const dy2 = be.floats(n);
      this.outputRows(run, sink, { dy1, dy2 });
      this.layersBackward(run, dy1, dy2, dEmbedding);
      return bucketsOf(run.record);
    });
    return { dEmbedding, buckets };
  }

  /**
   * Backward of a training `forward`: ACCUMULATES d(loss)/d(params) into `parameters.grads`, given
   * dOutput = d(loss)/d(output) [batch, seqLen, 2·hidden_size]. Returns d(loss)/d(embedding output)
   * [batch, seqLen, hidden_size] (HF `grad:embedding_output`, = dX1 + dX2). Consumes the forward's tape
   * (a second backward of the same forward is an error).
   */
  backward(fwd: EncoderOutput, dOutput: Float): Float {
    const be = this.backend;
    const tape = fwd.tape;
    if (!tape)
      throw new UsageError(
        'ReformerModel.backward: the forward was not in training mode (input.training: true); eval forwards keep nothing to differentiate',
      );
    if (tape.consumed)
      throw new UsageError(
        'ReformerModel.backward: this forward was already back-propagated (the reversible backward consumes its outputs); run a new forward',
      );
    const run = tape.run;
    const D2 = 2 * this.config.hidden_size;
    const n = run.record.n;
    if (dOutput.length !== 2 * n)
      throw new ShapeError(
        `ReformerModel.backward: dOutput must have [batch, seqLen, 2·hidden] = ${2 * n} elements, got ${dOutput.length}`,
      );
    tape.consumed = true;
    const dEmb = be.floats(n);
    be.scope(() => {
      const dy1 = be.floats(n);
      const dy2 = be.floats(n);
      this.outputRows(run, (r0, nr, _h, dh) => dh!.set(dOutput.subarray(r0 * D2, (r0 + nr) * D2)), { dy1, dy2 });
      this.layersBackward(run, dy1, dy2, dEmb);
    });
    return dEmb;
  }

  /**
   * Rebuilds the first layer's inputs (X1, X2) from the last layer's outputs of a training forward,
   * with the inverse of paper Eq. 8 (replaying buckets and dropout seeds), into fresh buffers
   * [batch, paddedLen, hidden]. Both should equal the embedding output up to round-off. Diagnostic:
   * the reversible backward does the same thing internally. Call before `backward`.
   */
  reconstructInputs(fwd: EncoderOutput): { x1: Float; x2: Float } {
    const tape = fwd.tape;
    if (!tape || tape.consumed) {
      throw new UsageError('ReformerModel.reconstructInputs: needs a training forward that has not been back-propagated yet');
    }
    const record = tape.run.record;
    const n = record.n;
    const x1 = this.backend.floats(n);
    const x2 = this.backend.floats(n);
    x1.set(record.y1.subarray(0, n));
    x2.set(record.y2.subarray(0, n));
    reversibleInverse(this.backend, this.blocks, record, x1, x2);
    return { x1, x2 };
  }

  /** Saves the generator state (for trainer checkpoints). */
  rngState(): readonly [number, number, number, number] {
    return this.rng.state();
  }

  // ------------------------------------------------------------------ internals

  /**
   * Everything checked before a call allocates: the inputs, the eval padding (ids and mask padded to
   * the chunk-length multiple, allocated in JS), the sequence length against the config, and the
   * memory estimate of the call (`materializeOutput`: `forward`, which holds the whole output).
   */
  private prepare(input: EncoderInput, materializeOutput: boolean): PreparedInput {
    const cfg = this.config;
    validateTokenBatch(input, 'ReformerModel');
    validateRotations(input.rotations, 'ReformerModel');
    const { batch: B, seqLen: L, training } = input;
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(L) || L < 1) {
      throw new ShapeError(`ReformerModel: batch and seqLen must be positive integers, got batch ${B}, seqLen ${L}`);
    }
    if (input.inputIds.length !== B * L) {
      throw new ShapeError(`ReformerModel: input_ids must have batch·seqLen = ${B}·${L} = ${B * L} elements, got ${input.inputIds.length}`);
    }
    checkTokenIds(input.inputIds, B * L, cfg.vocab_size);
    const mask0 = input.attentionMask ?? null;
    if (mask0) {
      if (mask0.length !== B * L)
        throw new ShapeError(`ReformerModel: attention_mask must have ${B * L} elements ([batch, seqLen]), got ${mask0.length}`);
      for (let i = 0; i < mask0.length; i++) {
        if (mask0[i] !== 0 && mask0[i] !== 1)
          throw new ShapeError(`ReformerModel: attention_mask[${i}] = ${mask0[i]}; use 1 for real tokens and 0 for padding`);
      }
    }
    if (input.numHashes != null && (!Number.isInteger(input.numHashes) || input.numHashes < 1)) {
      throw new ShapeError(`ReformerModel: numHashes must be a positive integer, got ${input.numHashes}`);
    }

    // ---- automatic padding to a multiple of the chunk-length lcm (eval), error in training
    const { lcm, min } = chunkLengthRule(cfg);
    let Lp = L;
    let ids = input.inputIds;
    let mask = mask0;
    if (L % lcm !== 0 && L > min) {
      Lp = L + (lcm - (L % lcm));
      if (training) {
        // with axial position embeddings only one training length exists: say that one
        const axial = cfg.axial_pos_embds ? cfg.axial_pos_shape.reduce((a, b) => a * b, 1) : null;
        const fix =
          axial !== null
            ? `with axial position embeddings training takes exactly ${axial} tokens (the product of axial_pos_shape [${cfg.axial_pos_shape.join(', ')}]): ` +
              `use sequences of ${axial} tokens (attention_mask 0 on padding), or change axial_pos_shape`
            : `pad the input to ${Lp} (attention_mask 0 on the padding) or use ${Lp - lcm > 0 ? `${Lp - lcm} or ` : ''}${Lp}`;
        throw new ShapeError(
          `ReformerModel: in training the sequence length ${L} must be a multiple of ${lcm} (least common multiple of the chunk lengths ` +
            `in attn_layers); ${fix}`,
        );
      }
      if (cfg.pad_token_id === null) {
        throw new ConfigError(
          'pad_token_id',
          `is null, but a sequence of length ${L} must be padded to ${Lp}; set pad_token_id or pass a length that is a multiple of ${lcm}`,
        );
      }
      ids = new Int32Array(B * Lp).fill(cfg.pad_token_id);
      mask = new Int32Array(B * Lp); // zeros on the padding
      for (let b = 0; b < B; b++) {
        ids.set(input.inputIds.subarray(b * L, (b + 1) * L), b * Lp);
        if (mask0) mask.set(mask0.subarray(b * L, (b + 1) * L), b * Lp);
        else mask.fill(1, b * Lp, b * Lp + L);
      }
    }
    checkSequenceLength(cfg, Lp, training, L);
    this.checkMemory(input, training ? 'train' : 'forward', materializeOutput);
    return { ids, mask, paddedLen: Lp };
  }

  /**
   * Embeddings and the layers on a prepared input: X1 = X2 = emb, then Y1, Y2 of the last layer in
   * `record` (the final LayerNorm is left to `outputRows`). Draws the dropout seeds in HF order (word,
   * position, the layers', then the output's).
   */
  private encode(input: EncoderInput, prepared: PreparedInput, opts: { keepEmbedding: boolean; captureBuckets: boolean }): EncoderRun {
    const be = this.backend;
    const cfg = this.config;
    const { batch: B, seqLen: L, training } = input;
    const { ids, mask, paddedLen: Lp } = prepared;
    const D = cfg.hidden_size;
    const rows = B * Lp;
    const n = rows * D;
    const rng = this.rng;
    const drop = training ? cfg.hidden_dropout_prob : 0;
    const positions = be.ints(rows);
    for (let r = 0; r < rows; r++) positions[r] = r % Lp; // HF: arange(Lp) per batch element

    // ---- embeddings: X1 = X2 = emb = Dropout(W_word[ids]) + P(pos)   (HF: cat([emb, emb]) then chunk)
    const seeds = {
      word: drop > 0 ? rng.u32() : null,
      position: drop > 0 ? rng.u32() : null,
      output: null as number | null,
    };
    const idsBuf = be.ints(rows);
    idsBuf.set(ids);
    const x1 = be.floats(n); // [rows, D] attention stream
    const x2 = be.floats(n); // [rows, D] hidden stream
    wordEmbeddingForward(be, this.parameters.param(`${this.prefix}embeddings.word_embeddings.weight`), D, idsBuf, rows, x1);
    if (seeds.word !== null) applyDropout(x1, rows, D, drop, seeds.word);
    this.positionForward(positions, rows, Lp, B, x2, seeds.position, drop); // P(pos), in X2 for now
    be.add(x1, x1, x2, n);
    x2.set(x1);
    let embedding: Float | null = null;
    if (opts.keepEmbedding) {
      embedding = be.floats(n);
      embedding.set(x1);
    }

    // ---- reversible layers on (X1, X2)
    const maskBuf = mask ? be.ints(rows) : null;
    if (maskBuf && mask) maskBuf.set(mask);
    const call: SublayerCall = {
      batch: B,
      seqLen: Lp,
      training,
      attentionMask: maskBuf,
      rng,
      rotations: this.backendRotations(input.rotations),
      numHashes: input.numHashes ?? null,
      onAttentionInput: input.onAttentionInput ?? null,
      captureBuckets: opts.captureBuckets,
    };
    const mode = training ? (this.options.reversible ? 'reversible' : 'store') : 'inference';
    const record = reversibleForward(be, this.blocks, x1, x2, n, call, mode);
    if (drop > 0) seeds.output = rng.u32(); // the final dropout's seed, drawn after the layers'
    return { batch: B, seqLen: L, paddedLen: Lp, training, ids: idsBuf, positions, seeds, record, embedding };
  }

  /**
   * Refuses a call whose estimated peak (model/memory.ts; a training forward is estimated with its
   * backward) exceeds the backend's hard limit (WASM: 4 GiB) before anything is allocated:
   * ResourceError with the numbers and a way out.
   */
  private checkMemory(input: EncoderInput, mode: MemoryMode, materializeOutput: boolean): void {
    checkBackendMemory(this.backend, this.config, {
      batch: input.batch,
      seqLen: input.seqLen,
      mode,
      reversible: this.options.reversible,
      padding: input.attentionMask != null,
      ...(input.numHashes != null ? { numHashes: input.numHashes } : {}),
      head: false,
      materializeOutput,
    });
  }

  /**
   * out = Dropout(LayerNorm_final(concat[Y1, Y2])) one block of rows at a time (padding rows skipped),
   * handed to `sink`. With `grad` (training backward), the sink's dh is back-propagated through the
   * dropout and the LayerNorm into the rows of dy1, dy2 (the gradients at Y1, Y2; overwritten), and
   * the LayerNorm's γ, β gradients accumulate. The LayerNorm is recomputed from Y1, Y2 (no cache).
   */
  private outputRows(run: EncoderRun, sink: OutputSink, grad: { dy1: Float; dy2: Float } | null): void {
    const be = this.backend;
    const cfg = this.config;
    const D = cfg.hidden_size;
    const D2 = 2 * D;
    const { batch: B, seqLen: L, paddedLen: Lp, record } = run;
    const P = this.parameters;
    const gamma = P.param(`${this.prefix}encoder.layer_norm.weight`);
    const beta = P.param(`${this.prefix}encoder.layer_norm.bias`);
    const drop = run.training ? cfg.hidden_dropout_prob : 0;
    const seed = run.seeds.output;
    const block = Math.min(outputBlockRows(cfg), L);
    be.scope(() => {
      const iota = be.ints(block);
      for (let i = 0; i < block; i++) iota[i] = i;
      for (let b = 0; b < B; b++) {
        for (let t0 = 0; t0 < L; t0 += block) {
          be.scope(() => {
            const n = Math.min(block, L - t0);
            const pr = b * Lp + t0; // first (padded) row of the block
            const idx = iota.subarray(0, n);
            // concat[i] = [Y1[pr + i], Y2[pr + i]]   [n, 2D]
            const concat = be.floats(n * D2);
            be.gatherRows({ rows: n, cols: D, index: idx, src: record.y1, srcOffset: pr * D, ldSrc: D, dst: concat, ldDst: D2 });
            be.gatherRows({
              rows: n,
              cols: D,
              index: idx,
              src: record.y2,
              srcOffset: pr * D,
              ldSrc: D,
              dst: concat,
              dstOffset: D,
              ldDst: D2,
            });
            const h = be.floats(n * D2);
            const ln = layerNormForward(be, concat, n, D2, gamma, beta, cfg.layer_norm_eps, h);
            if (seed !== null) applyDropout(h, n, D2, drop, seed, pr);
            const dh = grad ? be.floats(n * D2) : null;
            sink(b * L + t0, n, h, dh);
            if (!grad || !dh) return;
            // out = Dropout(normed)  ⇒  dnormed = mask ⊙ dOut
            if (seed !== null) applyDropout(dh, n, D2, drop, seed, pr);
            // normed = LayerNorm_final(concat)
            const dConcat = be.floats(n * D2);
            layerNormBackward(
              be,
              concat,
              n,
              D2,
              gamma,
              ln,
              dh,
              dConcat,
              P.grad(`${this.prefix}encoder.layer_norm.weight`),
              P.grad(`${this.prefix}encoder.layer_norm.bias`),
            );
            // concat = [Y1, Y2]
            be.gatherRows({ rows: n, cols: D, index: idx, src: dConcat, ldSrc: D2, dst: grad.dy1, dstOffset: pr * D, ldDst: D });
            be.gatherRows({
              rows: n,
              cols: D,
              index: idx,
              src: dConcat,
              srcOffset: D,
              ldSrc: D2,
              dst: grad.dy2,
              dstOffset: pr * D,
              ldDst: D,
            });
          });
        }
      }
    });
  }

  /**
   * Backward of the layers and the embeddings, from dy1, dy2 (gradients at the last layer's outputs;
   * overwritten): parameter gradients accumulate; dEmb [rows, D] receives d(loss)/d(embedding output).
   */
  private layersBackward(run: EncoderRun, dy1: Float, dy2: Float, dEmb: Float): void {
    const be = this.backend;
    const D = this.config.hidden_size;
    const rows = run.batch * run.paddedLen;
    const n = rows * D;
    const drop = this.config.hidden_dropout_prob;
    const P = this.parameters;
    // layers, last to first: dy1 → dX1, dy2 → dX2
    reversibleBackward(be, this.blocks, run.record, dy1, dy2);
    // X1 = X2 = emb  ⇒  demb = dX1 + dX2
    be.add(dEmb, dy1, dy2, n);
    // emb = Dropout(W_word[ids]) + P(pos)
    this.positionBackward(run.positions, rows, run.paddedLen, run.batch, dEmb, run.seeds.position, drop);
    be.scope(() => {
      let g = dEmb;
      if (run.seeds.word !== null) {
        g = be.floats(n);
        g.set(dEmb.subarray(0, n));
        applyDropout(g, rows, D, drop, run.seeds.word);
      }
      wordEmbeddingBackward(be, P.grad(`${this.prefix}embeddings.word_embeddings.weight`), D, run.ids, rows, g);
    });
  }

  private axialSpec(): AxialSpec {
    return { shape: this.config.axial_pos_shape, dims: this.config.axial_pos_embds_dim };
  }

  private axialTables(get: (n: string) => Float): Float[] {
    return this.config.axial_pos_shape.map((_, k) => get(`${this.prefix}embeddings.position_embeddings.weights.${k}`));
  }

  private positionForward(positions: Int32Array, rows: number, Lp: number, B: number, out: Float, seed: number | null, p: number): void {
    const be = this.backend;
    const P = this.parameters;
    if (this.config.axial_pos_embds) {
      const dropout: AxialDropout | null = seed !== null ? { p, seed, batch: B, seqLen: Lp } : null;
      axialPositionForward(
        be,
        this.axialSpec(),
        this.axialTables((nm) => P.param(nm)),
        positions,
        rows,
        out,
        dropout,
      );
    } else {
      plainPositionForward(
        be,
        P.param(`${this.prefix}embeddings.position_embeddings.embedding.weight`),
        this.config.hidden_size,
        positions,
        rows,
        out,
      );
      if (seed !== null) applyDropout(out, rows, this.config.hidden_size, p, seed); // HF PositionEmbeddings dropout
    }
  }

  private positionBackward(positions: Int32Array, rows: number, Lp: number, B: number, dOut: Float, seed: number | null, p: number): void {
    const be = this.backend;
    const P = this.parameters;
    if (this.config.axial_pos_embds) {
      const dropout: AxialDropout | null = seed !== null ? { p, seed, batch: B, seqLen: Lp } : null;
      axialPositionBackward(
        be,
        this.axialSpec(),
        this.axialTables((nm) => P.grad(nm)),
        positions,
        rows,
        dOut,
        dropout,
      );
    } else {
      const D = this.config.hidden_size;
      be.scope(() => {
        let g = dOut;
        if (seed !== null) {
          g = be.floats(rows * D);
          g.set(dOut.subarray(0, rows * D));
          applyDropout(g, rows, D, p, seed);
        }
        plainPositionBackward(be, P.grad(`${this.prefix}embeddings.position_embeddings.embedding.weight`), D, positions, rows, g);
      });
    }
  }

  /** Injected rotations copied into this backend's buffers (any float array accepted). */
  private backendRotations(rotations: EncoderInput['rotations']): Array<Float | null> | null {
    if (!rotations) return null;
    return rotations.map((r) => {
      if (!r) return null;
      const buf = this.backend.floats(r.length);
      buf.set(r);
      return buf;
    });
  }
}

/** Per layer: the LSH buckets of a run (null for local layers, short sequences, or when not captured). */
function bucketsOf(record: ReversibleRecord): Array<Int32Array | null> {
  return record.states.map((st) => (st.f as AttentionState).buckets);
}
