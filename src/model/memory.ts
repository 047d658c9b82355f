/**
 * Peak memory of a forward or a training step, estimated before running it, and the check that refuses
 * a run that cannot fit (paper Sec. 3 and Table 3: what a Reformer keeps is O(b·l·d_model) plus the
 * temporaries of one layer; a Transformer that stores activations keeps O(b·l·d_ff) per layer).
 *
 * The estimate replays the model's allocation sequence on a counter instead of a backend: the same
 * buffers, in the same order, freed where `be.scope` frees them (see `Tally`). Its peak is what the
 * WASM arena's high-water mark reaches (`Arena.peakBytes`), up to kernel scratch, which is counted
 * with a fixed allowance per call (the packed GEMM's panels). Everything is f32/i32: 4 bytes, each
 * buffer rounded up to the arena's 64-byte alignment.
 *
 * Paths modelled (they are the ones `ReformerModelWithLMHead` runs):
 *   - 'forward': the evaluation loss (`loss()`), streamed (src/attention/lean.ts, `forwardRows`): the two
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
 * Browser-safe (no Node imports): the CLI and the benchmarks compare the result with the machine's
 * memory; the model compares it with `Backend.maxBufferBytes` (4 GiB for WASM).
 */
import {
  ATTENTION_DEFAULTS,
  autoNumBuckets,
  bucketCount,
  localChunkSpec,
  lshChunkSpec,
  rotationHalfSize,
  type ChunkSpec,
} from '../attention/config.js';
import { LEAN_BLOCK_ROWS } from '../attention/lean.js';
import type { Backend } from '../backend/backend.js';
import type { ReformerConfig } from '../config/reformer-config.js';
import { ResourceError } from '../errors.js';
import { FF_LEAN_BLOCK_ROWS } from '../nn/feed-forward.js';
import { chunkLengthRule, outputBlockRows, reformerParamSpecs } from './reformer-model.js';

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
}

/** Result of `estimateMemory`: bytes at the peak, and where it is reached. */
export interface MemoryEstimate {
  /** Estimated peak bytes of WASM (arena) memory, parameters and gradients included. */
  readonly bytes: number;
  /** Parameters + gradients (+ optimizer moments). */
  readonly parameterBytes: number;
  /** Plain JS typed arrays the run keeps besides (LSH buckets of a training forward, per-position statistics). */
  readonly jsBytes: number;
  /** Sequence length the layers run on (eval pads to a multiple of the chunk lengths). */
  readonly paddedLen: number;
  /** Where the peak is reached, e.g. `backward of layer 1 (lsh)`. */
  readonly peakAt: string;
}

/** Bytes of allocation alignment in the arena. */
const ALIGN = 64;
/** Allowance for one kernel call's scratch per thread: the packed GEMM's panels, (KC·NC + MC·KC + 32)·4 bytes. */
const GEMM_SCRATCH_BYTES = (256 * 2048 + 96 * 256 + 32) * 4;
/** Rows the LSH hashing kernel rotates at a time (assembly/hash.ts HASH_ROW_BLOCK upper bound used here). */
const HASH_ROW_BLOCK = 4096;

/**
 * Live-bytes counter with stack scopes, mirroring `Backend.floats/ints/scope` of the model code.
 */
class Tally {
  live = 0;
  peak = 0;
  peakAt = '';
  where = '';

  /** n floats or ints (4 bytes each), 64-byte aligned. */
  buf(n: number): void {
    this.live += Math.ceil((4 * Math.max(0, n)) / ALIGN) * ALIGN;
    this.bump();
  }

  /** n buffers of `size` elements. */
  bufs(count: number, size: number): void {
    for (let i = 0; i < count; i++) this.buf(size);
  }

  /** A transient of `bytes` (kernel scratch), freed at once. */
  scratch(bytes: number): void {
    this.scope(() => {
      this.live += Math.ceil(bytes / ALIGN) * ALIGN;
      this.bump();
    });
  }

  scope(fn: () => void): void {
    const mark = this.live;
    fn();
    this.live = mark;
  }

  /** Names the phase for `peakAt`. */
  phase(name: string, fn: () => void): void {
    const prev = this.where;
    this.where = name;
    fn();
    this.where = prev;
  }

  private bump(): void {
    if (this.live > this.peak) {
      this.peak = this.live;
      this.peakAt = this.where;
    }
  }
}

/** Sizes of one run. */
interface Dims {
  readonly cfg: ReformerConfig;
  readonly B: number;
  /** padded length */
  readonly L: number;
  readonly rows: number;
  readonly D: number;
  readonly H: number;
  readonly d: number;
  readonly all: number;
  readonly F: number;
  readonly V: number;
  readonly R: number;
  readonly mask: boolean;
  readonly threads: number;
  /** bytes of one kernel call's scratch over all threads */
  readonly scratch: number;
}

/** Effective chunking of an attention type at length L (the short path is one chunk of L). */
function chunkAt(spec: ChunkSpec, L: number): { c: number; before: number; after: number; short: boolean } {
  if (L <= spec.chunkLength) return { c: L, before: 0, after: 0, short: true };
  return { c: spec.chunkLength, before: spec.numChunksBefore, after: spec.numChunksAfter, short: false };
}

/** Number of parameters of the bare encoder `ReformerModel` for this config. */
export function encoderParameterCount(cfg: ReformerConfig): number {
  let n = 0;
  for (const s of reformerParamSpecs(cfg, 'reformer.')) n += s.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Number of parameters of `ReformerModelWithLMHead` for this config (the encoder's + the LM head's). */
export function lmParameterCount(cfg: ReformerConfig): number {
  return encoderParameterCount(cfg) + cfg.vocab_size * 2 * cfg.hidden_size + cfg.vocab_size;
}

/**
 * Estimated peak memory of one LM forward (evaluation loss) or training step; see the file header.
 * Pure arithmetic: nothing is allocated, nothing is validated beyond what the sizes need.
 */
export function estimateMemory(cfg: ReformerConfig, options: MemoryEstimateOptions): MemoryEstimate {
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
  if (mode === 'forward') {
    jsBytes = forwardTally(t, dims, materialize, seqLen);
  } else {
    jsBytes = trainTally(t, dims, options.reversible ?? true, materialize, seqLen);
  }
  return { bytes: t.peak, parameterBytes, jsBytes, paddedLen: L, peakAt: t.peakAt };
}

// ------------------------------------------------------------------ evaluation (streamed)

function forwardTally(t: Tally, m: Dims, materialize: boolean, seqLen: number): number {
  const { rows, D, B, L, cfg } = m;
  const n = rows * D;
  const js = 4 * L; // lshRoundCombine's validation: one Int32Array [L] of position stamps (src/backend/ops/rounds/params.ts)
  t.phase('embeddings', () => {
    t.buf(rows); // positions
    t.buf(rows); // ids
    t.buf(n); // X1
    t.buf(n); // X2
    if (cfg.axial_pos_embds) t.scope(() => t.buf(rows)); // axial digit index
    if (materialize) t.buf(n); // embedding copy
    if (m.mask) t.buf(rows);
  });
  cfg.attn_layers.forEach((type, l) => {
    t.phase(`layer ${l} (${type}, streamed)`, () => {
      t.scope(() => (type === 'lsh' ? leanLsh(t, m) : leanLocal(t, m)));
      leanFeedForward(t, m);
    });
  });
  if (materialize) t.phase('output', () => t.buf(B * seqLen * 2 * D));
  t.phase(m.V > 0 ? 'final LayerNorm and LM head (streamed)' : 'final LayerNorm (streamed)', () => outputTally(t, m, false));
  return js;
}

/** src/attention/lean.ts lshAddForward. */
function leanLsh(t: Tally, m: Dims): void {
  const { L, D, H, d, R: R0, cfg } = m;
  const k = chunkAt(lshChunkSpec(cfg), L);
  const R = k.short ? 1 : R0;
  if (!k.short) t.buf(H * d * R * rotationHalf(m)); // rotations
  const blockRows = Math.min(L, Math.max(k.c, LEAN_BLOCK_ROWS));
  t.buf(blockRows * D);
  t.bufs(2, blockRows);
  t.bufs(3, L * d); // qk_h, v_h, acc
  t.buf(2 * L); // stats (m, s) of the online softmax over rounds
  if (!k.short) t.buf(R * L); // buckets
  t.buf(R * L); // sorted
  const Q = Math.min(L / k.c, Math.max(1, Math.floor(LEAN_BLOCK_ROWS / k.c)));
  const ext = (Q + k.before + k.after) * k.c;
  t.buf(ext);
  if (m.mask) t.buf(ext);
  t.bufs(3, ext * d);
  t.buf(ext);
  t.buf(ext * d);
  t.buf(ext);
  t.scratch(Math.max(m.scratch, hashScratch(m, L), (R * bucketsPerRound(m) + 1) * 4 * m.threads));
}

/** src/attention/lean.ts localAddForward. */
function leanLocal(t: Tally, m: Dims): void {
  const { L, D, all, cfg } = m;
  const k = chunkAt(localChunkSpec(cfg), L);
  const Q = Math.min(L / k.c, Math.max(1, Math.floor(LEAN_BLOCK_ROWS / k.c)));
  const ext = (Q + k.before + k.after) * k.c;
  t.buf(ext);
  if (m.mask) t.buf(ext);
  t.bufs(2, ext * D);
  t.bufs(2, ext);
  t.bufs(4, ext * all);
  t.buf(ext);
  t.buf(Q * k.c * D);
  t.scratch(m.scratch);
}

/** nn/feed-forward.ts feedForwardAddForward. */
function leanFeedForward(t: Tally, m: Dims): void {
  const block = Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
  t.scope(() => {
    t.buf(block * m.D);
    t.scope(() => ffChunk(t, m, block));
  });
}

/** One feed-forward chunk's forward activations (forwardChunk): ln, statistics, h, a. */
function ffChunk(t: Tally, m: Dims, n: number): void {
  t.buf(n * m.D);
  t.bufs(2, n);
  t.bufs(2, n * m.F);
  t.scratch(m.scratch);
}

/** ReformerModel.outputRows + the LM head's loss (and with `grad`, their backward), per block. */
function outputTally(t: Tally, m: Dims, grad: boolean): void {
  const { D, V, L, cfg } = m;
  const block = Math.min(outputBlockRows(cfg), L);
  const nc = cfg.chunk_size_lm_head > 0 ? Math.min(cfg.chunk_size_lm_head, block) : block;
  t.scope(() => {
    t.buf(block); // iota
    t.scope(() => {
      t.bufs(2, block * 2 * D); // concat, h
      t.bufs(2, block); // LayerNorm statistics
      if (grad) t.buf(block * 2 * D); // dh
      t.scope(() => {
        t.bufs(2, nc * V); // logits, p
        t.buf(nc); // lse
        t.scratch(m.scratch);
      });
      if (grad) t.buf(block * 2 * D); // dConcat
    });
  });
}

// ------------------------------------------------------------------ training

/**
 * `materialize`: `ReformerModel.forward({ training: true })` then `backward()`: the embedding copy, the
 * whole output and the caller's dOutput are held (dEmbedding is counted first, as the streamed step
 * does: an upper bound for the encoder, which allocates it in `backward`).
 */
function trainTally(t: Tally, m: Dims, reversible: boolean, materialize: boolean, seqLen: number): number {
  const { rows, D, cfg, B } = m;
  const n = rows * D;
  const lshLayers = cfg.attn_layers.filter((x) => x === 'lsh').length;
  const shortLsh = chunkAt(lshChunkSpec(cfg), m.L).short;
  // JS: each LSH layer's buckets [B, H, R, L] kept for the reversible replay (store: in the caches)
  const js = reversible && !shortLsh ? lshLayers * B * m.H * m.R * m.L * 4 : 0;
  t.phase('training step', () => t.buf(B * seqLen * D)); // dEmbedding (caller's scope)
  t.scope(() => {
    t.phase('embeddings', () => {
      t.buf(rows);
      t.buf(rows);
      t.buf(n);
      t.buf(n);
      if (cfg.axial_pos_embds) t.scope(() => t.buf(rows));
      if (materialize) t.buf(n); // embedding copy
      if (m.mask) t.buf(rows);
    });
    if (reversible) {
      t.scope(() => {
        t.buf(n); // branch output
        cfg.attn_layers.forEach((type, l) => {
          t.phase(`forward of layer ${l} (${type})`, () => {
            t.scope(() => cachedAttention(t, m, type, false));
            ffForwardNotKept(t, m);
          });
        });
      });
    } else {
      cfg.attn_layers.forEach((type, l) => {
        t.phase(`forward of layer ${l} (${type}, stored)`, () => {
          t.buf(n); // F output
          cachedAttention(t, m, type, false);
          t.buf(n); // Y1
          t.buf(n); // G output
          const single = cfg.chunk_size_feed_forward <= 0 || cfg.chunk_size_feed_forward >= rows;
          if (single) {
            t.buf(n); // ln
            t.bufs(2, rows);
            t.bufs(2, rows * m.F); // h, a
            t.scratch(m.scratch);
          } else {
            t.scope(() => ffChunk(t, m, cfg.chunk_size_feed_forward));
          }
          t.buf(n); // Y2
        });
      });
    }
    if (materialize) {
      t.phase('output', () => {
        t.buf(B * seqLen * 2 * D); // the forward's output
        outputTally(t, m, false);
      });
      t.phase('backward', () => t.buf(B * seqLen * 2 * D)); // the caller's dOutput
    }
    t.bufs(2, n); // dY1, dY2
    t.phase(m.V > 0 ? 'final LayerNorm and LM head with backward (streamed)' : 'final LayerNorm with backward (streamed)', () =>
      outputTally(t, m, true),
    );
    if (reversible) t.buf(n); // branch output of the backward
    for (let l = cfg.attn_layers.length - 1; l >= 0; l--) {
      const type = cfg.attn_layers[l]!;
      t.phase(`backward of layer ${l} (${type})`, () => {
        if (reversible) {
          t.scope(() => ffReverseBackward(t, m));
          t.scope(() => {
            cachedAttention(t, m, type, true);
            attentionBackward(t, m, type);
          });
        } else {
          const single = cfg.chunk_size_feed_forward <= 0 || cfg.chunk_size_feed_forward >= rows;
          t.scope(() => {
            if (single) ffBackwardChunk(t, m, rows);
            else ffRecomputeBackward(t, m, cfg.chunk_size_feed_forward);
          });
          attentionBackward(t, m, type);
        }
      });
    }
    t.phase('embedding backward', () => {
      if (cfg.axial_pos_embds) t.scope(() => t.buf(rows));
      if (cfg.hidden_dropout_prob > 0) t.scope(() => t.buf(n));
    });
  });
  return js;
}

/** feedForwardForward with keep = false: blocks of rows, nothing kept. */
function ffForwardNotKept(t: Tally, m: Dims): void {
  const block = Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
  t.scope(() => ffChunk(t, m, block));
}

/** feedForwardReverseBackward: per block, out + forward activations + the chunk's backward. */
function ffReverseBackward(t: Tally, m: Dims): void {
  const block = Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
  t.scope(() => {
    t.buf(block * m.D);
    ffChunk(t, m, block);
    ffBackwardChunk(t, m, block);
  });
}

/** feedForwardBackward over stored activations of n rows (backwardChunk temporaries). */
function ffBackwardChunk(t: Tally, m: Dims, n: number): void {
  t.scope(() => {
    t.buf(n * m.D); // dz
    t.bufs(2, n * m.F); // da, dh
    t.buf(n * m.D); // dln
    t.scratch(m.scratch);
  });
}

/** feedForwardBackward without stored activations: recompute each chunk, then its backward. */
function ffRecomputeBackward(t: Tally, m: Dims, chunk: number): void {
  t.scope(() => {
    t.buf(chunk * m.D);
    ffChunk(t, m, chunk);
    ffBackwardChunk(t, m, chunk);
  });
}

/**
 * attentionBlockForward (cached): what stays allocated (the cache) and the per-head peak inside.
 * `replay`: a reversible recompute (buckets copied in, no rotations drawn).
 */
function cachedAttention(t: Tally, m: Dims, type: string, replay: boolean): void {
  const { rows, D, all, B, L, H, d } = m;
  t.buf(rows * D); // normed
  t.bufs(2, rows); // mean, rstd
  if (type === 'lsh') {
    const k = chunkAt(lshChunkSpec(m.cfg), L);
    const R = k.short ? 1 : m.R;
    const RL = R * L;
    t.bufs(2, rows * all); // qk, v
    if (m.mask) t.buf(rows);
    if (!k.short) {
      if (!replay) t.buf(H * d * R * rotationHalf(m)); // rotations (a replay has none)
      t.buf(B * H * RL); // buckets (drawn or replayed copy)
      t.scratch(Math.max(hashScratch(m, L), m.scratch));
    }
    t.bufs(2, B * H * RL); // sorted, undoSorted
    t.scratch((R * bucketsPerRound(m) + 1) * 4 * m.threads);
    t.bufs(2, B * H * L * R); // lse, weights
    t.buf(B * H * L * R * d); // outPerRound
    t.buf(rows * all); // out
    t.scope(() => {
      t.bufs(m.mask ? 3 : 2, RL); // pos, tMajor, keyValid
      t.bufs(3, RL * d); // qs, ks, vs
      t.buf(RL); // rstd
      t.buf(RL * d); // os
      t.buf(RL); // lseS
      t.buf(L); // zAll
      t.scratch(m.scratch);
    });
  } else {
    t.bufs(3, rows * all); // q, k, v
    if (m.mask) t.buf(rows);
    t.buf(rows * all); // kScaled
    t.buf(B * H * L); // lse
    t.buf(rows * all); // out
    t.scope(() => {
      t.buf(L);
      t.scratch(m.scratch);
    });
  }
  t.buf(rows * D); // block output
  t.scratch(m.scratch);
}

/** attentionBlockBackward (and the sub-layer's dropout copy). */
function attentionBackward(t: Tally, m: Dims, type: string): void {
  const { rows, D, all, L, cfg } = m;
  t.scope(() => {
    if (cfg.hidden_dropout_prob > 0) t.buf(rows * D);
    t.buf(rows * all); // dAttn
    t.buf(rows * D); // dNormed
    t.scratch(m.scratch);
    t.scope(() => {
      if (type === 'lsh') {
        const k = chunkAt(lshChunkSpec(cfg), L);
        const R = k.short ? 1 : m.R;
        const RL = R * L;
        t.bufs(2, rows * all); // dqk, dv
        t.scope(() => {
          t.bufs(m.mask ? 3 : 2, RL); // sortedRows
          t.buf(L * R); // dw
          t.buf(RL * m.d); // dOt
          t.buf(L * R); // dz
          t.buf(RL * m.d); // dOs
          t.bufs(2, RL); // dLseS, lseS
          t.bufs(3, RL * m.d); // qs, ks, vs
          t.buf(RL); // rstd
          t.bufs(3, RL * m.d); // dqs, dks, dvs
          t.scratch(m.scratch);
        });
        t.scratch(m.scratch);
      } else {
        t.bufs(3, rows * all); // dq, dk, dv
        t.scope(() => {
          t.buf(L);
          t.buf(rows * all); // dkScaled
          t.scratch(m.scratch);
        });
      }
    });
  });
}

function rotationHalf(m: Dims): number {
  const nb =
    m.cfg.num_buckets ??
    autoNumBuckets(m.L, lshChunkSpec(m.cfg).chunkLength, m.cfg.max_position_embeddings ?? ATTENTION_DEFAULTS.max_position_embeddings);
  return rotationHalfSize(nb);
}

function bucketsPerRound(m: Dims): number {
  if (chunkAt(lshChunkSpec(m.cfg), m.L).short) return 1;
  const nb =
    m.cfg.num_buckets ??
    autoNumBuckets(m.L, lshChunkSpec(m.cfg).chunkLength, m.cfg.max_position_embeddings ?? ATTENTION_DEFAULTS.max_position_embeddings);
  return bucketCount(nb) + (m.mask ? 1 : 0);
}

/** lshHash scratch: one block of rotated rows plus the GEMM's. */
function hashScratch(m: Dims, L: number): number {
  return Math.min(L, HASH_ROW_BLOCK) * m.R * rotationHalf(m) * 4 + m.scratch;
}

// ------------------------------------------------------------------ the check

/** Formats bytes as GiB with two decimals (MiB below 1 GiB). */
export function formatBytes(bytes: number): string {
  const gib = bytes / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The largest multiple of `step` ≤ `upTo` whose estimate fits `limit` (0 if none). */
function largestFitting(cfg: ReformerConfig, o: MemoryEstimateOptions, limit: number, step: number, upTo: number): number {
  let lo = 0;
  let hi = Math.floor(upTo / step);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (estimateMemory(cfg, { ...o, seqLen: mid * step }).bytes <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo * step;
}

/**
 * `checkMemory` against a backend's hard limit (`Backend.maxBufferBytes`, 4 GiB for WASM), with the
 * backend's thread count; nothing to check for a backend without a limit. Used by both models before
 * they allocate anything.
 * @throws ResourceError as `checkMemory`.
 */
export function checkBackendMemory(
  backend: Pick<Backend, 'name' | 'maxBufferBytes' | 'threads'>,
  cfg: ReformerConfig,
  options: Omit<MemoryEstimateOptions, 'threads'>,
): void {
  const limit = backend.maxBufferBytes;
  if (limit === undefined) return;
  checkMemory(
    cfg,
    { ...options, threads: backend.threads ?? 1 },
    limit,
    `the ${backend.name} backend's memory limit of one 32-bit WebAssembly memory`,
  );
}

/**
 * Throws ResourceError if the estimated peak of this run exceeds `limitBytes` (`what` names the limit,
 * e.g. 'the 4 GiB WASM memory'), with the numbers and ways out: the longest sequence and the largest
 * batch that fit, evaluation mode, the reversible backward, fewer threads.
 */
export function checkMemory(cfg: ReformerConfig, options: MemoryEstimateOptions, limitBytes: number, what: string): MemoryEstimate {
  const est = estimateMemory(cfg, options);
  if (est.bytes <= limitBytes) return est;
  const { lcm } = chunkLengthRule(cfg);
  const step = options.mode === 'train' ? lcm : Math.max(1, lcm);
  const ways: string[] = [];
  const fitLen = largestFitting(cfg, { ...options, batch: options.batch }, limitBytes, step, options.seqLen);
  if (fitLen > 0) {
    // training with axial position embeddings takes exactly product(axial_pos_shape) tokens
    const axial = options.mode === 'train' && cfg.axial_pos_embds ? ' (with axial_pos_shape changed to factors of it)' : '';
    ways.push(`a sequence length of at most ${fitLen}${axial}`);
  }
  if (options.batch > 1) {
    let b = options.batch - 1;
    while (b > 0 && estimateMemory(cfg, { ...options, batch: b }).bytes > limitBytes) b--;
    if (b > 0) ways.push(`a batch of at most ${b}`);
  }
  if (options.mode === 'train') {
    if (options.reversible === false && estimateMemory(cfg, { ...options, reversible: true }).bytes <= limitBytes)
      ways.push('the reversible backward (options.reversible: true)');
    const fwd = estimateMemory(cfg, { ...options, mode: 'forward' });
    if (fwd.bytes <= limitBytes) ways.push(`evaluation only (a forward needs ${formatBytes(fwd.bytes)})`);
  }
  if ((options.threads ?? 1) > 1 && estimateMemory(cfg, { ...options, threads: 1 }).bytes <= limitBytes) ways.push('one thread');
  const kind = options.mode === 'train' ? `a training step${options.reversible === false ? ' (store-activations)' : ''}` : 'a forward';
  throw new ResourceError(
    `${kind} of batch ${options.batch} × ${options.seqLen} tokens needs about ${formatBytes(est.bytes)} ` +
      `(${est.bytes} bytes, peak at ${est.peakAt}; parameters ${formatBytes(est.parameterBytes)}), more than ${what} ` +
      `(${formatBytes(limitBytes)}); ${ways.length > 0 ? `use ${ways.join(', or ')}` : 'use a smaller model'}`,
  );
}
