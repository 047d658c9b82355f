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
 * The backward (`backward`; the layers and embeddings in encoder-backward.ts) is the reversible one by
 * default (options.reversible), or ordinary back-propagation over stored layer inputs; both give the
 * same gradients.
 *
 * Memory (linear in L; model/memory.ts estimates it):
 * - Evaluation runs the layers in place on the two streams X1, X2 [rows, D], each branch streamed
 *   (attention head by head / block by block, feed-forward in row blocks: src/attention/lean.ts,
 *   nn/feed-forward.ts), so a layer adds only per-head and per-block temporaries.
 * - The final LayerNorm is computed block by block of rows (`outputRows`): `forward` copies the
 *   blocks into one output buffer, `forwardRows` hands them to a consumer (the LM head's loss) and
 *   never holds [rows, 2D]; `trainRows` also takes dL/dh per block and back-propagates the LayerNorm
 *   there, before the layers' backward.
 * - Host-resident streams (issue 17; `options.hostStreams`, encoder-streams.ts, backend/host-streams.ts):
 *   X1, X2, dY1, dY2, the embedding output and dEmbedding are plain JS arrays outside the WASM arena, and
 *   every layer streams them through the arena in row blocks; same bits as the arena path. 'auto' chooses
 *   them only for a run whose arena estimate exceeds the backend's limit (memory/check.ts).
 */
import type { Backend, Float } from '../backend/backend.js';
import type { AttentionBlockWeights } from '../attention/block.js';
import type { AttnLayerType } from '../config/fields.js';
import { resolveOptions, type ReformerOptions } from '../config/options.js';
import type { ReformerConfig } from '../config/reformer-config.js';
import { ShapeError, UsageError } from '../errors.js';
import { applyDropout } from '../nn/dropout.js';
import { wordEmbeddingForward } from '../nn/embeddings.js';
import type { FeedForwardSpec, FeedForwardWeights } from '../nn/feed-forward.js';
import { optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { positionForward, type EncoderParts } from './embedding-stage.js';
import { encoderBackward } from './encoder-backward.js';
import { prepareEncoderInput } from './encoder-input.js';
import { checkHostStreamsOption, chooseHostStreams, embeddingStreams, isHostStream, streamFloats } from './encoder-streams.js';
import type { EncoderInput, EncoderOutput, EncoderRun, EncoderTape, OutputSink, PreparedInput } from './encoder-types.js';
import { checkedRows, checkFiniteValues, layerOutputCheck } from './numerics.js';
import { outputRows } from './output-rows.js';
import { reformerParamSpecs } from './param-specs.js';
import { Parameters } from './parameters.js';
import { reversibleForward, reversibleInverse, type ReversibleBlock, type ReversibleRecord, type SublayerCall } from './reversible.js';
import { AttentionSublayer, FeedForwardSublayer, type AttentionState } from './sublayers.js';
import { requireModelArgs } from './validate-inputs.js';

export type { EncoderInput, EncoderOutput, OutputSink } from './encoder-types.js';

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

  /**
   * @param init our options, the HF name prefix, a shared parameter store (all optional).
   * @throws ConfigError without a backend or a `ReformerConfig`, or for an `init` that is not an object.
   */
  constructor(backend: Backend, config: ReformerConfig, init: ReformerModelInit = {}) {
    requireModelArgs('ReformerModel', backend, config);
    optionsArg('ReformerModel', init, '{ options: { seed: 1 }, prefix: "reformer." }');
    this.backend = backend;
    this.givenConfig = config;
    this.options = resolveOptions(init.options);
    checkHostStreamsOption(this.options);
    this.prefix = init.prefix ?? '';
    if (init.parameters) {
      this.parameters = init.parameters;
    } else {
      this.parameters = new Parameters(backend, reformerParamSpecs(config, this.prefix));
      this.parameters.initialize(new Rng(this.options.seed));
    }
    this.rng = new Rng(this.options.seed).split();
    const P = this.parameters;
    const attnConfig = config;
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
   * limit; thrown before anything is allocated), NumericalError (a NaN or infinite value in a layer's
   * output or the encoder output, naming the layer and a non-finite parameter if any: numerics.ts).
   */
  forward(input: EncoderInput): EncoderOutput {
    const run = this.encode(input, this.prepare(input, true), { keepEmbedding: true, captureBuckets: true });
    const D2 = 2 * this.config.hidden_size;
    const output = this.backend.floats(run.batch * run.seqLen * D2); // [B, L, 2D]
    outputRows(this.parts, run, (r0, n, h) => output.set(h.subarray(0, n * D2), r0 * D2), null);
    checkFiniteValues(this.parts, 'the encoder output (last_hidden_state)', output, output.length);
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
      outputRows(this.parts, run, checkedRows(this.parts, 'the encoder output', 2 * this.config.hidden_size, sink), null);
      return { batch: run.batch, seqLen: run.seqLen, paddedLen: run.paddedLen, buckets: bucketsOf(run.record) };
    });
  }

  /**
   * Training forward and backward in one call, the output consumed block by block: `sink(r0, n, h, dh)`
   * gets the output rows and writes d(loss)/dh into `dh`; the final LayerNorm is differentiated block
   * by block, then the layers (reversible or stored, per options) and the embeddings. Parameter
   * gradients ACCUMULATE. Returns d(loss)/d(embedding output) [batch, seqLen, hidden] (a buffer in the
   * caller's scope); every other buffer is freed on return.
   *
   * `options.prepass`: a head whose gradient at a row depends on rows of later blocks (a softmax over
   * positions: HF `ReformerForQuestionAnswering`) first sees every output block once, `prepass(r0, n, h,
   * null)`, after the layers' forward and before the gradient pass; the blocks are recomputed from the
   * same Y1, Y2 and dropout seeds, so both passes see identical rows.
   * @throws as `forward`.
   */
  trainRows(
    input: EncoderInput,
    sink: OutputSink,
    options: { prepass?: OutputSink } = {},
  ): { dEmbedding: Float; buckets: Array<Int32Array | null> } {
    if (!input.training) throw new UsageError('ReformerModel.trainRows: needs training: true (use forwardRows for evaluation)');
    const be = this.backend;
    const prepared = this.prepare(input, false); // before dEmbedding: a refused call allocates nothing
    const dEmbedding = streamFloats(be, prepared.hostStreams, input.batch * input.seqLen * this.config.hidden_size);
    const buckets = be.scope(() => {
      const run = this.encode(input, prepared, { keepEmbedding: false, captureBuckets: true });
      const n = run.record.n;
      const dy1 = streamFloats(be, prepared.hostStreams, n);
      const dy2 = streamFloats(be, prepared.hostStreams, n);
      if (options.prepass)
        outputRows(this.parts, run, checkedRows(this.parts, 'the encoder output', 2 * this.config.hidden_size, options.prepass), null);
      outputRows(this.parts, run, checkedRows(this.parts, 'the encoder output', 2 * this.config.hidden_size, sink), { dy1, dy2 });
      encoderBackward(this.parts, this.blocks, run, dy1, dy2, dEmbedding);
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
    const host = isHostStream(be, run.record.y1);
    const dEmb = streamFloats(be, host, n);
    be.scope(() => {
      const dy1 = streamFloats(be, host, n);
      const dy2 = streamFloats(be, host, n);
      outputRows(this.parts, run, (r0, nr, _h, dh) => dh!.set(dOutput.subarray(r0 * D2, (r0 + nr) * D2)), { dy1, dy2 });
      encoderBackward(this.parts, this.blocks, run, dy1, dy2, dEmb);
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

  /** What the stages read (embedding-stage.ts, output-rows.ts). */
  private get parts(): EncoderParts {
    return { be: this.backend, cfg: this.config, params: this.parameters, prefix: this.prefix };
  }

  /**
   * The input checked and padded (encoder-input.ts), then the memory estimate of the call checked and
   * its streams' path chosen (encoder-streams.ts; `materializeOutput`: `forward`, which holds the whole
   * output) before anything is allocated.
   */
  private prepare(input: EncoderInput, materializeOutput: boolean): PreparedInput {
    const prepared = prepareEncoderInput(this.config, input);
    return { ...prepared, hostStreams: chooseHostStreams(this.backend, this.config, this.options, input, materializeOutput) };
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
    const embed = (e1: Float, e2: Float): void => {
      wordEmbeddingForward(be, this.parameters.param(`${this.prefix}embeddings.word_embeddings.weight`), D, idsBuf, rows, e1);
      if (seeds.word !== null) applyDropout(e1, rows, D, drop, seeds.word);
      positionForward(this.parts, positions, rows, Lp, B, e2, seeds.position, drop); // P(pos), in X2 for now
      be.add(e1, e1, e2, n);
      e2.set(e1);
    };
    const { x1, x2 } = embeddingStreams(be, prepared.hostStreams, n, embed); // [rows, D] attention, hidden streams
    let embedding: Float | null = null;
    if (opts.keepEmbedding) {
      embedding = streamFloats(be, prepared.hostStreams, n);
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
      onLayerOutput: layerOutputCheck(this.parts, cfg.attn_layers, n),
      hostBlockRows: this.options.hostBlockRows,
    };
    const mode = training ? (this.options.reversible ? 'reversible' : 'store') : 'inference';
    const record = reversibleForward(be, this.blocks, x1, x2, n, call, mode);
    if (drop > 0) seeds.output = rng.u32(); // the final dropout's seed, drawn after the layers'
    return { batch: B, seqLen: L, paddedLen: Lp, training, ids: idsBuf, positions, seeds, record, embedding };
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
