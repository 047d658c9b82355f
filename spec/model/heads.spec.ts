/**
 * Laws of the task heads (float64 reference backend):
 * - gradients (reversible backward through the streamed output) == Richardson central finite
 *   differences of the training loss, for ReformerForMaskedLM, ReformerForSequenceClassification (all
 *   three problem types, classifier dropout replayed) and ReformerForQuestionAnswering (positions
 *   clamped: negative, inside, ≥ L), on tiny random configs with local and LSH layers, padding, dropout;
 * - the reversible backward and the store-activations backward give the same gradients;
 * - the streamed paths equal the materialised `evaluate` (logits and loss).
 * Randomness is held fixed by restoring the model's generator; a coordinate whose perturbation moves
 * any LSH bucket is skipped (no derivative there) and counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { ReformerConfig } from '../../src/config/reformer-config.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import type { ClassificationLabels } from '../../src/model/heads/losses.js';
import { ReformerForMaskedLM } from '../../src/model/heads/masked-lm.js';
import { ReformerForQuestionAnswering } from '../../src/model/heads/question-answering.js';
import { ReformerForSequenceClassification } from '../../src/model/heads/sequence-classification.js';
import type { ProblemType } from '../../src/model/heads/task-config.js';
import type { ReformerTaskModel } from '../../src/model/heads/task-model.js';
import { Rng } from '../../src/util/rng.js';
import { entryDerivative } from '../helpers/finite-difference.js';
import { runs } from '../helpers/runs.js';
import { arbTinyCase, type TinyCase } from './arbitraries.js';

const be = new ReferenceBackend({ dtype: 'f64' });
const H = 1e-6;
const TOL = { atol: 1e-7, rtol: 1e-5 } as const;
const COORDS = 16;

type Buckets = ReadonlyArray<Int32Array | null>;

function sameBuckets(a: Buckets, b: Buckets): boolean {
  return a.every((x, i) => {
    const y = b[i];
    if (!x || !y) return x === y;
    return x.every((v, j) => v === y[j]);
  });
}

/** A model and its training loss as a function of the parameters (generator restored each time). */
interface HeadProbe {
  readonly model: ReformerTaskModel;
  /** training loss and the buckets it used; accumulates gradients (zeroed first) */
  run(): { loss: number; buckets: Buckets };
}

function bidirectional(c: TinyCase): ReformerConfig {
  return c.config.is_decoder ? c.config.with({ is_decoder: false }) : c.config;
}

function batchOf(c: TinyCase, labels: Int32Array | null = null): TokenBatch {
  return { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, labels };
}

function probe(model: ReformerTaskModel, seed: number, step: () => { loss: number; buckets: Buckets }): HeadProbe {
  const state = new Rng(seed ^ 0x2545f491).state();
  return {
    model,
    run() {
      model.parameters.zeroGrads();
      model.setRandomState(state);
      return step();
    },
  };
}

function mlmProbe(c: TinyCase, reversible = true): HeadProbe {
  const model = new ReformerForMaskedLM(be, bidirectional(c), { seed: c.seed, reversible });
  return probe(model, c.seed, () => {
    const r = model.forwardBackward(batchOf(c, c.labels));
    return { loss: r.loss, buckets: r.buckets };
  });
}

/** Labels of a problem type for batch B with n labels, from a seed. */
function classLabels(problem: ProblemType, B: number, n: number, seed: number): ClassificationLabels {
  const rng = new Rng(seed);
  if (problem === 'single_label_classification') return Int32Array.from({ length: B }, (_, b) => (b === 1 && n > 2 ? -100 : rng.int(n)));
  if (problem === 'multi_label_classification') return Float64Array.from({ length: B * n }, () => rng.int(2));
  return Float64Array.from({ length: B * n }, () => rng.normal());
}

function clsProbe(c: TinyCase, problem: ProblemType, n: number, dropout: number, reversible = true): HeadProbe {
  const config = c.config.with({ num_labels: n, problem_type: problem, classifier_dropout: dropout });
  const model = new ReformerForSequenceClassification(be, config, { seed: c.seed, reversible });
  const labels = classLabels(problem, c.batch, n, c.seed + 11);
  return probe(model, c.seed, () => {
    const r = model.forwardBackward(batchOf(c), labels);
    return { loss: r.loss, buckets: r.buckets };
  });
}

function qaProbe(c: TinyCase, reversible = true): HeadProbe {
  const model = new ReformerForQuestionAnswering(be, bidirectional(c), { seed: c.seed, reversible });
  const L = c.seqLen;
  const rng = new Rng(c.seed + 5);
  // row 0 always counts on both sides; others may be negative (→ 0, counted) or ≥ L (ignored)
  const start = Int32Array.from({ length: c.batch }, (_, b) => (b === 0 ? rng.int(L) : rng.int(L + 6) - 3));
  const end = Int32Array.from({ length: c.batch }, (_, b) => (b === 0 ? rng.int(L) : rng.int(L + 6) - 3));
  return probe(model, c.seed, () => {
    const r = model.forwardBackward(batchOf(c), { start, end });
    return { loss: r.loss.loss, buckets: r.buckets };
  });
}

/** Analytic gradients vs finite differences at COORDS entries, half of them in the head. */
function check(p: HeadProbe, pick: number): { checked: number; skipped: number } {
  const base = p.run();
  const analytic = Float64Array.from(p.model.grads);
  const params = p.model.params as Float64Array;
  const headStart = p.model.parameters.entries.find((e) => !e.name.startsWith('reformer.'))!.offset;
  const rng = new Rng(pick);
  let checked = 0;
  let skipped = 0;
  for (let k = 0; k < COORDS; k++) {
    const i = k % 2 === 0 ? headStart + rng.int(params.length - headStart) : rng.int(headStart);
    let moved = false;
    const fd = entryDerivative(
      params,
      i,
      () => {
        const r = p.run();
        if (!sameBuckets(base.buckets, r.buckets)) moved = true;
        return r.loss;
      },
      H,
    );
    if (moved) {
      skipped++;
      continue;
    }
    const an = analytic[i]!;
    const name = p.model.parameters.entries.find((e) => i >= e.offset && i < e.offset + e.size)!.name;
    expect(Math.abs(an - fd), `${name} (#${i}): analytic ${an}, finite difference ${fd}`).toBeLessThanOrEqual(
      TOL.atol + TOL.rtol * Math.abs(fd),
    );
    checked++;
  }
  return { checked, skipped };
}

const arb = arbTinyCase({ acts: ['gelu', 'gelu_new'], dropout: true });

describe('task-head gradients == central finite differences (float64)', () => {
  it('ReformerForMaskedLM (unshifted loss, −100, padding, dropout replayed)', () => {
    let skipped = 0;
    fc.assert(
      fc.property(arb, fc.integer(), (c, pick) => {
        skipped += check(mlmProbe(c), pick).skipped;
      }),
      { numRuns: runs(8) },
    );
    expect(skipped).toBeLessThan(8 * COORDS * 0.15);
  });

  it('ReformerForSequenceClassification (single-label with −100, regression, multi-label; classifier dropout replayed)', () => {
    let skipped = 0;
    fc.assert(
      fc.property(
        arb,
        fc.constantFrom<ProblemType>('single_label_classification', 'regression', 'multi_label_classification'),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(0, 0.25),
        fc.integer(),
        (c, problem, n, dropout, pick) => {
          const labels = problem === 'single_label_classification' ? Math.max(n, 2) : n;
          skipped += check(clsProbe(c, problem, labels, dropout), pick).skipped;
        },
      ),
      { numRuns: runs(12) },
    );
    expect(skipped).toBeLessThan(12 * COORDS * 0.15);
  });

  it('ReformerForQuestionAnswering (positions clamped: negative counts as 0, ≥ L ignored)', () => {
    let skipped = 0;
    fc.assert(
      fc.property(arb, fc.integer(), (c, pick) => {
        skipped += check(qaProbe(c), pick).skipped;
      }),
      { numRuns: runs(12) },
    );
    expect(skipped).toBeLessThan(12 * COORDS * 0.15);
  });

  it('the check can fail: a gradient 1% off in the head is caught', () => {
    const c = fc.sample(arbTinyCase({ acts: ['gelu'], padding: false }), { seed: 3, numRuns: 1 })[0]!;
    const p = qaProbe(c);
    const run = p.run.bind(p);
    p.run = () => {
      const r = run();
      const g = p.model.parameters.grad('qa_outputs.weight');
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * 1.01;
      return r;
    };
    expect(() => check(p, 1)).toThrow(/finite difference/);
  });
});

describe('task heads: one gradient, one forward', () => {
  it('reversible and store-activations backward give the same gradients', () => {
    fc.assert(
      fc.property(arb, fc.constantFrom('mlm', 'cls', 'qa'), (c, kind) => {
        const make = (rev: boolean): HeadProbe =>
          kind === 'mlm' ? mlmProbe(c, rev) : kind === 'qa' ? qaProbe(c, rev) : clsProbe(c, 'single_label_classification', 3, 0.25, rev);
        const a = make(true);
        const b = make(false);
        const la = a.run().loss;
        const lb = b.run().loss;
        expect(lb).toBeCloseTo(la, 12);
        const ga = a.model.grads;
        const gb = b.model.grads;
        let scale = 0;
        let err = 0;
        for (let i = 0; i < ga.length; i++) {
          scale = Math.max(scale, Math.abs(ga[i]!));
          err = Math.max(err, Math.abs(ga[i]! - gb[i]!));
        }
        expect(err).toBeLessThanOrEqual(1e-9 * Math.max(1, scale));
      }),
      { numRuns: runs(12) },
    );
  });

  it('streamed logits and loss equal the materialised evaluate (one rotation draw each, same generator state)', () => {
    fc.assert(
      fc.property(arb, (c) => {
        const config = bidirectional(c).with({ num_labels: 3 });
        const state = new Rng(c.seed).state();
        const cls = new ReformerForSequenceClassification(be, config, { seed: c.seed });
        const labels = Int32Array.from({ length: c.batch }, (_, b) => b % 3);
        cls.setRandomState(state);
        const ev = cls.evaluate(batchOf(c), labels);
        cls.setRandomState(state);
        const st = cls.loss(batchOf(c), labels);
        expect(Array.from(st.logits)).toEqual(Array.from(ev.logits));
        expect(st.loss).toBeCloseTo(ev.loss!, 12);
        const qa = new ReformerForQuestionAnswering(be, bidirectional(c), { seed: c.seed });
        qa.setRandomState(state);
        const qe = qa.evaluate(batchOf(c));
        qa.setRandomState(state);
        const qs = qa.logits(batchOf(c));
        expect(Array.from(qs.start)).toEqual(Array.from(qe.start));
        expect(Array.from(qs.end)).toEqual(Array.from(qe.end));
        const mlm = new ReformerForMaskedLM(be, bidirectional(c), { seed: c.seed });
        mlm.setRandomState(state);
        const me = mlm.evaluate(batchOf(c, c.labels));
        mlm.setRandomState(state);
        const ms = mlm.loss(batchOf(c, c.labels));
        expect(ms.loss).toBeCloseTo(me.loss!, 12);
      }),
      { numRuns: runs(10) },
    );
  });
});
