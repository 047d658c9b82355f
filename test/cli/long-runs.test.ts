/**
 * Commands that run long say so: `TaskProgress` (eval, generate into a pipe, verify, the demo's
 * validations) draws a bar on a terminal and prints plain lines in a pipe (none in the first seconds);
 * `generate` notes a prompt longer than the model's window and a `--max-new-tokens` that would take
 * hours; `--num-hashes` reaches a Reformer's LSH layers in eval and generate; the `model:` line of a
 * resumed run keeps its preset.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { TaskProgress } from '../../src/node/progress.js';
import { Capture, cli, CORPUS } from './helpers.js';

const bigram = { engine: bigramEngine } as const;
const tmp = (): string => mkdtempSync(join(tmpdir(), 'reformer-long-'));

describe('TaskProgress', () => {
  it('in a pipe: silent for the first 3 s, then a line at most every 10 s, and a closing line', () => {
    const out = new Capture();
    let t = 0;
    const p = new TaskProgress({ stream: out, label: 'eval', unit: 'windows', total: 40, now: () => t });
    for (let done = 1; done <= 40; done++) {
      t += 1000; // one window per second
      p.update(done);
    }
    p.stop();
    expect(out.lines()).toEqual([
      'eval: 3/40 windows (7%), 3s elapsed, about 37s left',
      'eval: 13/40 windows (32%), 13s elapsed, about 27s left',
      'eval: 23/40 windows (57%), 23s elapsed, about 17s left',
      'eval: 33/40 windows (82%), 33s elapsed, about 7s left',
      'eval: 40/40 windows in 40s',
    ]);
  });

  it('a task shorter than the quiet time prints nothing; one unit is singular', () => {
    const out = new Capture();
    let t = 0;
    const p = new TaskProgress({ stream: out, label: 'eval', unit: 'windows', total: 1, now: () => t });
    t = 2000;
    p.update(1);
    p.stop();
    expect(out.text).toBe('');
    const slow = new Capture();
    const q = new TaskProgress({ stream: slow, label: 'verify', unit: 'LSH layers', total: 1, quietSeconds: 0, now: () => t });
    t = 9000;
    q.update(0);
    q.update(1);
    q.stop();
    expect(slow.lines()).toEqual(['verify: 0/1 LSH layer (0%), 7s elapsed, about ? left', 'verify: 1/1 LSH layer in 7s']);
  });

  it('on a terminal: a bar that is redrawn (carriage returns), not lines', () => {
    const out = new Capture();
    out.isTTY = true;
    const p = new TaskProgress({ stream: out, label: 'eval', unit: 'windows', total: 4 });
    for (let d = 1; d <= 4; d++) p.update(d);
    p.stop();
    expect(out.text).toMatch(/eval .*4\/4 windows/);
    expect(out.text).not.toMatch(/about .* left/);
  });
});

describe('generate notes', () => {
  const run = join(tmp(), 'run');

  it('a prompt longer than the window: a note says the model sees only its last window', async () => {
    expect((await cli(['train', '--steps', '3', '--out', run, '--backend', 'reference', '--seq-len', '64'], bigram)).code).toBe(0);
    const prompt = 'Raskolnikov '.repeat(250); // 3,000 bytes
    // the bigram engine takes any length: a Reformer's window is what limits it; here its window is the training length
    const r = await cli(['generate', '--checkpoint', run, '--prompt', prompt, '--max-new-tokens', '3', '--backend', 'reference'], {
      engines: [{ ...bigramEngine, load: (b, c, w) => ({ ...bigramEngine.load(b, c, w), maxContext: 64 }) }],
    });
    expect(r.code).toBe(0);
    expect(r.stderr.lines()).toHaveLength(2);
    expect(r.stderr.lines()[0]).toBe(
      "note: the prompt has 3,000 bytes, more than the model's window of 64 bytes: it sees only the last 64 (the first 2,936 are left out)",
    );
    expect(r.stderr.lines()[1]).toMatch(/^generated 3 tokens in \d+\.\d\d s: /);
  });

  it('--max-new-tokens 100000000: after the second byte, a note with the time it would take', async () => {
    const stdout = new Capture();
    let writes = 0;
    stdout.write = (s: string): boolean => {
      stdout.text += s;
      if (++writes >= 3) throw new Error('reader went away'); // as `| head -c 3` would end it
      return true;
    };
    const stderr = new Capture();
    const { runCli } = await import('../../src/node/cli/main.js');
    const code = await runCli(
      ['generate', '--checkpoint', run, '--prompt', 'The ', '--max-new-tokens', '100000000', '--backend', 'reference'],
      {
        ...bigram,
        stdout,
        stderr,
        handleSignals: false,
      },
    );
    expect(code).toBe(1); // the simulated reader ended it
    expect(stderr.lines()[0]).toMatch(
      /^note: --max-new-tokens 100,000,000: the second byte took (?:\d+\.\d\d s|\d+\.\d ms), so all of them would take about \d+h\d\dm\d\ds; ask for fewer, or stop it with Ctrl-C \(what was printed stays\)$/,
    );
  });

  it('a short generation has no note, only the closing speed line', async () => {
    const r = await cli(['generate', '--checkpoint', run, '--prompt', 'The ', '--max-new-tokens', '20', '--backend', 'reference'], bigram);
    expect(r.code).toBe(0);
    expect(r.stderr.lines()).toHaveLength(1);
    expect(r.stderr.lines()[0]).toMatch(
      /^generated \d+ tokens in \d+\.\d\d s: [\d.]+ tokens\/s \(first token after \d+\.\d\d s; no cache\)$/,
    );
  });
});

describe('a tiny Reformer: --num-hashes, and the preset after a resume', () => {
  const dir = tmp();
  const run = join(dir, 'run');
  const data = join(dir, 'text.txt');
  writeFileSync(data, readFileSync(CORPUS).subarray(0, 30_000));

  it('the model: line names the preset in the run and after --resume', async () => {
    const args = ['--preset', 'tiny', '--seq-len', '128', '--batch', '1', '--eval-every', '0', '--eval-windows', '1', '--data', data];
    const t = await cli(['train', ...args, '--steps', '2', '--out', run]);
    expect(t.code).toBe(0);
    expect(t.stdout.text).toMatch(/^model: reformer tiny: 2 layers/m);
    const again = await cli(['train', '--resume', run, '--steps', '3']);
    expect(again.code).toBe(0);
    expect(again.stdout.text).toMatch(/^model: reformer tiny: 2 layers/m);
    const e = await cli(['eval', '--checkpoint', run, '--data', data]);
    expect(e.stdout.text).toMatch(/^model: reformer tiny: 2 layers/m);
  });

  it('eval --num-hashes prints the rounds used and changes the number; generate takes it too', async () => {
    const base = await cli(['eval', '--checkpoint', run, '--data', data, '--split', 'val']);
    const four = await cli(['eval', '--checkpoint', run, '--data', data, '--split', 'val', '--num-hashes', '4']);
    expect(four.code).toBe(0);
    expect(four.stdout.text).toMatch(/^num_hashes: 4 per LSH layer \(the config's: 1\)$/m);
    expect(base.stdout.text).not.toMatch(/^num_hashes:/m);
    const bpb = (s: string): number => Number(/^bits_per_byte: (\S+)$/m.exec(s)![1]);
    expect(bpb(four.stdout.text)).not.toBe(bpb(base.stdout.text));
    const g = await cli(['generate', '--checkpoint', run, '--prompt', 'Sonia ', '--max-new-tokens', '8', '--num-hashes', '2']);
    expect(g.code).toBe(0);
    expect(g.stdout.text.length).toBeGreaterThan(0);
    const bad = await cli(['generate', '--checkpoint', run, '--prompt', 'x', '--num-hashes', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.text).toBe('reformer: --num-hashes "0": must be an integer in [1, 64]\n');
  });
});
