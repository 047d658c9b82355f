/**
 * Long time series as tokens (Chronos, Ansari et al. 2024, "Chronos: Learning the Language of Time
 * Series", Sec. 3.1) and the forecast metrics of its benchmark (Sec. 5.2): browser-safe, arrays in,
 * arrays out. The model side (windows, config, sampling) is forecast-model.ts; the command
 * src/node/cli/apps/forecast.ts.
 *
 * Series: a two-column CSV (`date,value`, ISO dates, strictly increasing) → values on a grid:
 *   gaps 'ffill'   calendar-day grid from the first to the last date; a missing day (absent row, or a
 *                  value that is empty / NA / NaN / '.') takes the last observed value
 *   gaps 'linear'  the same grid, missing days linearly interpolated between their observed neighbours
 *   gaps 'none'    the rows as they are (e.g. trading days); rows without a value are dropped
 *
 * Tokens (Chronos' scheme; only the bin range and count are ours, see `QuantizerSpec`):
 *   scale  s = mean |x_t| over the context (the first `context` values of a window); s = 1 if that is 0
 *   bins   B centres c_j = low + j·(high − low)/(B − 1), j = 0…B−1 (uniform); edges halfway between
 *   token  id(x) = the j whose cell holds x/s (values outside [low, high] go to the end bins)
 *   value  x̂ = c_id · s (dequantization to the bin centre): |x/s − c_id| ≤ (high − low)/(2(B − 1)) in range
 * Chronos reserves ids 0 and 1 for PAD and EOS and has 4094 bins on [−15, 15]; our windows have a fixed
 * length and the horizon a fixed number of steps, so every id is a bin (vocab_size = B).
 *
 * Metrics (H forecast steps, truth y, train series x of length n):
 *   MASE = mean_t |y_t − ŷ_t| / ( 1/(n − m) Σ_{t=m}^{n−1} |x_t − x_{t−m}| )   (Hyndman & Koehler 2006;
 *          the point forecast ŷ is the median, as in Chronos; m the season of the scale)
 *   QL_α(q, y) = α (y − q) if y > q, else (1 − α)(q − y)                      (pinball loss)
 *   WQL = 1/K Σ_k [ 2 Σ_t QL_{α_k}(q_{k,t}, y_t) / Σ_t |y_t| ],  α = 0.1, 0.2, …, 0.9 (K = 9)
 * Baselines: naive ŷ_{n+h} = x_{n−1}; seasonal naive ŷ_{n+h} = x_{n−m+((h−1) mod m)}; for a point forecast
 * every quantile is the point (Chronos' convention); with levels symmetric about 0.5 its WQL is then
 * Σ|y − ŷ| / Σ|y| (the mean of α and 1 − α is 1/2).
 */
import { ConfigError, FormatError, ShapeError } from '../errors.js';
import { arrayLikeArg, describeValue } from '../util/args.js';

/** How missing days are handled (see the file header). */
export type SeriesGaps = 'ffill' | 'linear' | 'none';
export const SERIES_GAPS: readonly SeriesGaps[] = ['ffill', 'linear', 'none'];

/** A parsed series. */
export interface Series {
  /** `[n]` ISO dates of the grid (gaps 'none': of the kept rows). */
  readonly dates: string[];
  /** `[n]` values (filled where `observed` is 0). */
  readonly values: Float64Array;
  /** `[n]` 1 where the value was in the file, 0 where it was filled. */
  readonly observed: Uint8Array;
}

const MISSING = new Set(['', 'na', 'nan', 'null', '.', '-']);
const DAY_MS = 86_400_000;

function dayNumber(date: string, line: number): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : Number.NaN;
  if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date) {
    throw new FormatError(`series CSV line ${line}: date ${JSON.stringify(date)} is not an ISO date YYYY-MM-DD`);
  }
  return t / DAY_MS;
}

/**
 * Parses a `date,value` CSV with a header line (`\n` or `\r\n` line endings; blank lines skipped).
 * @param text the file's text.
 * @throws FormatError naming the line for a row without two fields, a bad date, dates not strictly
 *   increasing, a value that is neither a number nor a missing marker (empty, NA, NaN, null, '.', '-'),
 *   or fewer than two observed values; ConfigError('gaps') for an unknown gap rule.
 */
export function parseSeriesCsv(text: string, gaps: SeriesGaps): Series {
  if (typeof text !== 'string') throw new ShapeError(`parseSeriesCsv: text must be a string, got ${describeValue(text)}`);
  if (!SERIES_GAPS.includes(gaps)) throw new ConfigError('gaps', `must be one of ${SERIES_GAPS.join(', ')}, got ${describeValue(gaps)}`);
  const rows: { day: number; date: string; value: number | null }[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const fields = line.split(',');
    if (fields.length !== 2) throw new FormatError(`series CSV line ${i + 1}: expected 2 fields (date,value), got ${fields.length}`);
    const date = fields[0]!.trim();
    const raw = fields[1]!.trim();
    const day = dayNumber(date, i + 1);
    if (rows.length > 0 && day <= rows[rows.length - 1]!.day) {
      throw new FormatError(`series CSV line ${i + 1}: date ${date} does not come after ${rows[rows.length - 1]!.date}`);
    }
    let value: number | null = null;
    if (!MISSING.has(raw.toLowerCase())) {
      value = Number(raw);
      if (!Number.isFinite(value)) throw new FormatError(`series CSV line ${i + 1}: value ${JSON.stringify(raw)} is not a number`);
    }
    rows.push({ day, date, value });
  }
  const kept = rows.filter((r) => r.value !== null);
  if (kept.length < 2) throw new FormatError(`series CSV: ${kept.length} observed value(s); a series needs at least two`);
  if (gaps === 'none') {
    return {
      dates: kept.map((r) => r.date),
      values: Float64Array.from(kept, (r) => r.value!),
      observed: new Uint8Array(kept.length).fill(1),
    };
  }
  const first = kept[0]!.day;
  const n = kept[kept.length - 1]!.day - first + 1;
  const values = new Float64Array(n);
  const observed = new Uint8Array(n);
  for (const r of kept) {
    values[r.day - first] = r.value!;
    observed[r.day - first] = 1;
  }
  let last = 0; // index of the last observed day
  for (let t = 1; t < n; t++) {
    if (observed[t]) {
      if (gaps === 'linear')
        for (let u = last + 1; u < t; u++) values[u] = values[last]! + ((values[t]! - values[last]!) * (u - last)) / (t - last);
      last = t;
    } else if (gaps === 'ffill') values[t] = values[last]!;
  }
  const dates = Array.from({ length: n }, (_, t) => new Date((first + t) * DAY_MS).toISOString().slice(0, 10));
  return { dates, values, observed };
}

/** Bins of the quantizer (Chronos: 4094 on [−15, 15]). */
export interface QuantizerSpec {
  /** B ≥ 2 bins = token ids 0…B−1. */
  readonly bins: number;
  /** Centre of the first bin, in units of the scale. */
  readonly low: number;
  /** Centre of the last bin (> low). */
  readonly high: number;
}

/** @throws ConfigError naming `bins`, `low` or `high`. */
export function checkQuantizer(q: QuantizerSpec): void {
  if (!Number.isSafeInteger(q?.bins) || q.bins < 2) throw new ConfigError('bins', `must be an integer ≥ 2, got ${describeValue(q?.bins)}`);
  if (!Number.isFinite(q.low)) throw new ConfigError('low', `must be a finite number, got ${describeValue(q.low)}`);
  if (!Number.isFinite(q.high) || !(q.high > q.low))
    throw new ConfigError('high', `must be a finite number above low (${q.low}), got ${describeValue(q.high)}`);
}

/** Width of one bin in scaled units: (high − low)/(B − 1). */
export function binWidth(q: QuantizerSpec): number {
  return (q.high - q.low) / (q.bins - 1);
}

/** `[B]` bin centres c_j = low + j·(high − low)/(B − 1). */
export function binCentres(q: QuantizerSpec): Float64Array {
  checkQuantizer(q);
  const w = binWidth(q);
  return Float64Array.from({ length: q.bins }, (_, j) => q.low + j * w);
}

/**
 * Chronos' mean scale: mean |x_t| over `values[from, to)`, or 1 when that mean is 0 (or the range empty).
 * @throws ShapeError for a range outside the array.
 */
export function meanScale(values: ArrayLike<number>, from = 0, to = values.length): number {
  arrayLikeArg('meanScale', 'values', values);
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && to <= values.length && from <= to)) {
    throw new ShapeError(`meanScale: range [${from}, ${to}) does not fit in ${values.length} values`);
  }
  let sum = 0;
  for (let t = from; t < to; t++) sum += Math.abs(values[t]!);
  const s = to > from ? sum / (to - from) : 0;
  return s > 0 && Number.isFinite(s) ? s : 1;
}

/**
 * Token ids `[n]` of `values` scaled by `scale`: the nearest bin centre of x/s (ties to the upper bin,
 * as Chronos' `torch.bucketize` over the edges), clipped to the end bins.
 * @throws ConfigError for a bad spec or a scale that is not a positive finite number.
 */
export function quantize(values: ArrayLike<number>, scale: number, q: QuantizerSpec): Int32Array {
  arrayLikeArg('quantize', 'values', values);
  checkQuantizer(q);
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new ConfigError('scale', `must be a positive finite number, got ${describeValue(scale)}`);
  const w = binWidth(q);
  const ids = new Int32Array(values.length);
  for (let t = 0; t < values.length; t++) {
    const j = Math.floor((values[t]! / scale - q.low) / w + 0.5);
    ids[t] = Math.min(q.bins - 1, Math.max(0, Number.isNaN(j) ? 0 : j));
  }
  return ids;
}

/**
 * Values `[n]` of token ids: bin centre · scale.
 * @throws ShapeError for an id outside 0…B−1; ConfigError for a bad spec or scale.
 */
export function dequantize(ids: ArrayLike<number>, scale: number, q: QuantizerSpec): Float64Array {
  arrayLikeArg('dequantize', 'ids', ids);
  const c = binCentres(q);
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new ConfigError('scale', `must be a positive finite number, got ${describeValue(scale)}`);
  return Float64Array.from({ length: ids.length }, (_, t) => {
    const id = ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= q.bins)
      throw new ShapeError(`dequantize: ids[${t}] = ${id} is outside the bins 0…${q.bins - 1}`);
    return c[id]! * scale;
  });
}

function checkSeason(m: number, n: number, what: string): void {
  if (!Number.isSafeInteger(m) || m < 1) throw new ConfigError('season', `must be a positive integer, got ${describeValue(m)}`);
  if (n <= m) throw new ShapeError(`${what}: the series has ${n} values, it needs more than the season ${m}`);
}

/**
 * The MASE denominator: mean |x_t − x_{t−m}| over the in-sample series, t = m…n−1 (the in-sample MAE
 * of the seasonal-naive forecast with season m; m = 1 is the naive one).
 * @throws ConfigError('season') for m < 1; ShapeError if n ≤ m; FormatError if the scale is 0 (a constant series).
 */
export function maseScale(train: ArrayLike<number>, m: number): number {
  arrayLikeArg('maseScale', 'train', train);
  checkSeason(m, train.length, 'maseScale');
  let sum = 0;
  for (let t = m; t < train.length; t++) sum += Math.abs(train[t]! - train[t - m]!);
  const s = sum / (train.length - m);
  if (!(s > 0))
    throw new FormatError(`maseScale: the in-sample seasonal-naive error (season ${m}) is 0; MASE is undefined for this series`);
  return s;
}

function checkPair(where: string, truth: ArrayLike<number>, forecast: ArrayLike<number>): void {
  arrayLikeArg(where, 'truth', truth);
  arrayLikeArg(where, 'forecast', forecast);
  if (truth.length !== forecast.length || truth.length === 0) {
    throw new ShapeError(`${where}: truth has ${truth.length} steps, the forecast ${forecast.length}; they must match and be non-empty`);
  }
}

/** Mean absolute error over the horizon. @throws ShapeError for lengths that differ or are 0. */
export function meanAbsoluteError(truth: ArrayLike<number>, forecast: ArrayLike<number>): number {
  checkPair('meanAbsoluteError', truth, forecast);
  let sum = 0;
  for (let t = 0; t < truth.length; t++) sum += Math.abs(truth[t]! - forecast[t]!);
  return sum / truth.length;
}

/** MASE = MAE(truth, forecast) / scale (`maseScale`). */
export function mase(truth: ArrayLike<number>, forecast: ArrayLike<number>, scale: number): number {
  if (!(scale > 0)) throw new ConfigError('scale', `must be a positive number (maseScale), got ${describeValue(scale)}`);
  return meanAbsoluteError(truth, forecast) / scale;
}

/** Pinball loss QL_α(q, y) = α(y − q) if y > q, else (1 − α)(q − y). */
export function quantileLoss(q: number, y: number, alpha: number): number {
  return y > q ? alpha * (y - q) : (1 - alpha) * (q - y);
}

/** Chronos' quantile levels 0.1, 0.2, …, 0.9. */
export const WQL_LEVELS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * Weighted quantile loss (file header): `quantiles[k]` is the `[H]` forecast of level `levels[k]`.
 * @throws ShapeError for mismatched lengths or Σ|y| = 0; ConfigError('levels') for a level outside (0, 1).
 */
export function weightedQuantileLoss(
  truth: ArrayLike<number>,
  quantiles: readonly ArrayLike<number>[],
  levels: readonly number[] = WQL_LEVELS,
): number {
  if (quantiles.length !== levels.length || levels.length === 0) {
    throw new ShapeError(`weightedQuantileLoss: ${quantiles.length} quantile forecasts for ${levels.length} levels`);
  }
  let denom = 0;
  for (let t = 0; t < truth.length; t++) denom += Math.abs(truth[t]!);
  if (!(denom > 0)) throw new ShapeError('weightedQuantileLoss: Σ|y| over the horizon is 0; the weighted loss is undefined');
  let total = 0;
  levels.forEach((a, k) => {
    if (!(a > 0 && a < 1)) throw new ConfigError('levels', `every quantile level must be in (0, 1), got ${a}`);
    const qk = quantiles[k]!;
    checkPair('weightedQuantileLoss', truth, qk);
    let sum = 0;
    for (let t = 0; t < truth.length; t++) sum += quantileLoss(qk[t]!, truth[t]!, a);
    total += (2 * sum) / denom;
  });
  return total / levels.length;
}

/**
 * Per-step quantiles of sample paths: `paths[i]` is the `[H]` path i; returns `[K][H]`, level by level,
 * with linear interpolation between order statistics (numpy's default, `np.quantile`).
 * @throws ShapeError for no paths or paths of different lengths.
 */
export function pathQuantiles(paths: readonly ArrayLike<number>[], levels: readonly number[] = WQL_LEVELS): Float64Array[] {
  if (paths.length === 0) throw new ShapeError('pathQuantiles: no sample paths');
  const H = paths[0]!.length;
  if (paths.some((p) => p.length !== H)) throw new ShapeError(`pathQuantiles: the paths differ in length (the first has ${H})`);
  const out = levels.map(() => new Float64Array(H));
  const col = new Float64Array(paths.length);
  for (let t = 0; t < H; t++) {
    for (let i = 0; i < paths.length; i++) col[i] = paths[i]![t]!;
    col.sort();
    levels.forEach((a, k) => {
      const pos = a * (paths.length - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(lo + 1, paths.length - 1);
      out[k]![t] = col[lo]! + (pos - lo) * (col[hi]! - col[lo]!);
    });
  }
  return out;
}

/** Naive forecast `[h]`: the last value repeated. @throws ShapeError for an empty series. */
export function naiveForecast(train: ArrayLike<number>, h: number): Float64Array {
  arrayLikeArg('naiveForecast', 'train', train);
  if (train.length === 0) throw new ShapeError('naiveForecast: the series is empty');
  return new Float64Array(h).fill(train[train.length - 1]!);
}

/** Seasonal-naive forecast `[h]`: ŷ_{n+i} = x_{n − m + (i mod m)}, i = 0…h−1. @throws as `maseScale`'s season check. */
export function seasonalNaiveForecast(train: ArrayLike<number>, h: number, m: number): Float64Array {
  arrayLikeArg('seasonalNaiveForecast', 'train', train);
  checkSeason(m, train.length + 1, 'seasonalNaiveForecast');
  const n = train.length;
  return Float64Array.from({ length: h }, (_, i) => train[n - m + (i % m)]!);
}

/** MASE and WQL of one forecaster. */
export interface ForecastScore {
  readonly mase: number;
  readonly wql: number;
  /** Mean absolute error in the series' units. */
  readonly mae: number;
}

/**
 * Scores a forecast on the steps where `observed` is 1 (all steps if it is absent): MASE of the median
 * (`quantiles[levels.indexOf(0.5)]`) and WQL of the quantiles. A point forecast is scored by passing it
 * as every quantile (`pointQuantiles`).
 */
export function scoreForecast(
  truth: ArrayLike<number>,
  quantiles: readonly ArrayLike<number>[],
  scale: number,
  observed?: ArrayLike<number>,
  levels: readonly number[] = WQL_LEVELS,
): ForecastScore {
  const med = levels.indexOf(0.5);
  if (med < 0) throw new ConfigError('levels', 'must include 0.5 (the median is the point forecast of MASE)');
  const keep: number[] = [];
  for (let t = 0; t < truth.length; t++) if (!observed || observed[t]) keep.push(t);
  const y = Float64Array.from(keep, (t) => truth[t]!);
  const qs = quantiles.map((q) => Float64Array.from(keep, (t) => q[t]!));
  const mae = meanAbsoluteError(y, qs[med]!);
  return { mase: mae / scale, wql: weightedQuantileLoss(y, qs, levels), mae };
}

/** A point forecast as K equal quantiles (Chronos' convention for the WQL of point forecasters). */
export function pointQuantiles(point: ArrayLike<number>, levels: readonly number[] = WQL_LEVELS): ArrayLike<number>[] {
  return levels.map(() => point);
}
