/**
 * Inverted dropout (`torch.nn.functional.dropout`): keep an element with probability 1 − p and scale
 * it by 1/(1 − p); drop it (0) otherwise.
 *
 * The mask is a pure function of `(seed, row, column)`: row r draws its columns from
 * `new Rng(rowSeed(seed, r))`. So a backward, a reversible recompute or a differently chunked pass
 * (feed-forward chunks, LM-head chunks) replays exactly the same mask from the seed alone; this is
 * the role of HF's saved per-layer seeds (`ReformerLayer._init_attention_seed` / `_init_feed_forward_seed`).
 * Rows are always numbered globally (`b·L + t`), never per chunk.
 */
import type { Float } from '../backend/backend.js';
import { Rng } from '../util/rng.js';

/** Seed of row `row` of a dropout site with seed `seed` (both 32-bit). */
export function rowSeed(seed: number, row: number): number {
  // two different odd multipliers so (seed, row) pairs do not collide trivially
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(row + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Applies the mask of site `seed` to x[rows, cols] in place (forward and backward are the same
 * operation: `dx = mask ⊙ dy / (1 − p)`). `firstRow` is the global index of x's first row.
 * No-op when p == 0.
 */
export function applyDropout(x: Float, rows: number, cols: number, p: number, seed: number, firstRow = 0): void {
  if (p === 0) return;
  const scale = 1 / (1 - p);
  // keep iff u32 ≥ p·2^32  (u uniform on [0, 2^32))
  const threshold = p * 4294967296;
  for (let r = 0; r < rows; r++) {
    const rng = new Rng(rowSeed(seed, firstRow + r));
    const o = r * cols;
    for (let j = 0; j < cols; j++) x[o + j] = rng.u32() >= threshold ? x[o + j]! * scale : 0;
  }
}

/**
 * Dropout of whole rows-groups: element (r, j) is kept iff `key(r, j)` is kept in a table of keys
 * drawn from one generator, e.g. HF's `dropout2d` over axial position embeddings, which drops the
 * whole embedding of a (batch, axis-1 index) pair. `keep[k]` is 0 or 1/(1 − p).
 */
export function dropoutKeepTable(n: number, p: number, seed: number): Float64Array {
  const keep = new Float64Array(n);
  const scale = p === 0 ? 1 : 1 / (1 - p);
  const threshold = p * 4294967296;
  const rng = new Rng(seed >>> 0);
  for (let k = 0; k < n; k++) keep[k] = p === 0 || rng.u32() >= threshold ? scale : 0;
  return keep;
}

/** Draws a fresh 32-bit dropout seed for one site from the model's generator. */
export function drawSeed(rng: Rng): number {
  return rng.u32();
}
