/**
 * Attention-probability dropout as a stateless, counter-based mask (HF `lsh_attention_probs_dropout_prob`,
 * `local_attention_probs_dropout_prob`: `nn.functional.dropout` on the attention probabilities after the
 * softmax and before `P·V`).
 *
 * The keep/drop decision of query row `i` and window slot `w` of one `chunkAttention*` call is a pure
 * function of `(seed, i, w)`:
 *
 *   key_i    = fmix32(seed XOR (i · 0x9E3779B1 mod 2^32))
 *   bits_iw  = fmix32(key_i + w · 0x27D4EB2F mod 2^32)           (murmur3's 32-bit finaliser)
 *   keep     ⇔ bits_iw ≥ threshold,   threshold = floor(prob · 2^32)
 *   p'_iw    = keep ? p_iw / (1 − prob) : 0                       (inverted dropout, as torch)
 *
 * `i` is the row index in the call's rows (0 … n−1, whatever chunk range is processed), `w` the slot in
 * the row's key window `(before + 1 + after)·chunkLength` (a key seen twice through wrap-around has two
 * slots, as in HF's `_look_adjacent` layout). So the mask does not depend on how the work is split into
 * chunk ranges or threads, and the backward (and a reversible recompute) replays it from the seed alone.
 * The WASM kernel (assembly/attention.ts) computes exactly the same bits. A threshold of 0
 * (prob < 2^-32) means no dropout.
 *
 * HF draws its masks from torch's global generator; that stream cannot be reproduced here, so training
 * with attention dropout matches HF in distribution only (fixtures use dropout 0).
 */

/** murmur3 32-bit finaliser (a bijection of u32 with full avalanche). */
export function fmix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Per-row key of the mask (see the file header). */
export function dropoutRowKey(seed: number, row: number): number {
  return fmix32((seed ^ Math.imul(row, 0x9e3779b1)) >>> 0);
}

/** The 32 random bits of slot `slot` of a row with key `rowKey`. */
export function dropoutSlotBits(rowKey: number, slot: number): number {
  return fmix32((rowKey + Math.imul(slot, 0x27d4eb2f)) >>> 0);
}

/** `floor(prob · 2^32)` clamped to u32: slots whose bits are below it are dropped. */
export function dropoutThreshold(prob: number): number {
  return Math.min(0xffffffff, Math.floor(prob * 4294967296));
}

/**
 * Fills `out[w]` (w < window) with the factor of row `row`'s slot w: `1/(1 − prob)` if kept, 0 if dropped.
 * (The reference backend multiplies probabilities by these factors.)
 */
export function attentionDropoutRow(out: Float64Array, window: number, prob: number, seed: number, row: number): void {
  const threshold = dropoutThreshold(prob);
  if (threshold === 0) {
    out.fill(1, 0, window);
    return;
  }
  const scale = 1 / (1 - prob);
  const key = dropoutRowKey(seed >>> 0, row);
  for (let w = 0; w < window; w++) out[w] = dropoutSlotBits(key, w) >= threshold ? scale : 0;
}

/**
 * Seed of one `chunkAttention*` call from a layer's seed and the call's index (e.g. `b·heads + h`), so
 * every (batch element, head) of a layer draws an independent mask.
 */
export function attentionDropoutCallSeed(layerSeed: number, index: number): number {
  return fmix32((Math.imul(layerSeed >>> 0, 0x2c1b3c6d) + Math.imul(index + 1, 0x297a2d39)) >>> 0);
}
