/**
 * The run planner of `reformer demo` (src/train/plan.ts): given measured seconds per step and a budget,
 * which shape, learning rate and step count it picks, and that it warns when the plan cannot leave the
 * ≈ 3.5 bits-per-byte plateau. Step times are given, not timed.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { DEMO_LADDER, defaultLearningRate, FALLBACK_LR, planRun, type RunShape, TRAIN_LR } from '../../src/train/plan.js';

const big: RunShape = {
  preset: 'small',
  seqLen: 4096,
  batch: 1,
  lr: 3e-3,
  warmup: 50,
  plateauSteps: 600,
  targetSteps: 900,
  targetBpb: 2.4,
};
const little: RunShape = {
  preset: 'tiny',
  seqLen: 1024,
  batch: 4,
  lr: 5e-3,
  warmup: 100,
  plateauSteps: 700,
  targetSteps: 1500,
  targetBpb: 2.6,
};
const ladder = [big, little];

/** Step times per shape, recording which shapes were measured. */
function timer(times: Map<RunShape, number>): { of: (s: RunShape) => number; asked: RunShape[] } {
  const asked: RunShape[] = [];
  return {
    asked,
    of: (s) => {
      asked.push(s);
      const t = times.get(s);
      if (t === undefined) throw new Error('unexpected shape');
      return t;
    },
  };
}

describe('planRun', () => {
  it('keeps the first shape when its steps reach the target, without measuring the next one', () => {
    const t = timer(new Map([[big, 0.4]]));
    const p = planRun(8.5, ladder, t.of, { reserveSeconds: 20 });
    // (8.5·60 − 20) / 0.4 = 1225 steps ≥ 900
    expect(p.shape).toBe(big);
    expect(p.steps).toBe(1225);
    expect(p.verdict).toBe('reaches-target');
    expect(p.warning).toBeNull();
    expect(t.asked).toEqual([big]);
    expect(p.shape.lr).toBe(3e-3);
  });

  it('on a machine 3× slower takes the smaller shape, whose steps reach its target', () => {
    const t = timer(
      new Map([
        [big, 1.2],
        [little, 0.3],
      ]),
    );
    const p = planRun(8.5, ladder, t.of, { reserveSeconds: 20 });
    // big: 490 / 1.2 = 408 steps (< 900); little: 490 / 0.3 = 1633 ≥ 1500
    expect(t.asked).toEqual([big, little]);
    expect(p.shape).toBe(little);
    expect(p.steps).toBe(1633);
    expect(p.verdict).toBe('reaches-target');
    expect(p.shape.lr).toBe(5e-3);
    expect(p.warning).toBeNull();
    expect(p.measured.map((m) => m.stepSeconds)).toEqual([1.2, 0.3]);
  });

  it('when no shape fits, takes the one with the largest share of its target and warns about the plateau', () => {
    const t = timer(
      new Map([
        [big, 2.5],
        [little, 0.9],
      ]),
    );
    const p = planRun(8.5, ladder, t.of, { reserveSeconds: 20 });
    // big: 196 steps = 22% of 900; little: 544 = 36% of 1500, below its plateau (700)
    expect(p.shape).toBe(little);
    expect(p.steps).toBe(544);
    expect(p.verdict).toBe('on-plateau');
    // 1500 steps · 0.9 s + 20 s = 1370 s → 23 minutes
    expect(p.minutesForTarget).toBe(23);
    expect(p.warning).toMatch(/^the plan \(544 steps of tiny, 4 × 1024 tokens per step\) is shorter than the ≈ 700 steps/);
    expect(p.warning).toMatch(/expect ≈ 3\.5 bits per byte/);
    expect(p.warning).toMatch(/run with --minutes 23 or more \(1500 steps reached 2\.6 in the measured run\)$/);
  });

  it('between the plateau and the target the warning says it stops short', () => {
    const p = planRun(8.5, [little], () => 0.5, { reserveSeconds: 20, alternative: '--preset tiny' });
    // 980 steps: past 700, short of 1500
    expect(p.steps).toBe(980);
    expect(p.verdict).toBe('leaves-plateau');
    expect(p.warning).toMatch(/should leave the ≈ 3\.5 bits-per-byte plateau \(≈ 700 steps\) but stops short of the 1500 steps/);
    expect(p.warning).toMatch(/--minutes 13 or more, or --preset tiny$/);
  });

  it('a --steps cap shortens the chosen plan but does not change the choice', () => {
    const t = timer(new Map([[big, 0.4]]));
    const p = planRun(8.5, ladder, t.of, { reserveSeconds: 20, maxSteps: 3 });
    expect(p.shape).toBe(big);
    expect(p.steps).toBe(3);
    expect(p.verdict).toBe('on-plateau');
    expect(p.warning).toMatch(/raise --steps to 900 or leave it out/);
  });

  it('a continued run counts the steps already done', () => {
    const p = planRun(5, [big], () => 1, { reserveSeconds: 20, stepsDone: 700 });
    // 280 more steps, 980 in total ≥ 900
    expect(p.steps).toBe(280);
    expect(p.verdict).toBe('reaches-target');
  });

  it('plans at least warm-up + 1 steps', () => {
    const p = planRun(0.1, [big], () => 100);
    expect(p.steps).toBe(51);
  });

  it('rejects an empty ladder, a non-positive budget and a bad step time', () => {
    expect(() => planRun(8.5, [], () => 1)).toThrow(ConfigError);
    expect(() => planRun(0, ladder, () => 1)).toThrow(/minutes: must be a positive number of minutes, got 0/);
    expect(() => planRun(8.5, ladder, () => Number.NaN)).toThrow(/seconds per step of small, 1 × 4096 tokens per step must be positive/);
  });
});

describe('DEMO_LADDER (measured, docs/TRAINING.md)', () => {
  it('starts with the default model and ends with a cheaper shape that needs more steps', () => {
    expect(DEMO_LADDER[0]).toMatchObject({ preset: 'small', seqLen: 4096, batch: 1 });
    for (const s of DEMO_LADDER) {
      expect(s.plateauSteps).toBeLessThan(s.targetSteps);
      expect(s.targetBpb).toBeLessThan(3);
      expect(s.warmup).toBeLessThan(s.plateauSteps);
    }
    expect(DEMO_LADDER.length).toBeGreaterThan(1);
  });

  it("the development machine and a 3× slower one keep small; issue 19's machine switches to the last shape; heavy load warns", () => {
    // the last shape costs ≈ 1/4.6 of a small step (tiny, 4 × 1024: 92.7 vs 429.8 ms, docs/TRAINING.md)
    const cost = (s: RunShape, smallStep: number): number => (s.preset === 'small' ? smallStep : smallStep / 4.6);
    const dev = planRun(8.5, DEMO_LADDER, (s) => cost(s, 0.38), { reserveSeconds: 20 });
    expect(dev.shape).toBe(DEMO_LADDER[0]);
    expect(dev.verdict).toBe('reaches-target');
    // 3× slower: ≈ 430 small steps ≥ the 400 the ladder needs
    const slow = planRun(8.5, DEMO_LADDER, (s) => cost(s, 3 * 0.38), { reserveSeconds: 20 });
    expect(slow.shape).toBe(DEMO_LADDER[0]);
    expect(slow.verdict).toBe('reaches-target');
    // issue 19's machine (2.47 s per small step): ≈ 200 small steps, ≈ 910 tiny ones
    const issue = planRun(8.5, DEMO_LADDER, (s) => cost(s, 2.47), { reserveSeconds: 20 });
    expect(issue.shape).toBe(DEMO_LADDER[DEMO_LADDER.length - 1]);
    expect(issue.verdict).toBe('reaches-target');
    expect(issue.warning).toBeNull();
    // the loaded run of docs/TRAINING.md (5.12 s small, 1.28 s tiny): ≈ 380 tiny steps, short of 400: a warning
    const loaded = planRun(8.5, DEMO_LADDER, (s) => (s.preset === 'small' ? 5.12 : 1.28), { reserveSeconds: 20 });
    expect(loaded.shape).toBe(DEMO_LADDER[DEMO_LADDER.length - 1]);
    expect(loaded.steps).toBe(382); // the demo planned 381: its step time also carried the periodic validation's share
    expect(loaded.verdict).toBe('leaves-plateau');
    expect(loaded.warning).not.toBeNull();
  });
});

describe('defaultLearningRate', () => {
  it('is the measured best per preset and optimizer, and the fallback for other models', () => {
    expect(defaultLearningRate('tiny', 'adamw')).toBe(TRAIN_LR.tiny?.adamw);
    expect(defaultLearningRate('small', 'adafactor')).toBe(TRAIN_LR.small?.adafactor);
    expect(defaultLearningRate(undefined, 'adamw')).toBe(FALLBACK_LR.adamw);
    expect(defaultLearningRate('constructor', 'adamw')).toBe(FALLBACK_LR.adamw);
    // the plateau of the 1e-3 default (docs/TRAINING.md: 3.41 vs 2.68 at 3e-3 on tiny) is gone
    expect(defaultLearningRate('tiny', 'adamw')).toBeGreaterThan(1e-3);
  });
});
