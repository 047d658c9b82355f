/**
 * Law: the whole model's analytic gradients (reversible backward) equal (Richardson-extrapolated) central
 * finite differences in float64, for tiny configs with local and LSH layers, causal (LM head + shifted
 * loss) and not (encoder with a probe loss), axial or plain positions, padding masks and dropout.
 *
 * Randomness is held fixed across the perturbed forwards by restoring the model's generator (same
 * rotations, same dropout seeds). Hashing is piecewise constant: a coordinate whose perturbation
 * changes any bucket is skipped (the derivative does not exist there), and counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { lmHeadLoss } from '../../src/nn/lm-head.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel, type EncoderOutput } from '../../src/model/reformer-model.js';
import { Rng } from '../../src/util/rng.js';
import { expectWithinMeasuredBound, type MeasuredError } from '../helpers/error-bounds.js';
import { K_FD, entryEstimate, fdRow } from '../helpers/finite-difference.js';
import { arbTinyCase, type TinyCase } from './arbitraries.js';
import { runs } from '../helpers/runs.js';

const be = new ReferenceBackend({ dtype: 'f64' });
/**
 * Finite-difference step (Richardson-extrapolated central differences at h and h/2). The law and its k are
 * spec/helpers/finite-difference.ts's: |analytic − R| ≤ K_FD·(|D(h) − D(h/2)| + 3·u64·S/h + u64·|analytic|),
 * S = the loss's scale (`Probe.loss`).
 */
const H = 1e-6;
/** Coordinates checked per case. */
const COORDS = 20;

function sameBuckets(a: EncoderOutput, b: EncoderOutput): boolean {
  return a.buckets.every((x, i) => {
    const y = b.buckets[i];
    if (!x || !y) return x === y;
    return x.every((v, j) => v === y[j]);
  });
}

interface Probe {
  params: Float64Array;
  grads: Float64Array;
  /**
   * Training-mode loss with the generator restored, the forward (for its buckets), and the scale S its
   * rounding follows: Σ|out_i·probe_i| for the probe loss; the loss itself for the LM's mean
   * cross-entropy (a mean of positive per-token terms).
   */
  loss(): { value: number; scale: number; fwd: EncoderOutput };
  /** analytic gradients (zeroed first) */
  analytic(): void;
}

function lmProbe(c: TinyCase): Probe {
  const model = new ReformerModelWithLMHead(be, c.config, { seed: c.seed });
  const state = new Rng(c.seed ^ 0x5bd1e995).state();
  const batch = { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, labels: c.labels };
  const P = model.parameters;
  return {
    params: P.params as Float64Array,
    grads: P.grads as Float64Array,
    loss() {
      model.reformer.rng = Rng.fromState(state);
      const fwd = model.reformer.forward({ inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, training: true });
      const w = { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') };
      const r = lmHeadLoss(
        be,
        w,
        fwd.output,
        c.batch,
        c.seqLen,
        2 * c.config.hidden_size,
        c.config.vocab_size,
        c.labels,
        c.config.chunk_size_lm_head,
        null,
      );
      return { value: r.loss, scale: Math.abs(r.loss), fwd };
    },
    analytic() {
      P.zeroGrads();
      model.reformer.rng = Rng.fromState(state);
      model.forwardBackward(batch);
    },
  };
}

function encoderProbe(c: TinyCase): Probe {
  const model = new ReformerModel(be, c.config, { options: { seed: c.seed } });
  const state = new Rng(c.seed ^ 0x5bd1e995).state();
  const probe = be.floats(c.batch * c.seqLen * 2 * c.config.hidden_size);
  new Rng(c.seed + 1).fillNormal(probe);
  const P = model.parameters;
  const input = { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, training: true };
  return {
    params: P.params as Float64Array,
    grads: P.grads as Float64Array,
    loss() {
      model.rng = Rng.fromState(state);
      const fwd = model.forward(input);
      let v = 0;
      let scale = 0;
      for (let i = 0; i < probe.length; i++) {
        v += fwd.output[i]! * probe[i]!; // loss = Σ out ⊙ probe
        scale += Math.abs(fwd.output[i]! * probe[i]!);
      }
      return { value: v, scale, fwd };
    },
    analytic() {
      P.zeroGrads();
      model.rng = Rng.fromState(state);
      model.backward(model.forward(input), probe);
    },
  };
}

function check(p: Probe, pick: number, law = 'model: analytic gradient ≈ finite differences'): { checked: number; skipped: number } {
  p.analytic();
  const base = p.loss();
  const rng = new Rng(pick);
  const rows: MeasuredError[] = [];
  let skipped = 0;
  for (let k = 0; k < COORDS; k++) {
    const i = rng.int(p.params.length);
    let bucketsMoved = false;
    const fd = entryEstimate(
      p.params,
      i,
      () => {
        const r = p.loss();
        if (!sameBuckets(base.fwd, r.fwd)) bucketsMoved = true;
        return r.value;
      },
      H,
    );
    if (bucketsMoved) {
      skipped++;
      continue;
    }
    rows.push(fdRow(`param #${i}`, p.grads[i]!, fd, base.scale, H));
  }
  expectWithinMeasuredBound(rows, K_FD, law);
  return { checked: rows.length, skipped };
}

describe('whole-model gradients == central finite differences (float64)', () => {
  it('ReformerModelWithLMHead (causal, shifted loss with −100, padding, dropout replayed)', () => {
    let skipped = 0;
    let cases = 0;
    fc.assert(
      fc.property(arbTinyCase({ causalOnly: true, acts: ['gelu', 'gelu_new'], dropout: true }), fc.integer(), (c, pick) => {
        cases++;
        skipped += check(lmProbe(c), pick).skipped;
      }),
      { numRuns: runs(40) },
    );
    expect(skipped).toBeLessThan(cases * COORDS * 0.1);
  });

  it('ReformerModel (causal or not, look-ahead chunks, probe loss, padding, dropout replayed)', () => {
    let skipped = 0;
    let cases = 0;
    fc.assert(
      fc.property(arbTinyCase({ acts: ['gelu', 'gelu_new'], dropout: true }), fc.integer(), (c, pick) => {
        cases++;
        skipped += check(encoderProbe(c), pick).skipped;
      }),
      { numRuns: runs(40) },
    );
    expect(skipped).toBeLessThan(cases * COORDS * 0.1);
  });

  it('the check can fail: a wrong gradient is caught', () => {
    const c = fc.sample(arbTinyCase({ causalOnly: true, acts: ['gelu'], padding: false }), { seed: 7, numRuns: runs(1) })[0]!;
    const p = lmProbe(c);
    const analytic = p.analytic.bind(p);
    p.analytic = () => {
      analytic();
      for (let i = 0; i < p.grads.length; i++) p.grads[i] = p.grads[i]! * 1.01; // 1% off everywhere
    };
    expect(() => check(p, 3, 'planted bug')).toThrow(/^planted bug: param #\d+/);
  });
});
