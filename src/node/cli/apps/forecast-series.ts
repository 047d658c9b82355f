/**
 * The series of `reformer task forecast` (their data, gap rules, seasons and token bins, with the
 * measured reasons), the record one series leaves in results.json, and the table on stdout.
 */
import type { ForecastScore, SeriesGaps } from '../../../apps/forecast.js';
import { markdownTable } from '../tasks/task-results.js';

export type SeriesName = 'co2' | 'wti';
export const SERIES_NAMES: readonly SeriesName[] = ['co2', 'wti'];

/** Per-series defaults (docs/applications/time-series.md says why). */
export const SERIES_DEFAULTS: Readonly<
  Record<
    SeriesName,
    {
      data: string;
      gaps: SeriesGaps;
      season: number;
      maseSeason: number;
      bins: number;
      low: number;
      high: number;
      unit: string;
      title: string;
    }
  >
> = {
  // calendar days, missing days forward-filled; yearly cycle of 365 days; scaled values of the training
  // windows lie in [0.979, 1.030] (measured), so 512 bins on [0.96, 1.06]: 0.08 ppm per bin at 410 ppm
  co2: {
    data: '/work/shared/data/co2-mauna-loa-daily/co2_mlo_daily.csv',
    gaps: 'ffill',
    season: 365,
    maseSeason: 365,
    bins: 512,
    low: 0.96,
    high: 1.06,
    unit: 'CO2 (ppm)',
    title: 'Mauna Loa daily CO2: last 365 days held out',
  },
  // trading days as they are; a year ≈ 252 of them; near a random walk, so MASE is scaled by the naive
  // (m = 1) error; scaled values lie in [−0.77, 2.61] (2020's negative price at the low end): 1024 bins on [−1, 3]
  wti: {
    data: '/work/shared/data/wti-oil-daily/wti_daily.csv',
    gaps: 'none',
    season: 252,
    maseSeason: 1,
    bins: 1024,
    low: -1,
    high: 3,
    unit: 'WTI spot (USD per barrel)',
    title: 'WTI crude daily spot price: last 365 trading days held out',
  },
};

/** What one series leaves in results.json (docs/applications/time-series.md). */
export interface SeriesRecord {
  series: SeriesName;
  data: string;
  gaps: SeriesGaps;
  values: number;
  observed: number;
  train: { first: string; last: string; length: number };
  test: { first: string; last: string; length: number; observed: number };
  quantizer: { bins: number; low: number; high: number };
  season: number;
  mase_season: number;
  mase_scale: number;
  training: { steps: number; stopped_by: string; seconds: number; final_loss: number | null; parameters: number };
  sampling: { samples: number; seconds: number; context_scale: number; temperature: number };
  scores: Record<'ours' | 'naive' | 'seasonal_naive', ForecastScore>;
  forecast: { dates: string[]; truth: number[]; median: number[]; q10: number[]; q90: number[] };
  plot: string;
  checkpoint: string;
}

/** One row per series and forecaster: MASE, WQL, MAE. */
export function forecastTable(records: readonly Pick<SeriesRecord, 'series' | 'scores' | 'mase_season'>[]): string[] {
  const head = ['series', 'forecaster', 'MASE', 'WQL', 'MAE'];
  const rows: string[][] = [];
  for (const r of records) {
    for (const [k, label] of [
      ['ours', 'Reformer (median, fan)'],
      ['naive', 'naive'],
      ['seasonal_naive', 'seasonal naive'],
    ] as const) {
      const s = r.scores[k];
      rows.push([`${r.series} (MASE m=${r.mase_season})`, label, s.mase.toFixed(3), s.wql.toFixed(4), s.mae.toFixed(3)]);
    }
  }
  return markdownTable(head, rows);
}
