/**
 * SIGINT/SIGTERM during `reformer train` (a real child process running dist/): the first signal
 * finishes the step, saves a checkpoint and exits 0 (a copy of it within the next 500 ms, as npx/npm
 * forwards a process-group signal, is the same stop); a later second signal exits at once, leaving the
 * previous checkpoint intact.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { startNode } from './child.js';
import { REPO, requireDist } from './helpers.js';

const TRAIN = join(REPO, 'test', 'cli', 'fixtures', 'train-bigram.mjs');
// bigram steps of roughly 0.1 s: slow enough to signal mid-run, fast enough for a test
const ARGS = [
  'train',
  '--backend',
  'reference',
  '--seq-len',
  '1024',
  '--batch',
  '16',
  '--steps',
  '100000',
  '--checkpoint-every',
  '5',
  '--eval-every',
  '0',
];

beforeAll(requireDist);

describe('signals during training', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`one ${sig}: the step finishes, a checkpoint is saved, exit 0, and the run resumes from it`, async () => {
      const run = join(mkdtempSync(join(tmpdir(), 'reformer-sig-')), 'run');
      const child = startNode([TRAIN, ...ARGS, '--eval-windows', '2', '--out', run], REPO);
      await child.waitFor(/^step 10\/100000/m);
      child.proc.kill(sig);
      const { code, signal } = await child.exited;
      expect(child.stderr()).toBe('');
      expect(signal).toBeNull();
      expect(code).toBe(0);
      const out = child.stdout();
      expect(out).toContain(`received ${sig}: finishing the current step and saving a checkpoint`);
      const m = /interrupted by (SIG\w+) at step (\d+)/.exec(out);
      expect(m?.[1]).toBe(sig);
      const step = Number(m![2]);
      expect(step).toBeGreaterThanOrEqual(10);
      expect(out).toContain(`resume with: reformer train --resume ${run}`);
      const ck = loadCheckpoint(run);
      expect(ck.snapshot!.state.step).toBe(step);
      const logged = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; step: number });
      expect(logged.filter((r) => r.kind === 'train').at(-1)!.step).toBe(step);

      // the resumed run starts at the next step (a shorter schedule needs a shorter warm-up than the stored 100)
      const again = startNode([TRAIN, 'train', '--resume', run, '--steps', String(step + 3), '--warmup', '2'], REPO);
      const r = await again.exited;
      // notes go to stderr: the override of the stored warm-up is the only one
      expect(again.stderr()).toBe("note: --warmup overrides the checkpoint's setting; the continuation differs from the original run\n");
      expect(r.code).toBe(0);
      expect(again.stdout()).toMatch(new RegExp(`training from step ${step} until step ${step + 3}`));
      expect(loadCheckpoint(run).snapshot!.state.step).toBe(step + 3);
    });
  }

  it('the same SIGTERM delivered twice within milliseconds (a process-group signal that npx/npm also forwards) is one stop: checkpoint saved, exit 0', async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'reformer-sigdup-')), 'run');
    const child = startNode([TRAIN, ...ARGS, '--eval-windows', '2', '--out', run], REPO);
    await child.waitFor(/^step 10\/100000/m);
    child.proc.kill('SIGTERM');
    // the copy arrives after the first was handled, as npm's forwarded one does (a few ms later)
    await child.waitFor(/received SIGTERM/);
    child.proc.kill('SIGTERM');
    const { code, signal } = await child.exited;
    expect(child.stderr()).toBe('');
    expect(signal).toBeNull();
    expect(code).toBe(0);
    const m = /interrupted by SIGTERM at step (\d+)/.exec(child.stdout());
    expect(m).not.toBeNull();
    expect(loadCheckpoint(run).snapshot!.state.step).toBe(Number(m![1]));
  });

  it('a second SIGINT exits at once (killed by the signal) and leaves the previous checkpoint loadable', async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'reformer-sig2-')), 'run');
    // a long final validation (200 windows) keeps the process busy after the first signal
    // the window in which a copy of the first signal is ignored shortened to 1 ms (default 500)
    const child = startNode([TRAIN, ...ARGS, '--eval-windows', '200', '--out', run], REPO, { SIGNAL_WINDOW_MS: '1' });
    await child.waitFor(/^step 10\/100000/m);
    child.proc.kill('SIGINT');
    await child.waitFor(/received SIGINT/);
    await new Promise((r) => setTimeout(r, 20));
    child.proc.kill('SIGINT');
    const { code, signal } = await child.exited;
    expect(signal).toBe('SIGINT');
    expect(code).toBeNull();
    expect(child.stdout()).not.toMatch(/interrupted by SIGINT at step/);
    const ck = loadCheckpoint(run);
    expect(ck.snapshot!.state.step % 5).toBe(0); // the last periodic checkpoint, intact
    expect(ck.snapshot!.state.step).toBeGreaterThanOrEqual(10);
  });
});
