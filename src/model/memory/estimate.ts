/**
 * Peak memory of a forward or a training step, estimated before running it, and the check that refuses
 * a run that cannot fit (paper Sec. 3 and Table 3: what a Reformer keeps is O(b·l·d_model) plus the
 * temporaries of one layer; a Transformer that stores activations keeps O(b·l·d_ff) per layer).
 *
 * The estimate replays the model's allocation sequence on a counter instead of a backend: the same
 * buffers, in the same order, freed where `be.scope` frees them (`Tally`, tally.ts; the building blocks in
 * blocks.ts). Its peak is what the WASM arena's high-water mark reaches (`Arena.peakBytes`), up to kernel
 * scratch: the chunk attention's is counted exactly per thread, the GEMM's with a fixed allowance per
 * call (the packed GEMM's panels). Everything is f32/i32: 4 bytes, each
 * buffer rounded up to the arena's 64-byte alignment.
 *
 * Paths modelled (they are the ones `ReformerModelWithLMHead` runs):
 *   - 'forward': the evaluation loss (`loss()`), streamed (src/attention/block.ts, `forwardRows`): the two
 *     residual streams, per-head / per-block temporaries, the output in row blocks. With
 *     `materializeOutput`, `ReformerModel.forward()` instead (whole output + embedding copy).
 *   - 'train': `lossAndGrad()` / `forwardBackward()`: training forward (reversible: nothing kept but
 *     the LSH buckets; store: every layer's inputs and caches), the streamed head and its backward,
 *     then the layers' backward (reversible: one layer's recompute + backward at a time). With
 *     `materializeOutput`, a training `ReformerModel.forward()` followed by its `backward()` (the whole
 *     output, the caller's dOutput and the embedding copy are held as well).
 * With `head: false` the bare encoder `ReformerModel` (`forwardRows`, `trainRows`, `forward`,
 * `backward`): no LM-head parameters and no logits blocks.
 *
 * Host-resident streams (`hostStreams: true`, issue 17; backend/host-streams.ts): the residual streams,
 * their gradients, dEmbedding, and in the reversible attention step F(X2), the LayerNorm output n and
 * d(n) are plain JS arrays (`hostBytes`); the WASM part (`bytes`) holds what the layers stream through
 * it: one head's work, one block's rows, the row and k blocks of the streamed GEMMs (host-tally.ts, the
 * `hostRows` branches of blocks.ts).
 *
 * Browser-safe (no Node imports): the CLI and the benchmarks compare the result with the machine's
 * memory; the model compares it with `Backend.maxBufferBytes` (4 GiB for WASM).
 */
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ConfigError } from '../../errors.js';
import { describeValue, intArg, optionsArg } from '../../util/args.js';
import { requireReformerConfig } from '../validate-inputs.js';
import { lshChunkSpec } from '../../attention/config.js';
import { chunkLengthRule } from '../lengths.js';
import { reformerParamSpecs } from '../param-specs.js';
import {
  attentionBackwardTally,
  attentionReverseBackwardTally,
  attentionTally,
  feedForwardTally,
  ffBackwardTally,
  ffReverseBackwardTally,
  outputTally,
} from './blocks.js';
import { promptCaptureTally, promptRotationsTally } from './decode.js';
import { hostEmbeddingBackwardTally, hostForwardLayerTally, hostReverseBackwardTally, hostStreamBytes } from './host-tally.js';
import { chunkAt, GEMM_SCRATCH_BYTES, Tally, type Dims } from './tally.js';
import { blockRowsOf } from '../../backend/host-streams.js';

/** What is estimated: 'forward' = the evaluation loss (streamed), 'train' = one training step. */
export type MemoryMode = 'forward' | 'train';

/** The run whose peak memory `estimateMemory` estimates. */
export interface MemoryEstimateOptions {
  readonly batch: number;
  /** Tokens per sequence (before eval padding to the chunk-length multiple). */
  readonly seqLen: number;
  /** 'forward' = evaluation loss (streamed); 'train' = one training step (loss + gradients). */
  readonly mode: MemoryMode;
  /** Training only: reversible backward (default true) or store-activations. */
  readonly reversible?: boolean;
  /** Hash rounds per LSH layer (default: config.num_hashes). */
  readonly numHashes?: number;
  /** An attention mask with padding is passed (adds the mask buffers and HF's padding bucket). Default false. */
  readonly padding?: boolean;
  /** Threads of the WASM backend (each split kernel call takes its own scratch). Default 1. */
  readonly threads?: number;
  /** A trainer's AdamW moments (2 × the parameters) live in the same memory. Default false. */
  readonly optimizer?: boolean;
  /**
   * `ReformerModel.forward()` (whole [B, L, 2D] output and the embedding copy; in 'train' also the
   * caller's dOutput [B, L, 2D] for `backward()`) instead of the streamed output. Default false.
   */
  readonly materializeOutput?: boolean;
  /** The LM head's parameters and logits (`ReformerModelWithLMHead`). Default true; false = `ReformerModel`. */
  readonly head?: boolean;
  /** The call also returns the logits [B, L, vocab] (`logits()`, `forwardBackward({ returnLogits })`). Default false. */
  readonly logits?: boolean;
  /**
   * 'forward' only: the prompt pass of cached decoding (model/decode.ts), which projects every layer's
   * input into the cache and draws the LSH rotations up front (the cache itself is JS memory:
   * memory/decode.ts). Default false.
   */
  readonly promptCapture?: boolean;
  /**
   * The residual streams and their gradients live in host (JS) memory outside the WASM arena
   * (`ReformerOptions.hostStreams`); needs `reversible` in 'train' and no `materializeOutput`/`promptCapture`
   * beyond what the arena holds. Default false.
   */
  readonly hostStreams?: boolean;
  /** Rows per host ↔ arena block (`ReformerOptions.hostBlockRows`). Default 4096. */
  readonly hostBlockRows?: number;
}

/** Result of `estimateMemory`: bytes at the peak, and where it is reached. */
export interface MemoryEstimate {
  /** Estimated peak bytes of WASM (arena) memory, parameters and gradients included. */
  readonly bytes: number;
  /** Parameters + gradients (+ optimizer moments). */
  readonly parameterBytes: number;
  /** Plain JS typed arrays the run keeps besides (LSH buckets of a training forward, per-position statistics). */
  readonly jsBytes: number;
  /** Host-resident streams (`hostStreams`): bytes of the JS arrays that hold them at the peak; 0 otherwise. */
  readonly hostBytes: number;
  /** Sequence length the layers run on (eval pads to a multiple of the chunk lengths). */
  readonly paddedLen: number;
  /** Where the peak is reached, e.g. `backward of layer 1 (lsh)`. */
  readonly peakAt: string;
}

/**
 * Number of parameters of the bare encoder `ReformerModel` for this config.
 * @throws ConfigError unless `cfg` is a `ReformerConfig`.
 */
export function encoderParameterCount(cfg: ReformerConfig): number {
  requireReformerConfig(cfg, 'encoderParameterCount');
  let n = 0;
  for (const s of reformerParamSpecs(cfg, 'reformer.')) n += s.shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Number of parameters of `ReformerModelWithLMHead` for this config (the encoder's + the LM head's).
 * @throws ConfigError unless `cfg` is a `ReformerConfig`.
 */
export function lmParameterCount(cfg: ReformerConfig): number {
  requireReformerConfig(cfg, 'lmParameterCount');
  return encoderParameterCount(cfg) + cfg.vocab_size * 2 * cfg.hidden_size + cfg.vocab_size;
}

/**
 * Estimated peak memory of one LM forward (evaluation loss) or training step; see the file header.
 * Pure arithmetic: nothing is allocated, nothing is validated beyond what the sizes need.
 * @throws ConfigError unless `cfg` is a `ReformerConfig` and `options` has integer `batch`, `seqLen` ≥ 1
 *   and `mode` 'forward' or 'train'.
 */
export function estimateMemory(cfg: ReformerConfig, options: MemoryEstimateOptions): MemoryEstimate {
  requireReformerConfig(cfg, 'estimateMemory');
  optionsArg('estimateMemory', options, "{ batch: 1, seqLen: 4096, mode: 'train' }", false);
  intArg('estimateMemory', 'batch', options.batch, 1);
  intArg('estimateMemory', 'seqLen', options.seqLen, 1);
  if (options.mode !== 'forward' && options.mode !== 'train') {
    throw new ConfigError('mode', `estimateMemory: must be 'forward' or 'train', got ${describeValue(options.mode)}`);
  }
  const { batch: B, seqLen, mode } = options;
  const { lcm, min } = chunkLengthRule(cfg);
  const L = seqLen % lcm !== 0 && seqLen > min ? seqLen + (lcm - (seqLen % lcm)) : seqLen;
  const threads = Math.max(1, options.threads ?? 1);
  const head = options.head ?? true;
  const materialize = options.materializeOutput ?? false;
  const dims: Dims = {
    cfg,
    B,
    L,
    rows: B * L,
    D: cfg.hidden_size,
    H: cfg.num_attention_heads,
    d: cfg.attention_head_size,
    all: cfg.num_attention_heads * cfg.attention_head_size,
    F: cfg.feed_forward_size,
    V: head ? cfg.vocab_size : 0, // no head: the output blocks go to the caller, no logits
    R: options.numHashes ?? cfg.num_hashes,
    mask: (options.padding ?? false) || L !== seqLen,
    threads,
    scratch: threads * GEMM_SCRATCH_BYTES,
  };
  const t = new Tally();
  const P = head ? lmParameterCount(cfg) : encoderParameterCount(cfg);
  t.phase('parameters', () => t.bufs(options.optimizer ? 4 : 2, P));
  const parameterBytes = t.live;
  if (options.logits) t.phase('logits', () => t.buf(B * seqLen * cfg.vocab_size));
  let jsBytes = 0;
  const host = options.hostStreams ?? false;
  if (host && mode === 'train' && options.reversible === false) {
    throw new ConfigError('hostStreams', 'estimateMemory: host-resident streams need the reversible backward (reversible: true)');
  }
  const hm = host ? { ...dims, hostRows: blockRowsOf(options.hostBlockRows) } : null;
  if (mode === 'forward') {
    jsBytes = forwardTally(t, dims, materialize, seqLen, options.promptCapture ?? false, hm);
  } else {
    jsBytes = trainTally(t, dims, options.reversible ?? true, materialize, seqLen, hm);
  }
  const hostBytes = hm ? hostStreamBytes(hm, mode, materialize) : 0;
  return { bytes: t.peak, parameterBytes, jsBytes, hostBytes, paddedLen: L, peakAt: t.peakAt };
}

// ------------------------------------------------------------------ evaluation (streamed)

function forwardTally(
  t: Tally,
  m: Dims,
  materialize: boolean,
  seqLen: number,
  decode: boolean,
  host: (Dims & { hostRows: number }) | null,
): number {
  const { D, B, L, cfg } = m;
  let js = 4 * L; // lshRoundCombine's validation: one Int32Array [L] of position stamps
  // ReformerModel.forward and the decode prompt pass capture the LSH buckets (a plain copy per layer); forwardRows does not
  const capture = (materialize || decode) && !chunkAt(lshChunkSpec(cfg), L).short;
  if (capture) js += cfg.attn_layers.filter((x) => x === 'lsh').length * B * m.H * m.R * L * 4;
  if (decode) t.phase('decode rotations', () => promptRotationsTally(t, m));
  embeddingsTally(t, m, materialize, host !== null);
  cfg.attn_layers.forEach((type, l) => {
    t.phase(`layer ${l} (${type}, streamed${host ? ', host streams' : ''})`, () => {
      if (decode) promptCaptureTally(t, m, type, seqLen);
      if (host) hostForwardLayerTally(t, host, type, capture && type === 'lsh' ? 'buckets' : 'none', false);
      else {
        attentionTally(t, m, type, capture && type === 'lsh' ? 'buckets' : 'none', false, false);
        feedForwardTally(t, m, false);
      }
    });
  });
  if (materialize) t.phase('output', () => t.buf(B * seqLen * 2 * D));
  t.phase(m.V > 0 ? 'final LayerNorm and LM head (streamed)' : 'final LayerNorm (streamed)', () => outputTally(t, m, false));
  return js;
}

/** ReformerModel.encode's embeddings: positions, ids, the two streams (host: arena temporaries), the mask copy. */
function embeddingsTally(t: Tally, m: Dims, materialize: boolean, host = false): void {
  const { rows, D, cfg } = m;
  const n = rows * D;
  t.phase('embeddings', () => {
    t.buf(rows); // positions
    t.buf(rows); // ids
    const streams = (): void => {
      t.buf(n); // X1
      t.buf(n); // X2
      if (cfg.axial_pos_embds) t.scope(() => t.buf(rows)); // axial digit index
    };
    if (host)
      t.scope(streams); // computed in the arena, copied out to the host streams
    else streams();
    if (materialize && !host) t.buf(n); // embedding copy
    if (m.mask) t.buf(rows);
  });
}

// ------------------------------------------------------------------ training

/**
 * `materialize`: `ReformerModel.forward({ training: true })` then `backward()`: the embedding copy, the
 * whole output and the caller's dOutput are held (dEmbedding is counted first, as the streamed step
 * does: an upper bound for the encoder, which allocates it in `backward`).
 */
function trainTally(
  t: Tally,
  m: Dims,
  reversible: boolean,
  materialize: boolean,
  seqLen: number,
  host: (Dims & { hostRows: number }) | null,
): number {
  const { rows, D, cfg, B } = m;
  const n = rows * D;
  const lshLayers = cfg.attn_layers.filter((x) => x === 'lsh').length;
  const shortLsh = chunkAt(lshChunkSpec(cfg), m.L).short;
  // JS: each LSH layer's buckets [B, H, R, L] kept for the reversible replay (store: in the caches)
  const js = (reversible && !shortLsh ? lshLayers * B * m.H * m.R * m.L * 4 : 0) + 4 * m.L;
  if (!host) t.phase('training step', () => t.buf(B * seqLen * D)); // dEmbedding (caller's scope)
  t.scope(() => {
    embeddingsTally(t, m, materialize, host !== null);
    cfg.attn_layers.forEach((type, l) => {
      t.phase(reversible ? `forward of layer ${l} (${type})` : `forward of layer ${l} (${type}, stored)`, () => {
        if (host) {
          hostForwardLayerTally(t, host, type, type === 'lsh' ? 'buckets' : 'none', true);
          return;
        }
        if (!reversible) t.buf(n); // Y1
        attentionTally(t, m, type, reversible ? (type === 'lsh' ? 'buckets' : 'none') : 'cache', false, true);
        if (!reversible) t.buf(n); // Y2
        feedForwardTally(t, m, !reversible);
      });
    });
    if (materialize) {
      t.phase('output', () => {
        t.buf(B * seqLen * 2 * D); // the forward's output
        outputTally(t, m, false);
      });
      t.phase('backward', () => t.buf(B * seqLen * 2 * D)); // the caller's dOutput
    }
    if (!host) t.bufs(2, n); // dY1, dY2
    t.phase(m.V > 0 ? 'final LayerNorm and LM head with backward (streamed)' : 'final LayerNorm with backward (streamed)', () =>
      outputTally(t, m, true),
    );
    for (let l = cfg.attn_layers.length - 1; l >= 0; l--) {
      const type = cfg.attn_layers[l]!;
      t.phase(`backward of layer ${l} (${type})`, () => {
        if (host) hostReverseBackwardTally(t, host, type);
        else if (reversible) {
          t.scope(() => ffReverseBackwardTally(t, m));
          attentionReverseBackwardTally(t, m, type);
        } else {
          ffBackwardTally(t, m);
          attentionBackwardTally(t, m, type);
        }
      });
    }
    t.phase('embedding backward', () => {
      if (host) {
        hostEmbeddingBackwardTally(t, host);
        return;
      }
      if (cfg.axial_pos_embds) t.scope(() => t.buf(rows));
      if (cfg.hidden_dropout_prob > 0) t.scope(() => t.buf(n));
    });
  });
  return js;
}
