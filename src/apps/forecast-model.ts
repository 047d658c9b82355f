/**
 * The forecasting model of the time-series application (apps/forecast.ts has the tokens and metrics):
 * a causal Reformer LM over Chronos-style value tokens, trained on random windows of the training
 * history and sampled autoregressively for the forecast. Browser-safe.
 *
 * Window (T = `window` tokens, the training length, = Π axial_pos_shape as HF requires in training):
 *   offset o uniform in [0, n − T]  (seeded; one `Rng.int` per window)
 *   scale  s = meanScale(x[o, o + C))      C = `context`: the scale sees only what a forecast would see
 *   ids    quantize(x[o, o + T), s)        loss on every next-token target of the window (HF's shifted CE)
 * Forecast of H steps after a history x[0, n):
 *   s = meanScale(x[n − C, n)); prompt = quantize(x[n − C, n), s)      (C + H ≤ T: positions 0 … C + H − 1)
 *   path i = dequantize(generateTokens(prompt, { maxNewTokens: H, seed: seed + i }), s)
 * Generation is the cached path (model/decode.ts, HF `past_buckets_states`, one sequence at a time):
 * with C + H ≤ T the cache never slides.
 */
import type { ReformerConfigInput } from '../config/fields.js';
import { ConfigError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import type { BatchSource, SamplerState } from '../train/data.js';
import { generateTokens } from '../train/generate.js';
import { describeValue, optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { checkQuantizer, dequantize, meanScale, quantize, type QuantizerSpec } from './forecast.js';
import { smallModelConfig } from './small-model.js';

/** The model and window of a forecaster. */
export interface ForecastModelSpec {
  /** T: tokens per training window (a product of two axial factors, a multiple of `chunk`). */
  readonly window: number;
  /** C: values the scale (and a forecast's prompt) covers, 1 ≤ C < T. */
  readonly context: number;
  readonly quantizer: QuantizerSpec;
  /** d_model (HF hidden_size, even: the axial embedding halves it). */
  readonly hidden: number;
  readonly heads: number;
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** HF attn_layers, e.g. ['local', 'lsh']. */
  readonly layers: readonly ('local' | 'lsh')[];
  /** lsh_attn_chunk_length = local_attn_chunk_length (one chunk back). */
  readonly chunk: number;
  /** num_hashes of the LSH layers. */
  readonly hashes: number;
}

/** The two axial factors of T nearest to √T (HF axial_pos_shape; Π = T). */
export function axialShape(T: number): [number, number] {
  let a = Math.floor(Math.sqrt(T));
  while (T % a !== 0) a--;
  return [a, T / a];
}

/** @throws ConfigError naming the field for sizes that are not positive integers, C ≥ T, a chunk not dividing T, an odd hidden size. */
export function checkForecastModelSpec(s: ForecastModelSpec): void {
  optionsArg('checkForecastModelSpec', s, '{ window: 1024, context: 512, ... }', false);
  checkQuantizer(s.quantizer);
  for (const [field, v] of [
    ['window', s.window],
    ['context', s.context],
    ['hidden_size', s.hidden],
    ['num_attention_heads', s.heads],
    ['feed_forward_size', s.feedForward],
    ['chunk_length', s.chunk],
    ['num_hashes', s.hashes],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${describeValue(v)}`);
  }
  if (s.context >= s.window) throw new ConfigError('context', `${s.context} must be shorter than the window ${s.window}`);
  if (s.hidden % 2 !== 0 || s.hidden % s.heads !== 0) {
    throw new ConfigError('hidden_size', `${s.hidden} must be even (two axial halves) and a multiple of num_attention_heads ${s.heads}`);
  }
  if (s.window % s.chunk !== 0) throw new ConfigError('chunk_length', `${s.chunk} does not divide the window ${s.window}; pick a divisor`);
  if (!Array.isArray(s.layers) || s.layers.length === 0 || s.layers.some((l) => l !== 'local' && l !== 'lsh')) {
    throw new ConfigError('attn_layers', `must be a non-empty list of 'local' / 'lsh', got ${JSON.stringify(s.layers)}`);
  }
}

/**
 * The HF config: causal, vocab = bins, axial positions over the window (axial_pos_shape nearest √T,
 * embedding halves hidden/2 each, axial_norm_std 0.02 as the project's presets), chunks one back, no
 * dropout, num_buckets 2T/chunk (the paper's rule, m = 2l/n_buckets).
 */
export function forecastConfig(s: ForecastModelSpec): ReformerConfigInput {
  checkForecastModelSpec(s);
  return smallModelConfig({
    vocabSize: s.quantizer.bins,
    padTokenId: 0,
    hidden: s.hidden,
    heads: s.heads,
    feedForward: s.feedForward,
    attnLayers: s.layers,
    localChunk: s.chunk,
    lshChunk: s.chunk,
    numHashes: s.hashes,
    numBuckets: (2 * s.window) / s.chunk,
    maxPositions: s.window,
    axialShape: axialShape(s.window),
    axialNormStd: 0.02,
    unchunked: true,
  });
}

/** Random mean-scaled windows of a training series for the `Trainer` (see the file header). */
export class ScaledWindowBatches implements BatchSource {
  readonly batch: number;
  readonly seqLen: number;
  private readonly values: Float64Array;
  private readonly context: number;
  private readonly quantizer: QuantizerSpec;
  private rng: Rng;
  private drawn = 0;

  /**
   * @param values `[n]` the training history (n ≥ window).
   * @throws ConfigError for a bad batch, seed, spec, or a history shorter than one window.
   */
  constructor(
    values: Float64Array,
    spec: Pick<ForecastModelSpec, 'window' | 'context' | 'quantizer'>,
    options: { batch: number; seed: number },
  ) {
    optionsArg('ScaledWindowBatches', options, '{ batch: 8, seed: 1 }', false);
    if (!Number.isSafeInteger(options.batch) || options.batch < 1)
      throw new ConfigError('batch', `must be a positive integer, got ${options.batch}`);
    if (!Number.isSafeInteger(options.seed)) throw new ConfigError('seed', `must be an integer, got ${options.seed}`);
    checkQuantizer(spec.quantizer);
    if (!(values instanceof Float64Array) || values.length < spec.window) {
      throw new ConfigError('window', `${spec.window} is longer than the ${values?.length ?? 0}-value training history; lower --window`);
    }
    this.values = values;
    this.batch = options.batch;
    this.seqLen = spec.window;
    this.context = spec.context;
    this.quantizer = spec.quantizer;
    this.rng = new Rng(options.seed);
  }

  /** The tokens `[T]` of the window starting at `offset` (scaled by its first C values). */
  windowTokens(offset: number): Int32Array {
    const s = meanScale(this.values, offset, offset + this.context);
    return quantize(this.values.subarray(offset, offset + this.seqLen), s, this.quantizer);
  }

  next(): TokenBatch {
    const inputIds = new Int32Array(this.batch * this.seqLen);
    const span = this.values.length - this.seqLen + 1;
    for (let b = 0; b < this.batch; b++) inputIds.set(this.windowTokens(this.rng.int(span)), b * this.seqLen);
    this.drawn++;
    return { inputIds, batch: this.batch, seqLen: this.seqLen, attentionMask: null, labels: null };
  }

  state(): SamplerState {
    return { rng: this.rng.state(), batchesDrawn: this.drawn };
  }

  restore(state: SamplerState): void {
    optionsArg('ScaledWindowBatches.restore', state, 'batches.state()', false);
    if (!Number.isSafeInteger(state.batchesDrawn) || state.batchesDrawn < 0) {
      throw new ConfigError('sampler', `batchesDrawn must be a non-negative integer, got ${state.batchesDrawn}`);
    }
    this.rng = Rng.fromState(state.rng);
    this.drawn = state.batchesDrawn;
  }
}

/** Options of `sampleForecastPaths`. */
export interface SampleForecastOptions {
  /** H: steps to forecast (C + H ≤ T). */
  readonly horizon: number;
  /** N sample paths (≥ 1). */
  readonly samples: number;
  /** Path i samples with seed `seed + i`. */
  readonly seed: number;
  /** Sampling temperature (default 1: the model's own distribution). */
  readonly temperature?: number;
  /** Called after each path with the number done. */
  readonly onPath?: (done: number) => void;
}

/**
 * N forecast paths `[N][H]` (in the series' units) after `history` (see the file header), and the scale.
 * @throws ConfigError for a history shorter than C, C + H > T, or bad counts; whatever `generateTokens` throws.
 */
export function sampleForecastPaths(
  model: CausalLanguageModel,
  history: ArrayLike<number>,
  spec: Pick<ForecastModelSpec, 'window' | 'context' | 'quantizer'>,
  options: SampleForecastOptions,
): { paths: Float64Array[]; scale: number } {
  const { horizon: H, samples: N } = optionsArg('sampleForecastPaths', options, '{ horizon: 365, samples: 20, seed: 1 }', false);
  const C = spec.context;
  if (!Number.isSafeInteger(H) || H < 1) throw new ConfigError('horizon', `must be a positive integer, got ${describeValue(H)}`);
  if (!Number.isSafeInteger(N) || N < 1) throw new ConfigError('samples', `must be a positive integer, got ${describeValue(N)}`);
  if (C + H > spec.window) {
    throw new ConfigError(
      'context',
      `context ${C} + horizon ${H} exceeds the window ${spec.window}: the forecast would run past the trained positions`,
    );
  }
  if (history.length < C) throw new ConfigError('context', `${C} is longer than the ${history.length}-value history`);
  const ctx = Float64Array.from({ length: C }, (_, t) => history[history.length - C + t]!);
  const scale = meanScale(ctx);
  const prompt = quantize(ctx, scale, spec.quantizer);
  const paths: Float64Array[] = [];
  for (let i = 0; i < N; i++) {
    const ids = [
      ...generateTokens(model, prompt, {
        maxNewTokens: H,
        seed: options.seed + i,
        window: spec.window,
        temperature: options.temperature ?? 1,
      }),
    ];
    paths.push(dequantize(ids, scale, spec.quantizer));
    options.onPath?.(i + 1);
  }
  return { paths, scale };
}
