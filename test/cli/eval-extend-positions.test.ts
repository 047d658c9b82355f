/**
 * `reformer eval --extend-positions repeat` (model/extend-positions.ts): a window longer than the model's
 * axial positions is refused with a line naming the flag; with the flag it is scored with the position
 * table repeated (a note on stderr, the windows line shows the longer window), and a window the model
 * already takes is scored exactly as without the flag.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, writeRandomFasta } from './helpers.js';

describe('reformer eval --extend-positions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reformer-extend-'));
  const data = join(dir, 'genome.fa');
  writeRandomFasta(data, 2, 3000);
  const run = join(dir, 'run');
  const evalArgs = ['eval', '--checkpoint', run, '--data', data, '--split', 'all', '--threads', '1'];
  const bpb = (text: string): number => Number(/bits_per_byte: (\S+)\s*$/.exec(text)![1]);

  it('refuses a longer window without the flag, scores it with --extend-positions repeat', async () => {
    const t = await cli([
      'train',
      '--preset',
      'tiny',
      '--seq-len',
      '128',
      '--batch',
      '2',
      '--steps',
      '2',
      '--eval-every',
      '0',
      '--data',
      data,
      '--out',
      run,
    ]);
    expect(t.code).toBe(0);
    const refused = await cli([...evalArgs, '--seq-len', '512']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.text).toMatch(
      /^reformer: --seq-len 512: this model takes at most 128 tokens per window; --extend-positions repeat/,
    );
    const long = await cli([...evalArgs, '--seq-len', '512', '--extend-positions', 'repeat']);
    expect(long.code).toBe(0);
    expect(long.stderr.text).toContain('positions: repeated with period 128 to take windows of 512 tokens');
    expect(long.stdout.text).toMatch(/windows: \d+ windows? of 512 tokens/);
    expect(Number.isFinite(bpb(long.stdout.text))).toBe(true);
    // a window the model takes anyway: the flag changes nothing
    const a = await cli([...evalArgs, '--seq-len', '128']);
    const b = await cli([...evalArgs, '--seq-len', '128', '--extend-positions', 'repeat']);
    expect(b.stderr.text).not.toContain('positions: repeated');
    expect(bpb(b.stdout.text)).toBe(bpb(a.stdout.text));
    const bad = await cli([...evalArgs, '--extend-positions', 'tile']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.text).toMatch(/--extend-positions.*no, repeat/);
  }, 120_000);
});

describe('eval: the per-letter table only where the whole logits fit', () => {
  it('logitsFit: true without a limit or under it; false with a note naming the sizes over it', async () => {
    const { logitsFit } = await import('../../src/node/cli/eval.js');
    const { preset } = await import('../../src/config/presets.js');
    const config = preset('tiny').config;
    const notes: string[] = [];
    expect(logitsFit({ model: { config, backend: {} } }, 1024, 1, (l) => notes.push(l))).toBe(true);
    expect(logitsFit({ model: { config, backend: { maxBufferBytes: 2 ** 32 } } }, 1024, 1, (l) => notes.push(l))).toBe(true);
    expect(notes).toEqual([]);
    expect(logitsFit({ model: { config, backend: { maxBufferBytes: 2 ** 20 } } }, 1024, 1, (l) => notes.push(l))).toBe(false);
    expect(notes[0]).toMatch(
      /^note: no per-letter table at --seq-len 1,024: it needs each window's whole logits \(.* over the 1\.0 MiB limit\)/,
    );
  });
});
