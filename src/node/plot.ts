/**
 * SVG chart of a training run: bits per byte against step, training (every logged step) and
 * validation (points joined by a line), rendered server-side with Vega (a Vega spec; Vega-Lite 6 needs
 * Node 22). Written next to the checkpoint as `training.svg`.
 */
import * as vega from 'vega';
import { ShapeError } from '../errors.js';
import { describeValue, isArrayValue } from '../util/args.js';
import type { MetricsRecord } from './metrics.js';

/** The Vega spec of the chart (exported for tests and for anyone who wants to restyle it). */
export function trainingCurveSpec(records: readonly MetricsRecord[], title = 'Reformer training'): vega.Spec {
  if (!isArrayValue(records))
    throw new ShapeError(
      `trainingCurveSpec: records must be an array of metrics records (MetricsLog.read()), got ${describeValue(records)}`,
    );
  // last record per (kind, step): a resumed run may have logged a step twice
  const byKey = new Map<string, { step: number; bpb: number; series: string }>();
  for (const r of records) {
    if (r === null || typeof r !== 'object' || !Number.isFinite(r.bits_per_byte)) continue;
    byKey.set(`${r.kind}:${r.step}`, { step: r.step, bpb: r.bits_per_byte, series: r.kind === 'train' ? 'training' : 'validation' });
  }
  const values = [...byKey.values()].sort((a, b) => a.step - b.step);
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 640,
    height: 320,
    padding: 8,
    title: { text: title, anchor: 'start' },
    data: [
      { name: 'points', values },
      { name: 'validation', source: 'points', transform: [{ type: 'filter', expr: "datum.series === 'validation'" }] },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'points', field: 'step' }, range: 'width', zero: false, nice: true },
      { name: 'y', type: 'linear', domain: { data: 'points', field: 'bpb' }, range: 'height', zero: false, nice: true },
      { name: 'color', type: 'ordinal', domain: ['training', 'validation'], range: ['#4c78a8', '#e45756'] },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'step', tickMinStep: 1 },
      { orient: 'left', scale: 'y', title: 'bits per byte', grid: true },
    ],
    legends: [{ fill: 'color', orient: 'top-right' }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'step' },
                y: { scale: 'y', field: 'bpb' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 1.5 },
              },
            },
          },
        ],
      },
      {
        type: 'symbol',
        from: { data: 'validation' },
        encode: {
          enter: { x: { scale: 'x', field: 'step' }, y: { scale: 'y', field: 'bpb' }, fill: { value: '#e45756' }, size: { value: 30 } },
        },
      },
    ],
  };
}

/** Renders the chart to an SVG string. */
export async function trainingCurveSvg(records: readonly MetricsRecord[], title?: string): Promise<string> {
  const view = new vega.View(vega.parse(trainingCurveSpec(records, title)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
