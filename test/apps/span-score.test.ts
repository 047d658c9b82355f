/** The shared scoring loop (src/apps/span-score.ts) against hand-computed cases. */
import { describe, expect, it } from 'vitest';
import { scoreSpan } from '../../src/apps/span-score.js';

describe('scoreSpan', () => {
  // one sequence of 3 tokens, vocabulary 2: rows 0 and 1 predict positions 1 and 2
  const logits = [0, Math.log(3), 1, 1, 5, 5];
  const ids = Int32Array.from([0, 1, 0]);

  it('adds −log softmax of each target, counts argmax hits (ties to the lowest id) and exact match', () => {
    const s = scoreSpan(logits, ids, 0, 3, 1, 2);
    // position 1: p(1) = 3/4, argmax 1 (right); position 2: p(0) = 1/2, a tie: argmax 0 (right)
    expect(s.nats).toBeCloseTo(-Math.log(3 / 4) - Math.log(1 / 2), 12);
    expect([s.targets, s.correct, s.allRight]).toEqual([2, 2, true]);
    const wrong = scoreSpan(logits, Int32Array.from([0, 0, 1]), 0, 3, 1, 2);
    expect([wrong.correct, wrong.allRight]).toEqual([0, false]);
    expect(wrong.nats).toBeCloseTo(-Math.log(1 / 4) - Math.log(1 / 2), 12);
  });

  it('scores only from `from` on, in the b-th sequence, on top of a running total', () => {
    const two = [...logits, ...logits];
    const s = scoreSpan(two, Int32Array.from([0, 1, 0, 0, 1, 0]), 1, 3, 2, 2, 10);
    expect(s.nats).toBeCloseTo(10 + Math.log(2), 12);
    expect([s.targets, s.correct]).toEqual([1, 1]);
    expect(scoreSpan(logits, ids, 0, 3, 3, 2)).toEqual({ nats: 0, targets: 0, correct: 0, allRight: true });
  });
});
