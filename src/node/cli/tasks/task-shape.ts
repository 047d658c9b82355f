/**
 * The model shape of the synthetic `reformer task` commands (duplication, passkey): the same six flags
 * (`--hidden --heads --layers --ff --lsh-chunk --local-chunk`) become the apps' model spec, and the
 * spec becomes the `model` record of results.json under HF's config names.
 */
import type { SmallModelSpec } from '../../../apps/small-model.js';

/** The shape flags as commander parses them. */
export interface ChunkedShapeFlags {
  readonly hidden: number;
  readonly heads: number;
  readonly layers: number;
  readonly ff: number;
  readonly lshChunk: number;
  readonly localChunk: number;
}

/** The apps' names of the same six sizes (apps/duplication-models.ts, apps/passkey-models.ts): layers and the small model's five. */
export type ChunkedShape = Pick<SmallModelSpec, 'hidden' | 'heads' | 'feedForward' | 'lshChunk' | 'localChunk'> & {
  readonly layers: number;
};

/** The model spec's shape of the flags (`--ff` → feedForward). No checks: the apps' spec checks throw ConfigError. */
export function chunkedShape(f: ChunkedShapeFlags): ChunkedShape {
  return { hidden: f.hidden, heads: f.heads, layers: f.layers, feedForward: f.ff, lshChunk: f.lshChunk, localChunk: f.localChunk };
}

/** results.json's `model` fields of a shape, under HF's config names (hidden_size, …, local_attn_chunk_length). */
export function chunkedShapeRecord(s: ChunkedShape) {
  return {
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    num_layers: s.layers,
    feed_forward_size: s.feedForward,
    lsh_attn_chunk_length: s.lshChunk,
    local_attn_chunk_length: s.localChunk,
  };
}
