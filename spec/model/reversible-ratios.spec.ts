/**
 * Measurement, not a law (skipped unless MEASURE_RATIOS is set): the distribution of err / (ref + u·scale)
 * of every reversible law (reversible-cases.ts) over many random cases, the numbers the k of each law in
 * reversible.spec.ts was chosen from (docs/TESTING.md quotes a run).
 *
 *   MEASURE_RATIOS=2000 npx vitest run spec/model/reversible-ratios.spec.ts
 *
 * MEASURE_RATIOS is the number of feed-forward stacks (D = 2…7, reported per D); whole-model cases are a
 * tenth of it. The cases
 * come from FC_SEED (or 1). Prints, per law, n, p50, p90, p99, p99.9 and the max with its case.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { type MeasuredError, quantiles, worstRatio } from '../helpers/error-bounds.js';
import { arbTinyCase } from './arbitraries.js';
import { arbStack, encoderInverseRows, lmGradientRows, stackGradientRows, stackInverseRows } from './reversible-cases.js';

const count = Number(process.env.MEASURE_RATIOS ?? 0);
const seed = Number(process.env.FC_SEED || 1);

class Table {
  private readonly ratios = new Map<string, { sample: number[]; worst: { ratio: number; what: string; c: unknown } }>();
  add(law: string, rows: readonly MeasuredError[], c: unknown): void {
    const { ratio, row } = worstRatio(rows);
    let t = this.ratios.get(law);
    if (!t) {
      t = { sample: [], worst: { ratio: -1, what: '', c: null } };
      this.ratios.set(law, t);
    }
    t.sample.push(ratio);
    if (ratio > t.worst.ratio) t.worst = { ratio, what: row?.what ?? '', c };
  }
  print(): void {
    for (const [law, t] of [...this.ratios].sort(([a], [b]) => a.localeCompare(b))) {
      const q = quantiles(t.sample);
      const f = (x: number) => x.toPrecision(3);
      console.log(
        `${law.padEnd(34)} n ${q.n}  p50 ${f(q.p50)}  p90 ${f(q.p90)}  p99 ${f(q.p99)}  p99.9 ${f(q.p999)}  max ${f(q.max)}` +
          `  (worst: ${t.worst.what} ${JSON.stringify(t.worst.c, (k, v) => (k === 'config' ? undefined : v))})`,
      );
    }
  }
}

describe.skipIf(!(count > 0))('reversible laws: measured ratio distributions', () => {
  it('feed-forward stacks and whole models', () => {
    const t = new Table();
    // by D: a LayerNorm over few features is the ill-conditioned part (reversible-cases.ts, `arbStack`)
    for (const s of fc.sample(arbStack(2), { seed, numRuns: count })) {
      const g = stackGradientRows(s);
      t.add(`stack gradients f32, D = ${s.D}`, g.f32, s);
      t.add(`stack gradients f64, D = ${s.D}`, g.f64, s);
      const inv = stackInverseRows(s);
      t.add(`stack inverse f32, D = ${s.D}`, inv.f32, s);
      t.add(`stack inverse f64, D = ${s.D}`, inv.f64, s);
    }
    const models = Math.max(1, Math.round(count / 10));
    for (const c of fc.sample(arbTinyCase({ causalOnly: true, dropout: true }), { seed: seed + 2, numRuns: models })) {
      const g = lmGradientRows(c);
      t.add('LM gradients f32', g.f32, { seed: c.seed });
      t.add('LM gradients f64', g.f64, { seed: c.seed });
    }
    for (const c of fc.sample(arbTinyCase({ dropout: true }), { seed: seed + 3, numRuns: models })) {
      const inv = encoderInverseRows(c);
      t.add('encoder inverse f32', inv.f32, { seed: c.seed });
      t.add('encoder inverse f64', inv.f64, { seed: c.seed });
    }
    t.print();
  }, 0);
});
