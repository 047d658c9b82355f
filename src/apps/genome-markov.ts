/**
 * The order-k Markov baseline of the genome task (apps/genome.ts): p(x_t | x_{t−k} … x_{t−1}) from
 * counts of (k+1)-mers in the training region, over the 4 bases A, C, G, T (token ids 0…3; N = 4 is
 * never predicted and never a context letter). Plain, browser-safe TypeScript, written for this task.
 *
 * Counts. For every order j = 0…maxOrder, the keys `code_j(context)·4 + x` of all training positions
 * whose j preceding letters and target are bases are stored in one sorted Uint32Array (the context code
 * is base 4, nearest letter least significant, so a key has 2j + 2 bits: j ≤ 15). n(c, x) and
 * n(c) = Σ_x n(c, x) are ranges of equal keys, found by binary search (no 4^k table: at k = 14 that
 * would be 1 G entries; the sorted keys are one Uint32 per training position and order).
 *
 * Smoothing (both classic; the grid of strengths is searched on validation, never tuned on the test):
 * - `add-alpha` (Laplace for α = 1; Lidstone): p(x | c) = (n(c, x) + α) / (n(c) + 4α) at the order k.
 * - `interpolated` (hierarchical Dirichlet prior, "interpolated smoothing" of MacKay & Peto 1995, the
 *   recursion of PPM-style blending; Chen & Goodman 1998 Sec. 2 give the family):
 *     p_{−1}(x) = 1/4,   p_j(x | c_j) = (n(c_j, x) + β·p_{j−1}(x | c_{j−1})) / (n(c_j) + β),  j = 0…k
 *   where c_j is the last j letters: an unseen context falls back to the shorter one, smoothly.
 * At a position with fewer than k usable letters before it (the start of a region, or an N among them)
 * both use the longest context there is (order = the letters since the last N or the region start).
 *
 * Units: bits = −log2 p, summed over targets; bits per base = bits / targets.
 */
import { ConfigError } from '../errors.js';
import { int32Arg, intArg } from '../util/args.js';

/** Highest order the counts take: keys have 2k + 2 bits and must fit a Uint32. */
export const MARKOV_MAX_ORDER = 15;
/** The two smoothing rules (see the file header). */
export const MARKOV_SMOOTHINGS = ['add-alpha', 'interpolated'] as const;
export type MarkovSmoothing = (typeof MARKOV_SMOOTHINGS)[number];

/** α values searched for `add-alpha` (α = 1 is Laplace). */
export const ADD_ALPHA_GRID: readonly number[] = [16, 8, 4, 2, 1, 0.5, 0.1, 0.02];
/** β values searched for `interpolated` (β = pseudo-count given to the shorter context). */
export const INTERPOLATED_BETA_GRID: readonly number[] = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** One Markov model: order k, smoothing rule and its strength (α or β). */
export interface MarkovSetting {
  readonly order: number;
  readonly smoothing: MarkovSmoothing;
  /** α for `add-alpha`, β for `interpolated` (> 0). */
  readonly strength: number;
}

const POW4: number[] = Array.from({ length: MARKOV_MAX_ORDER + 1 }, (_, i) => 4 ** i);

/** First index of `keys` whose value is ≥ `key` (keys sorted ascending). */
function lowerBound(keys: Uint32Array, key: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** (k+1)-mer counts of a training region for every order 0…maxOrder (see the file header). */
export class MarkovCounts {
  readonly maxOrder: number;
  /** keys[j]: sorted `code_j · 4 + x` of every counted position, order j. */
  private readonly keys: Uint32Array[];

  private constructor(maxOrder: number, keys: Uint32Array[]) {
    this.maxOrder = maxOrder;
    this.keys = keys;
  }

  /**
   * Counts every order 0…maxOrder over `tokens` (base ids 0…3, N = 4; targets and contexts containing N
   * are skipped). Memory: one Uint32 per position and order (3.8 M bases, k ≤ 15: 240 MB).
   * @param tokens `[n]` base tokens of the training region (apps/genome.ts `baseTokens`).
   * @throws ShapeError unless an Int32Array; ConfigError('max_order') outside 0…15, ConfigError('tokens')
   *   for an id outside 0…4.
   */
  static fit(tokens: Int32Array, maxOrder: number): MarkovCounts {
    int32Arg('MarkovCounts.fit', 'tokens', tokens);
    checkOrder('max_order', maxOrder);
    const n = tokens.length;
    const keys = Array.from({ length: maxOrder + 1 }, () => new Uint32Array(n));
    const len = new Array<number>(maxOrder + 1).fill(0);
    for (let t = 0; t < n; t++) {
      const x = tokens[t]!;
      if (!(x >= 0 && x <= 4)) throw new ConfigError('tokens', `base ids must be 0…4 (A, C, G, T, N), got ${x} at ${t}`);
      if (x === 4) continue;
      let code = 0;
      for (let j = 0; j <= maxOrder; j++) {
        if (j > 0) {
          const b = t - j >= 0 ? tokens[t - j]! : 4;
          if (b > 3 || b < 0) break;
          code += b * POW4[j - 1]!;
        }
        const at = len[j]!;
        keys[j]![at] = code * 4 + x;
        len[j] = at + 1;
      }
    }
    return new MarkovCounts(
      maxOrder,
      keys.map((k, j) => k.slice(0, len[j]!).sort()),
    );
  }

  /** Positions counted at `order` (targets with `order` base letters before them). */
  total(order: number): number {
    return this.keys[order]!.length;
  }

  /** n(c, x) and n(c) for the context code `code` of `order` (see the file header). */
  counts(order: number, code: number, x: number): { nx: number; nc: number } {
    const keys = this.keys[order]!;
    const base = code * 4;
    const a = lowerBound(keys, base);
    if (a === keys.length || keys[a]! >= base + 4) return { nx: 0, nc: 0 };
    const b = lowerBound(keys, base + 4);
    const lo = x === 0 ? a : lowerBound(keys, base + x);
    const hi = x === 3 ? b : lowerBound(keys, base + x + 1);
    return { nx: hi - lo, nc: b - a };
  }
}

function checkOrder(field: string, k: number): void {
  if (!Number.isSafeInteger(k) || k < 0 || k > MARKOV_MAX_ORDER) {
    throw new ConfigError(field, `must be an integer order in 0…${MARKOV_MAX_ORDER} (keys of 2k + 2 bits fit a Uint32), got ${k}`);
  }
}

/** @throws ConfigError naming the field for an order above the counts', an unknown smoothing or a strength ≤ 0. */
export function checkMarkovSetting(s: MarkovSetting, maxOrder: number): void {
  checkOrder('order', s.order);
  if (s.order > maxOrder) throw new ConfigError('order', `${s.order} is above the counts' max order ${maxOrder}`);
  if (!(MARKOV_SMOOTHINGS as readonly string[]).includes(s.smoothing)) {
    throw new ConfigError('smoothing', `must be one of ${MARKOV_SMOOTHINGS.join(', ')}, got ${String(s.smoothing)}`);
  }
  if (!(typeof s.strength === 'number' && s.strength > 0 && Number.isFinite(s.strength))) {
    throw new ConfigError('strength', `α / β must be a positive number, got ${String(s.strength)}`);
  }
}

/**
 * The next-base distribution at position t of `tokens` (the reference path; `MarkovStats` is the fast one).
 * Context: tokens[max(0, t − k) … t − 1], cut after the last N.
 * @returns `[4]` probabilities of A, C, G, T (sum 1).
 * @throws ConfigError for a bad setting or t outside the tokens.
 */
export function markovDistribution(counts: MarkovCounts, tokens: Int32Array, t: number, s: MarkovSetting): Float64Array {
  int32Arg('markovDistribution', 'tokens', tokens);
  checkMarkovSetting(s, counts.maxOrder);
  intArg('markovDistribution', 't', t, 0);
  if (t >= tokens.length) throw new ConfigError('t', `position ${t} is outside the ${tokens.length} tokens`);
  const avail = usableOrder(tokens, 0, t, s.order);
  const codes = contextCodes(tokens, t, avail);
  const p = new Float64Array(4);
  for (let x = 0; x < 4; x++) {
    if (s.smoothing === 'add-alpha') {
      const { nx, nc } = counts.counts(avail, codes[avail]!, x);
      p[x] = (nx + s.strength) / (nc + 4 * s.strength);
    } else {
      let q = 0.25;
      for (let j = 0; j <= avail; j++) {
        const { nx, nc } = counts.counts(j, codes[j]!, x);
        q = (nx + s.strength * q) / (nc + s.strength);
      }
      p[x] = q;
    }
  }
  return p;
}

/** Letters usable as context before t: at most k, none before `start`, none at or before an N. */
function usableOrder(tokens: Int32Array, start: number, t: number, k: number): number {
  let j = 0;
  while (j < k && t - j - 1 >= start && tokens[t - j - 1]! <= 3) j++;
  return j;
}

/** codes[j] = context code of order j at t, j = 0…order. */
function contextCodes(tokens: Int32Array, t: number, order: number): number[] {
  const codes = [0];
  for (let j = 1; j <= order; j++) codes.push(codes[j - 1]! + tokens[t - j]! * POW4[j - 1]!);
  return codes;
}

/**
 * n(c_j, x_t) and n(c_j) of every scored position of a region for every order 0…maxOrder, looked up once,
 * so a grid of settings is scored by arithmetic alone. Scored targets: positions 1…n−1 of the region
 * whose base is not N (the first one has no context: the model does not score it either).
 */
export class MarkovStats {
  readonly targets: number;
  readonly maxOrder: number;
  /** Usable order at each target (≤ maxOrder). */
  private readonly avail: Uint8Array;
  /** [order][target] counts. */
  private readonly nx: Uint32Array[];
  private readonly nc: Uint32Array[];

  /**
   * @param region `[n]` base tokens of the scored region (contexts never reach before its start).
   * @throws ShapeError unless an Int32Array.
   */
  constructor(counts: MarkovCounts, region: Int32Array, onProgress?: (done: number, total: number) => void) {
    int32Arg('MarkovStats', 'region', region);
    const K = counts.maxOrder;
    this.maxOrder = K;
    const positions: number[] = [];
    for (let t = 1; t < region.length; t++) if (region[t]! <= 3 && region[t]! >= 0) positions.push(t);
    const m = positions.length;
    this.targets = m;
    this.avail = new Uint8Array(m);
    this.nx = Array.from({ length: K + 1 }, () => new Uint32Array(m));
    this.nc = Array.from({ length: K + 1 }, () => new Uint32Array(m));
    for (let i = 0; i < m; i++) {
      const t = positions[i]!;
      const a = usableOrder(region, 0, t, K);
      this.avail[i] = a;
      const codes = contextCodes(region, t, a);
      for (let j = 0; j <= a; j++) {
        const { nx, nc } = counts.counts(j, codes[j]!, region[t]!);
        this.nx[j]![i] = nx;
        this.nc[j]![i] = nc;
      }
      if (onProgress && (i % 65536 === 65535 || i === m - 1)) onProgress(i + 1, m);
    }
  }

  /**
   * Total bits −Σ log2 p(x_t) of the region's targets under setting s.
   * @throws ConfigError for a bad setting.
   */
  bits(s: MarkovSetting): number {
    checkMarkovSetting(s, this.maxOrder);
    let nats = 0;
    const b = s.strength;
    for (let i = 0; i < this.targets; i++) {
      const k = Math.min(s.order, this.avail[i]!);
      if (s.smoothing === 'add-alpha') {
        nats -= Math.log((this.nx[k]![i]! + b) / (this.nc[k]![i]! + 4 * b));
      } else {
        let q = 0.25;
        for (let j = 0; j <= k; j++) q = (this.nx[j]![i]! + b * q) / (this.nc[j]![i]! + b);
        nats -= Math.log(q);
      }
    }
    return nats / Math.LN2;
  }

  /** bits(s) / targets. */
  bitsPerBase(s: MarkovSetting): number {
    return this.targets === 0 ? NaN : this.bits(s) / this.targets;
  }
}

/** The best setting of one order on a region, per smoothing rule. */
export interface MarkovOrderResult {
  readonly order: number;
  readonly addAlpha: { readonly alpha: number; readonly bitsPerBase: number };
  readonly interpolated: { readonly beta: number; readonly bitsPerBase: number };
}

/**
 * Grid search on a validation region: for every order 0…maxOrder and both smoothing rules, the strength of
 * the grids (`ADD_ALPHA_GRID`, `INTERPOLATED_BETA_GRID`) with the fewest bits; `best` is the overall
 * minimum (ties: the lower order, then add-alpha, then the first strength of the grid).
 */
export function selectMarkov(stats: MarkovStats): { perOrder: MarkovOrderResult[]; best: MarkovSetting & { bitsPerBase: number } } {
  const perOrder: MarkovOrderResult[] = [];
  let best: (MarkovSetting & { bitsPerBase: number }) | null = null;
  const consider = (s: MarkovSetting, bpb: number): void => {
    if (best === null || bpb < best.bitsPerBase) best = { ...s, bitsPerBase: bpb };
  };
  for (let order = 0; order <= stats.maxOrder; order++) {
    const pick = (smoothing: MarkovSmoothing, grid: readonly number[]): { strength: number; bitsPerBase: number } => {
      let r = { strength: grid[0]!, bitsPerBase: Infinity };
      for (const strength of grid) {
        const bpb = stats.bitsPerBase({ order, smoothing, strength });
        if (bpb < r.bitsPerBase) r = { strength, bitsPerBase: bpb };
      }
      consider({ order, smoothing, strength: r.strength }, r.bitsPerBase);
      return r;
    };
    const a = pick('add-alpha', ADD_ALPHA_GRID);
    const i = pick('interpolated', INTERPOLATED_BETA_GRID);
    perOrder.push({
      order,
      addAlpha: { alpha: a.strength, bitsPerBase: a.bitsPerBase },
      interpolated: { beta: i.strength, bitsPerBase: i.bitsPerBase },
    });
  }
  return { perOrder, best: best! };
}
