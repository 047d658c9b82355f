/**
 * The page's two charts as inline SVG: the live training curve (bits per byte per step, validation
 * points) and the LSH-vs-exact report per num_hashes (attention-mass recall and relative output error).
 */
import type { AttentionQualityRow } from '../../../src/index.js';

const NS = 'http://www.w3.org/2000/svg';

function svgEl(tag: string, attrs: Record<string, string | number>, text = ''): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

/** Draws `train` (per step) and `validation` (per validated step) bits per byte into `target`. */
export function drawLossCurve(
  target: HTMLElement,
  train: readonly { step: number; bpb: number }[],
  validation: readonly { step: number; bpb: number }[],
  totalSteps: number,
): void {
  const W = 760;
  const H = 220;
  const m = { l: 44, r: 12, t: 10, b: 28 };
  const all = [...train, ...validation].map((p) => p.bpb);
  const maxY = Math.max(1, Math.ceil(Math.max(...all, 0)));
  const minY = Math.max(0, Math.floor(Math.min(...all, maxY)) - 0.5);
  const x = (s: number): number => m.l + ((W - m.l - m.r) * s) / Math.max(1, totalSteps);
  const y = (v: number): number => m.t + ((H - m.t - m.b) * (maxY - v)) / Math.max(1e-9, maxY - minY);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'training loss curve' });
  svg.append(svgEl('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: '#fff', stroke: '#d9dcd3' }));
  for (let v = Math.ceil(minY); v <= maxY; v++) {
    svg.append(svgEl('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), stroke: '#eee' }));
    svg.append(svgEl('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5f6b7a' }, String(v)));
  }
  svg.append(svgEl('text', { x: m.l, y: H - 8, 'font-size': 11, fill: '#5f6b7a' }, 'step 0'));
  svg.append(svgEl('text', { x: W - m.r, y: H - 8, 'text-anchor': 'end', 'font-size': 11, fill: '#5f6b7a' }, `${totalSteps}`));
  svg.append(
    svgEl(
      'text',
      { x: W / 2, y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#5f6b7a' },
      'bits per byte (training batches; dots: validation)',
    ),
  );
  if (train.length > 0) {
    const d = train.map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.bpb).toFixed(1)}`).join('');
    svg.append(svgEl('path', { d, fill: 'none', stroke: '#3461c1', 'stroke-width': 1.5 }));
  }
  for (const p of validation) svg.append(svgEl('circle', { cx: x(p.step), cy: y(p.bpb), r: 3.5, fill: '#d9480f' }));
  target.replaceChildren(svg);
}

/** Bars of mean/min recall and relative RMS error per num_hashes. */
export function drawQualityReport(target: HTMLElement, rows: readonly AttentionQualityRow[], current: number): void {
  const W = 760;
  const rowH = 26;
  const H = 30 + rows.length * rowH;
  const barX = 110;
  const barW = 300;
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'LSH vs exact attention' });
  svg.append(svgEl('text', { x: barX, y: 14, 'font-size': 11, fill: '#5f6b7a' }, 'recall: exact attention mass LSH saw (mean; red: min)'));
  svg.append(
    svgEl(
      'text',
      { x: barX + barW + 20, y: 14, 'font-size': 11, fill: '#5f6b7a' },
      'output error ‖o_lsh − o‖/‖o‖ · keys attended per query',
    ),
  );
  rows.forEach((r, i) => {
    const top = 22 + i * rowH;
    const bold = r.numHashes === current ? 'bold' : 'normal';
    svg.append(svgEl('text', { x: 4, y: top + 14, 'font-size': 12, 'font-weight': bold }, `num_hashes ${r.numHashes}`));
    svg.append(svgEl('rect', { x: barX, y: top + 3, width: barW, height: 14, fill: '#eee' }));
    svg.append(svgEl('rect', { x: barX, y: top + 3, width: barW * r.meanMassRecall, height: 14, fill: '#2f9e44' }));
    svg.append(
      svgEl('line', { x1: barX + barW * r.minMassRecall, x2: barX + barW * r.minMassRecall, y1: top + 1, y2: top + 19, stroke: '#b3261e' }),
    );
    svg.append(svgEl('text', { x: barX + 4, y: top + 14, 'font-size': 11, fill: '#fff' }, r.meanMassRecall.toFixed(3)));
    svg.append(
      svgEl(
        'text',
        { x: barX + barW + 20, y: top + 14, 'font-size': 12, 'font-weight': bold },
        `${r.relativeRmsError.toFixed(4)} · ${r.meanAttendedKeys.toFixed(0)} keys · min recall ${r.minMassRecall.toFixed(3)}`,
      ),
    );
  });
  target.replaceChildren(svg);
}
