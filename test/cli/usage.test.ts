/** `reformer --help` documents every command and flag; bad input exits 2 with one line; placeholders exit 3. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS } from '../../src/node/bench/registry.js';
import { BENCH_TARGETS } from '../../src/node/cli/misc.js';
import { cli, CORPUS } from './helpers.js';

const COMMANDS: Record<string, string[]> = {
  train: [
    '--data',
    '--out',
    '--preset',
    '--config',
    '--seq-len',
    '--batch',
    '--steps',
    '--minutes',
    '--lr',
    '--warmup',
    '--seed',
    '--resume',
    '--eval-every',
    '--eval-windows',
    '--checkpoint-every',
    '--val-fraction',
    '--threads',
    '--backend',
  ],
  eval: ['--checkpoint', '--data', '--seq-len', '--batch', '--threads', '--backend'],
  generate: ['--checkpoint', '--prompt', '--max-new-tokens', '--temperature', '--top-k', '--top-p', '--seed', '--threads', '--backend'],
  verify: ['--checkpoint', '--preset', '--data', '--seq-len', '--offset', '--num-hashes', '--seed', '--json', '--threads', '--backend'],
  conformance: ['<dir>', '--dtype', '--filter', '--threads'],
  bench: ['<what>', 'kernels', 'attention', 'model', 'memory', '--json', '--threads', '--quick', '--seq-lens', '--exact-max-seconds'],
  demo: ['--minutes', '--out', '--prompt', '--max-new-tokens', '--preset', '--data', '--steps', '--lr', '--seed', '--threads', '--backend'],
};

describe('help', () => {
  it('lists every command and the exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of Object.keys(COMMANDS)) expect(r.stdout.text).toMatch(new RegExp(`^  ${c}\\b.*\\S`, 'm'));
    expect(r.stdout.text).toMatch(
      /Exit codes:[\s\S]*0 {2}success[\s\S]*1 {2}runtime failure[\s\S]*2 {2}usage or input error[\s\S]*3 {2}not available/,
    );
  });

  for (const [command, flags] of Object.entries(COMMANDS)) {
    it(`${command} --help documents each of its flags with a description`, async () => {
      const r = await cli([command, '--help']);
      expect(r.code).toBe(0);
      for (const flag of flags) {
        if (flag.startsWith('<')) {
          // a positional argument: listed under "Arguments:" with a description
          expect(r.stdout.text).toMatch(new RegExp(`Arguments:\\n\\s+${flag.slice(1, -1)}\\s+\\S`));
          continue;
        }
        // the flag appears in the help, followed by text on the same line
        expect(r.stdout.text, `${command} ${flag}`).toMatch(new RegExp(`${flag.replace(/[<>|-]/g, (c) => `\\${c}`)}(?![\\w-])[^\\n]*\\S`));
      }
      expect(r.stdout.text).toContain('Exit codes:');
    });
  }
});

describe('usage errors exit 2 with one line naming the flag and the allowed values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reformer-cli-'));
  const binary = join(dir, 'blob.bin');
  writeFileSync(
    binary,
    Uint8Array.from({ length: 4096 }, (_, i) => (i * 151) % 256),
  );
  const cases: [string[], RegExp][] = [
    [['train', '--steps', '0'], /^reformer: --steps "0": must be a positive integer \(1, 2, 3, \.\.\.\)$/],
    [['train', '--steps', '1.5'], /--steps "1\.5": must be a positive integer/],
    [['train', '--batch', 'many'], /--batch "many": must be a positive integer/],
    [['train', '--lr', '-0.1'], /--lr "-0\.1": must be a number in \(0, 10\]/],
    [['train', '--minutes', '0'], /--minutes "0": must be a number of minutes in \(0, 1000000\]/],
    [['train', '--preset', 'huge'], /--preset "huge": must be one of tiny, small, base/],
    [['train', '--val-fraction', '1'], /--val-fraction "1": must be a number in \[0, 1\)/],
    [['train', '--threads', '0'], /--threads "0": must be an integer in \[1, 256\]/],
    [['train', '--backend', 'gpu'], /--backend "gpu": must be one of auto, wasm, reference/],
    [['train', '--seq-len', '1'], /--seq-len "1": must be an integer ≥ 2/],
    [['train', '--data', join(dir, 'missing.txt')], /^reformer: --data .*missing\.txt: no such file$/],
    [['train', '--data', dir], /--data .*: is not a regular file/],
    [['train', '--data', binary, '--backend', 'reference'], /FormatError: .*blob\.bin: looks like binary data, not text: \d+ NUL bytes/],
    [['train', '--frobnicate'], /^reformer: unknown option '--frobnicate'/],
    [['train', '--resume', join(dir, 'nope')], /--resume|no such checkpoint directory/],
    [['eval', '--data', CORPUS], /required option '--checkpoint <dir>' not specified/],
    [['eval', '--checkpoint', join(dir, 'nope'), '--data', CORPUS], /nope: no such checkpoint directory/],
    [
      ['eval', '--checkpoint', dir, '--data', CORPUS],
      /^reformer: --checkpoint .*: not a checkpoint \(no config\.json, model\.safetensors or manifest\.json\); pass a run directory/,
    ],
    [['generate', '--checkpoint', dir, '--prompt', ''], /--prompt "": must not be empty/],
    [['generate', '--checkpoint', dir, '--prompt', 'a', '--top-p', '0'], /--top-p "0": must be a number in \(0, 1\]/],
    [['generate', '--checkpoint', dir, '--prompt', 'a', '--temperature', 'hot'], /--temperature "hot": must be a number in \[0, 100\]/],
    [['generate', '--checkpoint', dir, '--prompt', 'a', '--top-k', '-1'], /--top-k "-1": must be an integer ≥ 0/],
    [['verify', '--num-hashes', '1,x'], /--num-hashes "1,x": must be a comma-separated list of positive integers/],
    [['verify', '--checkpoint', dir, '--preset', 'tiny'], /give --checkpoint or --preset, not both/],
    [['bench', 'gpu'], /<what> "gpu": must be one of kernels, attention, model, memory, vs-pytorch/],
    [
      ['bench', 'kernels', '--threads', '1,2'],
      /--threads 1,2: bench kernels takes one thread count \(a list is for bench vs-pytorch, bench profile\)/,
    ],
    [
      ['bench', 'vs-pytorch', '--modes', 'forward,back'],
      /--modes "forward,back": must be a comma-separated list of distinct values from forward, train/,
    ],
    [
      ['bench', 'vs-pytorch', '--json', '/nonexistent-dir/x.json'],
      /--json \/nonexistent-dir\/x.json: folder \/nonexistent-dir does not exist/,
    ],
    [['conformance', join(dir, 'nope')], /conformance: .*nope is not a folder/],
    [['conformance', dir, '--dtype', 'f16'], /--dtype "f16": must be one of f32, f64/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [argv, message] of cases) {
    it(`reformer ${argv.join(' ')}`, async () => {
      const r = await cli(argv);
      expect(r.stderr.lines(), r.stderr.text).toHaveLength(1);
      expect(r.stderr.text.trim()).toMatch(message);
      expect(r.code).toBe(2);
    });
  }

  it('no command prints the help to stderr and exits 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toContain('Usage: reformer');
  });

  it('--verbose adds the stack trace', async () => {
    const r = await cli(['--verbose', 'train', '--data', binary, '--backend', 'reference']);
    expect(r.code).toBe(2);
    expect(r.stderr.lines()[0]).toMatch(/^reformer: FormatError: /);
    expect(r.stderr.text).toMatch(/\n\s+at .*corpus/);
  });
});

describe('commands whose engine has not landed exit 3 with one line', () => {
  // bench targets whose benchmark is not registered yet (src/node/bench/registry.ts); none once all landed
  const pending = BENCH_TARGETS.filter((t) => !BENCHMARKS.some((b) => b.name === t)).map((t) => ['bench', t]);
  for (const argv of pending) {
    it(`reformer ${argv.join(' ')}`, async () => {
      const r = await cli(argv);
      expect(r.code).toBe(3);
      expect(r.stderr.lines()).toHaveLength(1);
      expect(r.stderr.text).toMatch(/^reformer: bench \w+: not available yet: /);
      expect(r.stdout.text).toBe('');
    });
  }
  if (pending.length === 0) {
    it('none left: every bench target has a registered benchmark', () => {
      expect(BENCH_TARGETS.filter((t) => !BENCHMARKS.some((b) => b.name === t))).toEqual([]);
    });
  }
});
