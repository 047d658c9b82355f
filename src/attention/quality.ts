/**
 * Attention-quality report: how close LSH attention comes to exact full attention, per number of hash
 * rounds (the paper's Table 2 / Fig. 4 question "how many rounds are enough?", measured on one input).
 *
 * For each `num_hashes` value R the LSH module runs with fresh rotations from `rng` (or the config's
 * `hash_seed`), and is compared with the exact oracle (same shared-QK conventions and masks, float64):
 * - output error over the real (unpadded) query positions: relative RMS `‖o_lsh − o‖ / ‖o‖` and max |·|;
 * - attention-mass recall: for each real query i, `Σ_{j ∈ S_i} p_ij` where p is the exact softmax and
 *   S_i the keys LSH let i attend to (any round's chunk window; in paper-exact mode only the keys
 *   sharing i's bucket in that round). 1 means LSH saw every key that matters.
 *
 * The exact probabilities of every (batch, head) are computed once (float64 `[L, L]` each, shared by all
 * rows) and the exact output is taken from them (`o_i = Σ_j p_ij v_j`, the oracle's formula).
 * O(L²·d) time and O(batch·heads·L²) memory: an analysis tool, not a training path.
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { arrayLikeArg, backendArg, describeValue, dimsArg, int32Arg, objectArg, optionsArg } from '../util/args.js';
import type { Rng } from '../util/rng.js';
import { attentionConfigArg, type AttentionConfig } from './config.js';
import type { LshAttentionCache } from './lsh.js';
import { lshSelfAttentionForward, type LshSelfAttentionWeights } from './lsh-module.js';
import { exactSharedQkProbabilities, type SharedQkOracleParams } from './oracle.js';

export interface AttentionQualityOptions {
  batch: number;
  seqLen: number;
  /** The `num_hashes` values to report, e.g. [1, 2, 4, 8]. */
  numHashesList: readonly number[];
  /** `[batch, seqLen]`, 1 = real token, 0 = padding. */
  attentionMask?: ArrayLike<number> | null;
  /** Source of the rotations (each row draws its own), unless the config sets `hash_seed`. */
  rng?: Rng | null;
  /** Overrides `is_decoder`. */
  isDecoder?: boolean;
  /** Paper-exact LSH (App. A) instead of HF's. */
  paperExact?: boolean;
}

export interface AttentionQualityRow {
  numHashes: number;
  /** ‖o_lsh − o_exact‖₂ / ‖o_exact‖₂ over real query positions, all heads. */
  relativeRmsError: number;
  /** max |o_lsh − o_exact| over real query positions. */
  maxAbsError: number;
  /** Mean over real queries (and heads) of the exact softmax mass inside the attended set. */
  meanMassRecall: number;
  /** Smallest such mass. */
  minMassRecall: number;
  /** Mean number of distinct key positions a query attended to. */
  meanAttendedKeys: number;
}

/**
 * One row per `numHashesList` entry (same order).
 * @param x `[batch, seqLen, hidden_size]`; weights as `LSHSelfAttention` (`query_key.weight`, `value.weight`).
 * @throws as `lshSelfAttentionForward` (e.g. UsageError without `rng` or `hash_seed`); ConfigError
 *   (`backend`, `config`, `weights` or `options` not given), ShapeError (`numHashesList` not an array).
 */
export function attentionQualityReport(
  be: Backend,
  cfg: AttentionConfig,
  weights: LshSelfAttentionWeights,
  x: Float,
  options: AttentionQualityOptions,
): AttentionQualityRow[] {
  const where = 'attentionQualityReport';
  backendArg(where, be);
  attentionConfigArg(where, cfg);
  objectArg(where, 'weights', weights, 'the LSHSelfAttention weights (query_key.weight, value.weight)');
  optionsArg(where, options, '{ batch: 1, seqLen: 256, numHashesList: [1, 2, 4, 8], rng }', false);
  arrayLikeArg(where, 'options.numHashesList', options.numHashesList, 'an array of num_hashes values such as [1, 2, 4, 8]');
  const { batch: B, seqLen: L } = options;
  const mask = options.attentionMask ?? null;
  const rows: AttentionQualityRow[] = [];
  let exact: Float64Array | null = null;
  const probs = new Map<number, Float64Array>(); // (b·H + h) → [L, L] exact probabilities
  /** Exact probabilities of (b, h) (computed once). */
  const probsOf = (oracle: SharedQkOracleParams, b: number, h: number): Float64Array => {
    let p = probs.get(b * oracle.heads + h);
    if (!p) {
      p = exactSharedQkProbabilities(oracle, b, h);
      probs.set(b * oracle.heads + h, p);
    }
    return p;
  };
  for (const R of options.numHashesList) {
    const r = lshSelfAttentionForward(be, cfg, weights, x, {
      batch: B,
      seqLen: L,
      numHashes: R,
      attentionMask: mask,
      rng: options.rng ?? null,
      paperExact: options.paperExact ?? false,
      ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
    });
    const c = r.cache.attention;
    const H = c.heads;
    const all = H * c.headSize;
    const oracle = {
      qk: c.qk,
      v: c.v,
      batch: B,
      seqLen: L,
      heads: H,
      headSize: c.headSize,
      causal: c.causal,
      attentionMask: mask,
    };
    exact ??= exactOutput(oracle, probsOf);
    // output error over real queries
    let num = 0;
    let den = 0;
    let maxAbs = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) {
        if (mask && mask[b * L + t] === 0) continue;
        for (let j = 0; j < all; j++) {
          const i = (b * L + t) * all + j;
          const e = r.out[i]! - exact[i]!;
          num += e * e;
          den += exact[i]! * exact[i]!;
          maxAbs = Math.max(maxAbs, Math.abs(e));
        }
      }
    }
    // attention-mass recall
    let recallSum = 0;
    let recallMin = Infinity;
    let keysSum = 0;
    let queries = 0;
    const seen = new Uint8Array(L);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const p = probsOf(oracle, b, h);
        for (let t = 0; t < L; t++) {
          if (mask && mask[b * L + t] === 0) continue;
          attendedKeys(c, b, h, t, seen);
          let mass = 0;
          let keys = 0;
          for (let j = 0; j < L; j++) {
            if (!seen[j]) continue;
            mass += p[t * L + j]!;
            keys++;
          }
          recallSum += mass;
          recallMin = Math.min(recallMin, mass);
          keysSum += keys;
          queries++;
        }
      }
    }
    rows.push({
      numHashes: R,
      relativeRmsError: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num),
      maxAbsError: maxAbs,
      meanMassRecall: queries ? recallSum / queries : 1,
      minMassRecall: queries ? Math.min(1, recallMin) : 1,
      meanAttendedKeys: queries ? keysSum / queries : 0,
    });
  }
  return rows;
}

/** Exact attention output `[batch, seqLen, heads·headSize]`: o_i = Σ_j p_ij v_j (float64, zero weights skipped). */
function exactOutput(o: SharedQkOracleParams, probsOf: (o: SharedQkOracleParams, b: number, h: number) => Float64Array): Float64Array {
  const { batch: B, seqLen: L, heads: H, headSize: d } = o;
  const all = H * d;
  const out = new Float64Array(B * L * all);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const p = probsOf(o, b, h);
      for (let i = 0; i < L; i++) {
        const oo = (b * L + i) * all + h * d;
        for (let j = 0; j < L; j++) {
          const w = p[i * L + j]!;
          if (w === 0) continue;
          const vo = (b * L + j) * all + h * d;
          for (let c = 0; c < d; c++) out[oo + c] = out[oo + c]! + w * o.v[vo + c]!;
        }
      }
    }
  }
  return out;
}

/** What the window rule reads of an LSH forward (an `LshAttentionCache` has it all). */
export type LshWindowSource = Pick<
  LshAttentionCache,
  'seqLen' | 'heads' | 'numHashes' | 'chunk' | 'sorted' | 'undoSorted' | 'paperExact' | 'buckets'
>;

/**
 * Checks the arguments of the window rule (O(1)): a window source, and (b, h, t) inside it.
 * @throws ShapeError naming the bad argument.
 */
function windowArgs(where: string, c: LshWindowSource, b: number, h: number, t: number): void {
  const what = 'an LshAttentionCache (the cache of lshAttentionForward)';
  dimsArg(where, 'source', c, ['seqLen', 'heads', 'numHashes'], what);
  dimsArg(where, 'source.chunk', c.chunk, ['chunkLength'], 'a chunking {chunkLength, numChunksBefore, numChunksAfter}');
  int32Arg(where, 'source.sorted', c.sorted);
  int32Arg(where, 'source.undoSorted', c.undoSorted);
  const slots = c.heads * c.numHashes * c.seqLen;
  for (const [name, v, n] of [
    ['b', b, c.undoSorted.length / slots],
    ['h', h, c.heads],
    ['t', t, c.seqLen],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new ShapeError(`${where}: ${name} must be an integer in [0, ${n}) (the source's shape), got ${String(v)}`);
    }
  }
}

/**
 * The chunks query t of (b, h) attends to in each round: the index of its chunk in the sorted sequence
 * of numHashes·seqLen slots and the window's chunk indices in order (HF `_look_adjacent`: chunks
 * −before … +after, wrapping over all rounds).
 * @throws ShapeError for a source that is not an LSH forward's cache or (b, h, t) outside it.
 */
export function lshQueryWindows(c: LshWindowSource, b: number, h: number, t: number): Array<{ chunk: number; window: number[] }> {
  windowArgs('lshQueryWindows', c, b, h, t);
  return queryWindows(c, b, h, t);
}

function queryWindows(c: LshWindowSource, b: number, h: number, t: number): Array<{ chunk: number; window: number[] }> {
  const L = c.seqLen;
  const R = c.numHashes;
  const base = (b * c.heads + h) * R * L;
  const { chunkLength, numChunksBefore, numChunksAfter } = c.chunk;
  const numChunks = (R * L) / chunkLength;
  const out: Array<{ chunk: number; window: number[] }> = [];
  for (let n = 0; n < R; n++) {
    const chunk = Math.floor(c.undoSorted[base + n * L + t]! / chunkLength); // chunk of (round n, position t)
    const window: number[] = [];
    for (let o = -numChunksBefore; o <= numChunksAfter; o++) window.push((((chunk + o) % numChunks) + numChunks) % numChunks);
    out.push({ chunk, window });
  }
  return out;
}

/**
 * Marks in `seen` (length seqLen) the key positions query t of (b, h) attended to: the union over rounds
 * of its chunk windows (`lshQueryWindows`), restricted to its bucket in paper-exact mode.
 * @throws ShapeError for a source that is not an LSH forward's cache, (b, h, t) outside it, or `seen`
 *   not a Uint8Array of seqLen.
 */
export function lshAttendedKeys(c: LshWindowSource, b: number, h: number, t: number, seen: Uint8Array): void {
  windowArgs('lshAttendedKeys', c, b, h, t);
  if (!(seen instanceof Uint8Array) || seen.length !== c.seqLen) {
    throw new ShapeError(`lshAttendedKeys: seen must be a Uint8Array of seqLen = ${c.seqLen} elements, got ${describeValue(seen)}`);
  }
  attendedKeys(c, b, h, t, seen);
}

function attendedKeys(c: LshWindowSource, b: number, h: number, t: number, seen: Uint8Array): void {
  const L = c.seqLen;
  const base = (b * c.heads + h) * c.numHashes * L;
  const c0 = c.chunk.chunkLength;
  seen.fill(0);
  for (const [n, { window }] of queryWindows(c, b, h, t).entries()) {
    for (const kc of window) {
      for (let s = kc * c0; s < (kc + 1) * c0; s++) {
        const i = c.sorted[base + s]!; // i = n'·L + j
        const j = i % L;
        if (c.paperExact && c.buckets) {
          const keyRound = (i - j) / L;
          if (keyRound !== n || c.buckets[base + n * L + j] !== c.buckets[base + n * L + t]) continue;
        }
        seen[j] = 1;
      }
    }
  }
}
