/**
 * Training progress lines: the ETA follows the step budget at the pace so far, capped by what is left
 * of the time budget when a run has both (the demo plans steps from one calibration step but stops on
 * time: a slowed-down machine must not show an ETA past the budget).
 */
import { describe, expect, it } from 'vitest';
import { TrainingProgress } from '../../src/node/progress.js';
import type { StepInfo } from '../../src/train/trainer.js';
import { Capture } from './helpers.js';

const step = (n: number): StepInfo => ({
  step: n,
  loss: 1,
  bitsPerByte: 1.44,
  lr: 1e-3,
  gradNorm: 1,
  tokensPerSecond: 1000,
  tokensSeen: n * 100,
  elapsedMs: 0,
});
const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** The plain-line mode only writes: a Capture stands in for the stream. */
const asStream = (c: Capture): NodeJS.WritableStream => c as unknown as NodeJS.WritableStream;
/** Seconds in "1m15s" / "42s". */
const seconds = (text: string): number => {
  const m = /^(?:(\d+)m)?(\d+)s$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
};

describe('TrainingProgress ETA', () => {
  it('steps and minutes: the ETA never exceeds what is left of the time budget', () => {
    const out = new Capture();
    const p = new TrainingProgress({ stream: asStream(out), tty: false, totalSteps: 100_000, minutes: 0.5, startStep: 0 });
    sleep(50);
    p.step(step(1)); // 50 ms per step: the step budget alone would mean ~80 minutes
    const eta = seconds(/\| eta (\S+)$/.exec(out.lines()[0]!)![1]!);
    expect(eta).toBeLessThanOrEqual(30);
    expect(eta).toBeGreaterThanOrEqual(28);
  });

  it('steps only: the ETA follows the pace so far', () => {
    const out = new Capture();
    const p = new TrainingProgress({ stream: asStream(out), tty: false, totalSteps: 1001, startStep: 0 });
    sleep(60);
    p.step(step(1)); // ≥ 60 ms per step, 1000 steps to go: ≥ 60 s
    const eta = seconds(/\| eta (\S+)$/.exec(out.lines()[0]!)![1]!);
    expect(eta).toBeGreaterThanOrEqual(60);
    expect(eta).toBeLessThan(600);
  });

  it('minutes only: the time left', () => {
    const out = new Capture();
    const p = new TrainingProgress({ stream: asStream(out), tty: false, minutes: 2, startStep: 0 });
    p.step(step(1));
    expect(out.lines()[0]).toMatch(/\| (2m00s|1m59s) left$/);
  });
});
