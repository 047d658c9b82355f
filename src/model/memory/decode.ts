/**
 * Memory of cached incremental decoding (model/decode.ts): the cache itself, which lives in plain
 * typed arrays outside the backend (it must outlive every `be.scope` of the steps), and what the
 * prompt pass adds to an evaluation forward in the backend's memory (each layer's input projected into
 * the cache, block by block of rows; the rotations drawn up front). A step holds one row of everything.
 *
 * Per position the cache holds, for every LSH layer, k̂ and v (2·heads·headSize floats) and the
 * buckets and sorted lists of every (head, round) (2·heads·num_hashes ints); a local layer holds a
 * ring of (local_num_chunks_before + 1)·local_attn_chunk_length positions, whatever the context.
 * So the cache is O(LSH layers · context · heads·headSize), the same order as one residual stream.
 */
import { lshChunkSpec } from '../../attention/config.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { intArg } from '../../util/args.js';
import { requireReformerConfig } from '../validate-inputs.js';
import type { Dims, Tally } from './tally.js';
import { chunkAt, rotationHalf } from './tally.js';

/** Rows the prompt pass projects into the cache at a time (bounds its temporaries). */
export const PROMPT_CAPTURE_BLOCK_ROWS = 1024;

/** The JS memory cached decoding may take unless told otherwise (`DecodeOptions.maxCacheBytes`; check.ts `checkDecodeCache`): 4 GiB. */
export const DEFAULT_MAX_CACHE_BYTES = 4 * 2 ** 30;

/**
 * Bytes of the decode cache holding `positions` positions (`f64`: a float64 backend's 8-byte floats).
 * @throws ConfigError unless `cfg` is a `ReformerConfig` and `positions` an integer ≥ 0.
 */
export function decodeCacheBytes(cfg: ReformerConfig, positions: number, f64 = false): number {
  requireReformerConfig(cfg, 'decodeCacheBytes');
  intArg('decodeCacheBytes', 'positions', positions);
  const fb = f64 ? 8 : 4;
  const all = cfg.num_attention_heads * cfg.attention_head_size;
  let bytes = 0;
  for (const type of cfg.attn_layers) {
    if (type === 'lsh') {
      bytes += 2 * positions * all * fb + 2 * cfg.num_attention_heads * cfg.num_hashes * positions * 4;
      bytes += (cfg.lsh_attn_chunk_length + 1) * all * fb; // raw qk rows of a short prompt (dropped once hashed)
    } else {
      bytes += 2 * (cfg.local_num_chunks_before + 1) * cfg.local_attn_chunk_length * all * fb;
    }
  }
  return bytes;
}

/**
 * What the prompt pass adds to the evaluation forward of layer `type` (estimate.ts calls this at the
 * start of each layer, where decode.ts's `onAttentionInput` runs): a scope with one block of rows of
 * LayerNorm and projections.
 */
export function promptCaptureTally(t: Tally, m: Dims, type: 'lsh' | 'local', seqLen: number): void {
  const n = Math.min(seqLen, PROMPT_CAPTURE_BLOCK_ROWS);
  t.scope(() => {
    t.buf(n * m.D); // LayerNorm(x) rows
    t.bufs(2, n); // mean, rstd
    t.bufs(2, n * m.all); // qk (or k) and v
    if (type === 'lsh') {
      t.buf(n * m.all); // k̂
      t.buf(n * m.H); // rms statistics
    }
    t.scratch(m.scratch); // the projections' GEMM
  });
}

/** The rotations the prompt pass draws up front and the model's copies of them (injected rotations). */
export function promptRotationsTally(t: Tally, m: Dims): void {
  const lsh = m.cfg.attn_layers.filter((x) => x === 'lsh').length;
  if (lsh === 0 || chunkAt(lshChunkSpec(m.cfg), m.L).short) return;
  t.bufs(2 * lsh, m.H * m.d * m.R * rotationHalf(m));
}
