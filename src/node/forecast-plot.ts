/**
 * SVG chart of a forecast (`reformer task forecast`): the tail of the training history, the held-out
 * truth, the median forecast and its 10–90% fan (the per-day quantiles of the sample paths), and the
 * naive and seasonal-naive baselines as dashed lines; rendered server-side with Vega, as the training
 * curve (plot.ts).
 */
import * as vega from 'vega';
import { ShapeError } from '../errors.js';

/** What the chart shows; every series is `[date, value]` rows with ISO dates. */
export interface ForecastPlotData {
  readonly title: string;
  /** Axis label, e.g. `CO2 (ppm)`. */
  readonly unit: string;
  readonly historyDates: readonly string[];
  readonly history: ArrayLike<number>;
  /** The held-out days. */
  readonly forecastDates: readonly string[];
  readonly truth: ArrayLike<number>;
  readonly median: ArrayLike<number>;
  readonly q10: ArrayLike<number>;
  readonly q90: ArrayLike<number>;
  /** Baselines by label (dashed). */
  readonly baselines: Readonly<Record<string, ArrayLike<number>>>;
}

/** The Vega spec of the chart (exported for tests and restyling). @throws ShapeError for lengths that differ. */
export function forecastPlotSpec(d: ForecastPlotData): vega.Spec {
  const H = d.forecastDates.length;
  for (const [name, a] of [
    ['truth', d.truth],
    ['median', d.median],
    ['q10', d.q10],
    ['q90', d.q90],
    ...Object.entries(d.baselines),
  ] as const) {
    if (a.length !== H) throw new ShapeError(`forecastPlotSpec: ${name} has ${a.length} values for ${H} forecast dates`);
  }
  if (d.history.length !== d.historyDates.length) {
    throw new ShapeError(`forecastPlotSpec: history has ${d.history.length} values for ${d.historyDates.length} dates`);
  }
  const time = (s: string): number => Date.parse(`${s}T00:00:00Z`);
  const lines: { t: number; v: number; series: string }[] = [];
  for (let i = 0; i < d.history.length; i++) lines.push({ t: time(d.historyDates[i]!), v: d.history[i]!, series: 'history' });
  const fan: { t: number; lo: number; hi: number }[] = [];
  for (let i = 0; i < H; i++) {
    const t = time(d.forecastDates[i]!);
    lines.push({ t, v: d.truth[i]!, series: 'truth' });
    lines.push({ t, v: d.median[i]!, series: 'median (ours)' });
    for (const [name, a] of Object.entries(d.baselines)) lines.push({ t, v: a[i]!, series: name });
    fan.push({ t, lo: d.q10[i]!, hi: d.q90[i]! });
  }
  const names = ['history', 'truth', 'median (ours)', ...Object.keys(d.baselines)];
  const colours = ['#888888', '#000000', '#1f5fa8', '#d62728', '#2ca02c', '#9467bd'];
  const dashed = names.map((_, i) => (i >= 3 ? [5, 3] : [])) as number[][];
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 760,
    height: 340,
    padding: 8,
    title: { text: d.title, anchor: 'start' },
    data: [
      { name: 'lines', values: lines },
      { name: 'fan', values: fan },
    ],
    scales: [
      { name: 'x', type: 'utc', domain: { data: 'lines', field: 't' }, range: 'width' },
      {
        name: 'y',
        type: 'linear',
        domain: {
          fields: [
            { data: 'lines', field: 'v' },
            { data: 'fan', field: 'lo' },
            { data: 'fan', field: 'hi' },
          ],
        },
        range: 'height',
        zero: false,
        nice: true,
      },
      { name: 'color', type: 'ordinal', domain: names, range: colours.slice(0, names.length) },
      { name: 'dash', type: 'ordinal', domain: names, range: dashed },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'date' },
      { orient: 'left', scale: 'y', title: d.unit, grid: true },
    ],
    legends: [
      {
        stroke: 'color',
        strokeDash: 'dash',
        orient: 'top-left',
        symbolType: 'stroke',
        labelLimit: 260,
        title: 'shaded: 10–90% of the sampled paths',
        titleLimit: 300,
      },
    ],
    marks: [
      {
        type: 'area',
        from: { data: 'fan' },
        encode: {
          enter: {
            x: { scale: 'x', field: 't' },
            y: { scale: 'y', field: 'lo' },
            y2: { scale: 'y', field: 'hi' },
            fill: { value: '#1f5fa8' },
            fillOpacity: { value: 0.22 },
          },
        },
      },
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'lines', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 't' },
                y: { scale: 'y', field: 'v' },
                stroke: { scale: 'color', field: 'series' },
                strokeDash: { scale: 'dash', field: 'series' },
                strokeWidth: { value: 1.2 },
              },
            },
          },
        ],
      },
    ],
  };
}

/** Renders the chart to an SVG string. */
export async function forecastPlotSvg(d: ForecastPlotData): Promise<string> {
  const view = new vega.View(vega.parse(forecastPlotSpec(d)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
