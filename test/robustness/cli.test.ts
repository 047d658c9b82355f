/**
 * Robustness at the command line: every bad input prints ONE line on stderr (`reformer: <Kind>: ...`,
 * no stack trace unless --verbose) and exits with the documented code: 2 for usage and input errors
 * (UsageError, ConfigError, FormatError, ShapeError), 1 for runtime failures (ResourceError,
 * NumericalError, anything unexpected). Kinds here: --config not JSON / not an object / invalid or
 * missing fields; a checkpoint with model.safetensors or config.json missing, corrupted weights, NaN
 * weights (NumericalError, exit 1), a config.json that is not JSON, misses fields or has invalid ones; empty and binary --data;
 * a --seq-len whose working set exceeds the WASM memory (refused by the model's memory estimate);
 * --checkpoint/--resume naming a file, a path through a file, an unreadable folder or a folder that is
 * not a checkpoint; train --out naming a file; train --resume with a --steps the checkpoint has already
 * reached, or with other --data (refused unless --out names a new run); a --seq-len or --config whose
 * chunk lengths do not divide the training length (refused before the model is built).
 * (Flag values, a missing --data file, binary --data for train: test/cli/usage.test.ts.)
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { NumericalError, ResourceError, UsageError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
import { pathError } from '../../src/node/paths.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { cli, type CliRun } from '../cli/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'reformer-robust-cli-'));
const path = (name: string): string => join(root, name);
const text = (name: string, content: string | Uint8Array): string => {
  writeFileSync(path(name), content);
  return path(name);
};

/** The error line of a run: exactly one line on stderr, no stack frames. */
function oneLine(r: CliRun, code: number, message: RegExp): void {
  expect(r.stderr.lines(), r.stderr.text).toHaveLength(1);
  expect(r.stderr.text).not.toMatch(/\n\s+at /);
  expect(r.stderr.text.trim()).toMatch(/^reformer: /);
  expect(r.stderr.text.trim()).toMatch(message);
  expect(r.code).toBe(code);
}

// a real (tiny) Reformer checkpoint, written directly: no training needed to test loading
let config = '';
let weights: Uint8Array = new Uint8Array(0);
const DATA = text('data.txt', 'It was a bright cold day in April, and the clocks were striking thirteen.\n'.repeat(20));

/** A checkpoint directory holding the given files (complete manifest: only their content is wrong). */
function checkpoint(name: string, parts: { config?: string; weights?: Uint8Array } = {}): string {
  const dir = join(path(name), 'checkpoint');
  saveCheckpoint(dir, { config: parts.config ?? config, weights: parts.weights ?? weights, snapshot: null });
  return path(name);
}

const evalArgs = (run: string, data = DATA): string[] => ['eval', '--checkpoint', run, '--data', data, '--backend', 'reference'];

beforeAll(() => {
  const em = reformerEngine.create(new ReferenceBackend(), { preset: 'tiny', seqLen: 64, seed: 1 });
  config = em.configJson();
  weights = em.weights();
});

describe('the baseline loads and evaluates', () => {
  it('eval of the intact checkpoint exits 0', async () => {
    const r = await cli(evalArgs(checkpoint('good')));
    // nothing on stderr but the progress lines (plain lines in a pipe, after the first 3 s)
    expect(r.stderr.lines().filter((l) => !/^eval: \d+\/\d+ windows( \(\d+%\), \S+ elapsed, about \S+ left| in \S+)$/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout.lines().at(-1)).toMatch(/^bits_per_byte: \d+\.\d+$/);
  });
});

describe('train --config', () => {
  const train = (cfg: string, extra: string[] = []): Promise<CliRun> =>
    cli([
      'train',
      '--preset',
      'tiny',
      '--config',
      cfg,
      '--data',
      DATA,
      '--out',
      join(root, `run-${Math.random().toString(36).slice(2)}`),
      '--backend',
      'reference',
      ...extra,
    ]);

  it('not JSON → FormatError naming the file, exit 2', async () => {
    oneLine(await train(text('bad.json', '{"hidden_size": 64,')), 2, /^reformer: FormatError: .*bad\.json: not valid JSON \(/);
  });

  it('JSON that is not an object → FormatError, exit 2', async () => {
    oneLine(await train(text('list.json', '[64, 128]')), 2, /^reformer: FormatError: .*list\.json: must hold a JSON object$/);
  });

  it('an invalid field → ConfigError naming the field, the value and a fix, exit 2', async () => {
    oneLine(
      await train(text('neg.json', '{"feed_forward_size": -4}')),
      2,
      /^reformer: ConfigError: feed_forward_size: must be a positive integer, got -4; e\.g\. 4$/,
    );
    oneLine(
      await train(text('odd.json', '{"num_buckets": [4, 3]}')),
      2,
      /^reformer: ConfigError: num_buckets: factor 1 must be an even integer ≥ 2/,
    );
    oneLine(
      await train(text('layers.json', '{"attn_layers": ["local", "global"]}')),
      2,
      /^reformer: ConfigError: attn_layers: entry 1 is "global"/,
    );
    oneLine(
      await train(text('axial.json', '{"axial_pos_embds_dim": [16, 16]}')),
      2,
      /^reformer: ConfigError: axial_pos_embds_dim: \[16, 16\] sums to 32, but .*hidden_size 64/,
    );
    oneLine(
      await train(text('type.json', '{"is_decoder": "yes"}')),
      2,
      /^reformer: ConfigError: is_decoder: must be true or false, got "yes"/,
    );
  });

  it('missing fields are taken from the preset: a partial config.json trains', async () => {
    const r = await train(text('partial.json', '{"num_hashes": 2}'), [
      '--steps',
      '2',
      '--warmup',
      '1',
      '--seq-len',
      '64',
      '--batch',
      '1',
      '--eval-every',
      '0',
      '--eval-windows',
      '1',
    ]);
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/step budget reached at step 2/);
  });

  it('a misspelt field is named in a note (generic HF fields are not), and the run goes on', async () => {
    const cfg = text('typo.json', '{"num_hash": 2, "architectures": ["ReformerModelWithLMHead"], "transformers_version": "4.40.0"}');
    const r = await train(cfg, [
      '--steps',
      '1',
      '--warmup',
      '0',
      '--seq-len',
      '64',
      '--batch',
      '1',
      '--eval-every',
      '0',
      '--eval-windows',
      '1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.lines().filter((l) => l.startsWith('note:'))).toEqual([]); // notes go to stderr
    const notes = r.stderr.lines().filter((l) => l.startsWith('note: --config'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      /^note: --config .*typo\.json: num_hash is not a field of this model's config \(kept in config\.json, as HF does, but it changes nothing\); check the spelling$/,
    );
  });

  it('a missing --config file → UsageError naming the flag, exit 2', async () => {
    oneLine(await train(path('nope.json')), 2, /^reformer: --config .*nope\.json: no such file$/);
  });
});

describe('a checkpoint with a file missing or damaged (eval and generate)', () => {
  for (const name of ['model.safetensors', 'config.json']) {
    it(`${name} missing → FormatError naming it, exit 2`, async () => {
      const run = checkpoint(`missing-${name}`);
      rmSync(join(run, 'checkpoint', name));
      oneLine(
        await cli(evalArgs(run)),
        2,
        new RegExp(`^reformer: FormatError: .*: ${name.replace('.', '\\.')} is listed in the manifest but missing$`),
      );
    });
  }

  it('model.safetensors changed on disk after the save → FormatError (SHA-256), exit 2', async () => {
    const run = checkpoint('flipped');
    const file = join(run, 'checkpoint', 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(file, bytes);
    oneLine(
      await cli(evalArgs(run)),
      2,
      /^reformer: FormatError: .*model\.safetensors does not match its SHA-256 in the manifest \(corrupted, or edited\); if you changed it on purpose, record the new contents with `reformer checkpoint rehash .*`/,
    );
  });

  it('model.safetensors corrupted before the save (consistent manifest) → the safetensors FormatError, exit 2', async () => {
    const truncated = checkpoint('truncated', { weights: weights.subarray(0, weights.length - 100) });
    oneLine(
      await cli(evalArgs(truncated)),
      2,
      /^reformer: FormatError: safetensors: tensor ".*": data_offsets \[\d+, \d+\] run past the \d+-byte data section$/,
    );
    const header = Uint8Array.from(weights);
    new DataView(header.buffer).setBigUint64(0, 2n ** 40n, true);
    oneLine(
      await cli(evalArgs(checkpoint('header', { weights: header }))),
      2,
      /^reformer: FormatError: safetensors: header length 1099511627776 is larger than/,
    );
    const g = await cli(['generate', '--checkpoint', truncated, '--prompt', 'It', '--backend', 'reference']);
    oneLine(g, 2, /^reformer: FormatError: safetensors: /);
    expect(g.stdout.text).toBe('');
  });

  it('NaN weights → NumericalError naming the tensor, exit 1', async () => {
    const st = parseSafetensors(weights);
    const poisoned = serializeSafetensors(
      st.names().map((n) => ({
        name: n,
        shape: st.entry(n).shape,
        data: st.float32(n).map((x, i) => (n === 'lm_head.bias' && i === 7 ? Number.NaN : x)),
      })),
      st.metadata as Record<string, string>,
    );
    const run = checkpoint('nan', { weights: poisoned });
    for (const backend of ['reference', 'wasm']) {
      for (const args of [
        ['eval', '--checkpoint', run, '--data', DATA],
        ['generate', '--checkpoint', run, '--prompt', 'It', '--max-new-tokens', '2'],
      ]) {
        const r = await cli([...args, '--backend', backend]);
        oneLine(
          r,
          1,
          /^reformer: NumericalError: checkpoint: tensor "lm_head\.(decoder\.)?bias" holds 1 NaN or infinite value\(s\) of 258 \(first at index 7: NaN\); the weights are damaged/,
        );
        expect(r.stdout.text, `${args[0]} --backend ${backend}`).toBe('');
      }
    }
  });

  it('config.json not JSON, missing a field, or with an invalid field → exit 2 with the reason', async () => {
    oneLine(
      await cli(evalArgs(checkpoint('cfg-text', { config: '{"model_type": "reformer", ' }))),
      2,
      /^reformer: FormatError: .*config\.json: not valid JSON/,
    );
    const obj = JSON.parse(config) as Record<string, unknown>;
    const without = { ...obj };
    delete without.feed_forward_size;
    oneLine(
      await cli(evalArgs(checkpoint('cfg-missing', { config: JSON.stringify(without) }))),
      2,
      /^reformer: FormatError: checkpoint: tensor "reformer\.encoder\.layers\.0\.feed_forward\.dense\.dense\.weight" has shape \[128, 64\], but config\.json implies \[512, 64\]/,
    );
    oneLine(
      await cli(evalArgs(checkpoint('cfg-bad', { config: JSON.stringify({ ...obj, hidden_size: 'big' }) }))),
      2,
      /^reformer: ConfigError: hidden_size: must be a finite number, got "big"/,
    );
    oneLine(
      await cli(evalArgs(checkpoint('cfg-type', { config: JSON.stringify({ ...obj, model_type: 'gpt2' }) }))),
      2,
      /^reformer: FormatError: .*model_type "gpt2" is not supported here \(known: reformer, bigram\)/,
    );
  });

  it('--verbose adds the stack trace after the line', async () => {
    const run = checkpoint('verbose', { config: '{' });
    const r = await cli(['--verbose', ...evalArgs(run)]);
    expect(r.code).toBe(2);
    expect(r.stderr.lines()[0]).toMatch(/^reformer: FormatError: .*config\.json: not valid JSON/);
    expect(r.stderr.text).toMatch(/\n\s+at /);
  });
});

describe('empty and binary --data files', () => {
  const empty = text('empty.txt', '');
  const binary = text(
    'random.bin',
    Uint8Array.from({ length: 2048 }, (_, i) => (i * 2654435761) >>> 24),
  );

  it('train on an empty file → FormatError, exit 2', async () => {
    oneLine(
      await cli(['train', '--data', empty, '--out', path('run-empty'), '--backend', 'reference']),
      2,
      /^reformer: FormatError: .*empty\.txt: is empty \(0 bytes\); expected UTF-8 text or FASTA$/,
    );
  });

  it('eval on an empty or binary file → FormatError, exit 2', async () => {
    const run = checkpoint('for-data');
    oneLine(await cli(evalArgs(run, empty)), 2, /^reformer: FormatError: .*empty\.txt: is empty \(0 bytes\)/);
    oneLine(await cli(evalArgs(run, binary)), 2, /^reformer: FormatError: .*random\.bin: looks like binary data, not text/);
  });

  it('a data file shorter than an explicit --seq-len → UsageError naming the flag and the length that fits, exit 2 (without --seq-len: one shorter window, test/cli/eval-short-data.test.ts)', async () => {
    oneLine(
      await cli([...evalArgs(checkpoint('short'), text('short.txt', 'abc')), '--seq-len', '64']),
      2,
      /^reformer: --seq-len 64: .*short\.txt has only 3 bytes, less than one window; pass --seq-len 3 or less$/,
    );
  });
});

describe('a run asked to do more than the machine can hold', () => {
  it('train --seq-len far beyond the 4 GiB WASM memory: refused before the step with the estimate and the longest length that fits, exit 1, no checkpoint', async () => {
    const big = path('big.txt');
    const line = 'the quick brown fox jumps over the lazy dog.\n';
    writeFileSync(big, line.repeat(Math.ceil(2 ** 24 / line.length)));
    const run = path('run-oversized');
    const r = await cli([
      'train',
      '--preset',
      'tiny',
      '--seq-len',
      String(2 ** 24),
      '--batch',
      '1',
      '--steps',
      '1',
      '--warmup',
      '0',
      '--val-fraction',
      '0',
      '--eval-every',
      '0',
      '--backend',
      'wasm',
      '--threads',
      '1',
      '--data',
      big,
      '--out',
      run,
    ]);
    oneLine(
      r,
      1,
      /^reformer: ResourceError: a training step of batch 1 × 16777216 tokens needs about [\d.]+ GiB \(\d+ bytes, peak at .+?; parameters [\d.]+ MiB\), more than the wasm[\w-]* backend's memory limit .*\(4\.00 GiB\); use a sequence length of at most \d+/,
    );
    const [, need] = /\((\d+) bytes/.exec(r.stderr.text)!;
    expect(Number(need)).toBeGreaterThan(4 * 2 ** 30);
    const [, fits] = /at most (\d+)/.exec(r.stderr.text)!;
    expect(Number(fits)).toBeLessThan(2 ** 24);
    expect(() => loadCheckpoint(run)).toThrow(/no such checkpoint directory|not a complete checkpoint|not a checkpoint/);
  });
});

describe('runtime failures exit 1 with one line (distinct from input errors)', () => {
  const failing = (e: Error): { createBackend: () => Promise<never> } => ({ createBackend: () => Promise.reject(e) });

  it('ResourceError → exit 1', async () => {
    const r = await cli(
      evalArgs(checkpoint('res')),
      failing(new ResourceError('the WASM memory cannot grow to 5 GiB (limit 4 GiB); use a smaller --seq-len')),
    );
    oneLine(r, 1, /^reformer: ResourceError: the WASM memory cannot grow to 5 GiB \(limit 4 GiB\); use a smaller --seq-len$/);
  });

  it('NumericalError and unexpected errors → exit 1, one line; the stack only with --verbose', async () => {
    oneLine(
      await cli(evalArgs(checkpoint('num')), failing(new NumericalError('loss is NaN'))),
      1,
      /^reformer: NumericalError: loss is NaN$/,
    );
    oneLine(
      await cli(evalArgs(checkpoint('unexpected')), failing(new TypeError('x is not a function\n  second line'))),
      1,
      /^reformer: TypeError: x is not a function second line$/,
    );
    const v = await cli(['--verbose', ...evalArgs(checkpoint('unexpected-v'))], failing(new Error('disk on fire')));
    expect(v.code).toBe(1);
    expect(v.stderr.lines()[0]).toBe('reformer: Error: disk on fire');
    expect(v.stderr.text).toMatch(/\n\s+at /);
  });

  it('the checkpoints the failing runs read are unchanged', () => {
    expect(loadCheckpoint(path('res')).weights).toEqual(weights);
  });
});

/** The bytes of every file of a checkpoint directory (to show that a refused command changed nothing). */
function snapshotFiles(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n)).toString('base64')]));
}

const bigram = { engine: bigramEngine } as const;
const isRoot = process.getuid?.() === 0; // root reads and writes through any permission bits

describe('paths given to --checkpoint, --resume and --out', () => {
  const run = path('paths-run');
  const ck = join(run, 'checkpoint');
  beforeAll(async () => {
    const r = await cli(
      [
        'train',
        '--out',
        run,
        '--data',
        DATA,
        '--seq-len',
        '32',
        '--steps',
        '3',
        '--warmup',
        '1',
        '--eval-every',
        '0',
        '--backend',
        'reference',
      ],
      bigram,
    );
    expect(r.code, r.stderr.text).toBe(0);
  });

  it('--checkpoint or --resume naming a file of the checkpoint → UsageError: pass the directory that holds it, exit 2', async () => {
    for (const [argv, flag] of [
      [['eval', '--checkpoint', join(ck, 'config.json'), '--data', DATA], '--checkpoint'],
      [['generate', '--checkpoint', join(ck, 'model.safetensors'), '--prompt', 'It'], '--checkpoint'],
      [['verify', '--checkpoint', join(ck, 'config.json')], '--checkpoint'],
      [['train', '--resume', join(ck, 'model.safetensors')], '--resume'],
    ] as const) {
      const r = await cli([...argv], bigram);
      oneLine(
        r,
        2,
        new RegExp(
          `^reformer: ${flag} .*checkpoint/\\w+\\.(json|safetensors): is a file; pass the run directory or the checkpoint directory that holds it, e\\.g\\. ${flag} .*paths-run$`,
        ),
      );
      expect(r.stdout.text).toBe('');
    }
    // any other file: the same refusal, without a guess
    oneLine(
      await cli(['eval', '--checkpoint', DATA, '--data', DATA], bigram),
      2,
      /^reformer: --checkpoint .*data\.txt: is a file; pass the run directory or the checkpoint directory that holds it$/,
    );
  });

  it('a path through a file → UsageError naming the file, exit 2 (not ENOTDIR)', async () => {
    oneLine(
      await cli(['eval', '--checkpoint', join(ck, 'config.json', 'x'), '--data', DATA], bigram),
      2,
      /^reformer: --checkpoint .*config\.json\/x: .*config\.json is a file, not a directory; pass the run directory or the checkpoint directory$/,
    );
    oneLine(
      await cli(['train', '--resume', join(DATA, 'run')], bigram),
      2,
      /^reformer: --resume .*data\.txt\/run: .*data\.txt is a file, not a directory; pass the run directory or the checkpoint directory$/,
    );
    // the library names the path the same way, without a flag
    expect(() => loadCheckpoint(join(ck, 'config.json'))).toThrow(UsageError);
    expect(() => loadCheckpoint(join(ck, 'config.json', 'x'))).toThrow(/config\.json is a file, not a directory/);
  });

  it('a folder with none of a checkpoint\'s files → UsageError "not a checkpoint" saying what to pass, exit 2', async () => {
    const empty = path('not-a-checkpoint');
    mkdirSync(join(empty, 'notes'), { recursive: true });
    writeFileSync(join(empty, 'readme.txt'), 'hello');
    for (const [argv, flag] of [
      [['eval', '--checkpoint', empty, '--data', DATA], '--checkpoint'],
      [['train', '--resume', empty], '--resume'],
    ] as const) {
      oneLine(
        await cli([...argv], bigram),
        2,
        new RegExp(
          `^reformer: ${flag} .*not-a-checkpoint: not a checkpoint \\(no config\\.json, model\\.safetensors or manifest\\.json\\); pass a run directory \\(holding checkpoint/\\), a checkpoint directory, or a HuggingFace folder$`,
        ),
      );
    }
    // a run directory whose checkpoint/ is empty names the folder it looked in
    mkdirSync(join(path('empty-run'), 'checkpoint'), { recursive: true });
    oneLine(
      await cli(['eval', '--checkpoint', path('empty-run'), '--data', DATA], bigram),
      2,
      /^reformer: --checkpoint .*empty-run \(.*empty-run\/checkpoint\): not a checkpoint /,
    );
  });

  it('permission denied is a UsageError naming the path (the errno mapping; end to end when not root)', async () => {
    const e = Object.assign(new Error("EACCES: permission denied, open '/x/model.safetensors'"), {
      code: 'EACCES',
      path: '/x/model.safetensors',
    });
    const mapped = pathError(e, '--checkpoint /x');
    expect(mapped).toBeInstanceOf(UsageError);
    expect((mapped as Error).message).toBe(
      '--checkpoint /x: permission denied on /x/model.safetensors; give this user access to it or pass another path',
    );
    const io = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    expect(pathError(io, '--checkpoint /x')).toBe(io); // a failing disk stays a runtime failure (exit 1)
    if (isRoot) return;
    const locked = path('locked-run');
    await cli(
      [
        'train',
        '--out',
        locked,
        '--data',
        DATA,
        '--seq-len',
        '32',
        '--steps',
        '2',
        '--warmup',
        '1',
        '--eval-every',
        '0',
        '--backend',
        'reference',
      ],
      bigram,
    );
    chmodSync(join(locked, 'checkpoint', 'model.safetensors'), 0o000);
    try {
      oneLine(
        await cli(['eval', '--checkpoint', locked, '--data', DATA], bigram),
        2,
        /^reformer: .*locked-run: permission denied on .*model\.safetensors; /,
      );
    } finally {
      chmodSync(join(locked, 'checkpoint', 'model.safetensors'), 0o644);
    }
    chmodSync(locked, 0o000);
    try {
      oneLine(
        await cli(['eval', '--checkpoint', locked, '--data', DATA], bigram),
        2,
        /^reformer: --checkpoint .*locked-run: permission denied/,
      );
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it('train --out naming a file (or a path through one) → UsageError before any work: no model, no header, exit 2', async () => {
    for (const [out, message] of [
      [DATA, /^reformer: --out .*data\.txt: is a file, not a directory; pass a directory for the run \(a new one is created\)$/],
      [
        join(DATA, 'run'),
        /^reformer: --out .*data\.txt\/run: .*data\.txt is a file, so no directory can be created under it; pass a directory for the run/,
      ],
    ] as const) {
      let created = 0;
      const r = await cli(['train', '--out', out, '--data', DATA, '--seq-len', '32', '--steps', '2', '--backend', 'reference'], {
        engine: {
          ...bigramEngine,
          create: (...a: Parameters<typeof bigramEngine.create>) => {
            created++;
            return bigramEngine.create(...a);
          },
        },
      });
      oneLine(r, 2, message);
      expect(r.stdout.text).toBe('');
      expect(created).toBe(0);
    }
  });

  it.skipIf(isRoot)('train --out under a folder this user cannot write → UsageError before any work, exit 2', async () => {
    const ro = path('read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    try {
      const r = await cli(
        ['train', '--out', join(ro, 'run'), '--data', DATA, '--seq-len', '32', '--steps', '2', '--backend', 'reference'],
        bigram,
      );
      oneLine(
        r,
        2,
        /^reformer: --out .*read-only\/run: cannot be created: .*read-only is not writable \(permission denied\); pass a directory this user can write to$/,
      );
      expect(r.stdout.text).toBe('');
    } finally {
      chmodSync(ro, 0o755);
    }
  });
});

describe('train --resume: the step budget and the data of the checkpoint', () => {
  const other = text('other.txt', 'ACGTTGCAAGCTTCGA\n'.repeat(120));
  const trainRun = async (name: string): Promise<string> => {
    const run = path(name);
    const r = await cli(
      [
        'train',
        '--out',
        run,
        '--data',
        DATA,
        '--seq-len',
        '32',
        '--steps',
        '6',
        '--warmup',
        '2',
        '--eval-every',
        '0',
        '--backend',
        'reference',
      ],
      bigram,
    );
    expect(r.code, r.stderr.text).toBe(0);
    return run;
  };

  it("--steps at or below the checkpoint's step → UsageError: --steps is the total to reach; nothing runs, exit 2", async () => {
    const run = await trainRun('resume-steps');
    const before = snapshotFiles(join(run, 'checkpoint'));
    for (const steps of ['6', '4', '1']) {
      const r = await cli(['train', '--resume', run, '--steps', steps], bigram);
      oneLine(
        r,
        2,
        new RegExp(
          `^reformer: --steps ${steps}: the checkpoint is already at step 6; pass a larger --steps \\(the total to reach\\), or --minutes$`,
        ),
      );
      expect(r.stdout.text).toBe('');
    }
    // no --steps: the run's own budget is spent
    oneLine(
      await cli(['train', '--resume', run], bigram),
      2,
      /^reformer: --resume .*resume-steps: the run already reached its --steps 6 \(the checkpoint is at step 6\); pass a larger --steps \(the total to reach\), or --minutes$/,
    );
    expect(snapshotFiles(join(run, 'checkpoint'))).toEqual(before);
    // a larger total continues from step 6
    const r = await cli(['train', '--resume', run, '--steps', '8'], bigram);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/training from step 6 until step 8/);
    expect(loadCheckpoint(run).snapshot!.state.step).toBe(8);
    // train --help says how --steps counts
    const help = (await cli(['train', '--help'])).stdout.text.replace(/\s+/g, ' ');
    expect(help).toMatch(
      /--steps <n> total steps to reach, counted from the start of the run, also with --resume \(a checkpoint at step 700 with --steps 1000 trains 300 more\)/,
    );
    expect(help).toMatch(/--resume <dir> continue a run .*\(other --data needs --out <new dir>/);
  });

  it('other --data without a new --out → UsageError: it would overwrite the run; the checkpoint is unchanged, exit 2', async () => {
    const run = await trainRun('resume-data');
    const before = snapshotFiles(join(run, 'checkpoint'));
    for (const extra of [[], ['--out', run], ['--out', join(run, 'checkpoint', '..')]]) {
      const r = await cli(['train', '--resume', run, '--data', other, '--steps', '10', ...extra], bigram);
      oneLine(
        r,
        2,
        /^reformer: --data .*other\.txt differs from the data this checkpoint was trained on \(.*data\.txt\); resuming on other data would overwrite .*resume-data: pass --out <new dir> to fine-tune into a new run$/,
      );
      expect(r.stdout.text).toBe('');
    }
    // the run's own data file changed on disk since: the same refusal
    const moving = text('moving.txt', 'abcdefghij'.repeat(100));
    const run2 = path('resume-moving');
    expect(
      (
        await cli(
          [
            'train',
            '--out',
            run2,
            '--data',
            moving,
            '--seq-len',
            '32',
            '--steps',
            '3',
            '--warmup',
            '1',
            '--eval-every',
            '0',
            '--backend',
            'reference',
          ],
          bigram,
        )
      ).code,
    ).toBe(0);
    writeFileSync(moving, 'klmnopqrst'.repeat(100));
    oneLine(
      await cli(['train', '--resume', run2, '--steps', '5'], bigram),
      2,
      /^reformer: --data .*moving\.txt: the file changed since this checkpoint was trained on it; resuming on other data would overwrite .*resume-moving: pass --out <new dir>/,
    );
    expect(snapshotFiles(join(run, 'checkpoint'))).toEqual(before);
  });

  it('other --data with --out <new dir> fine-tunes into the new run (with the warning) and leaves the original byte for byte', async () => {
    const run = await trainRun('resume-ft');
    const before = snapshotFiles(join(run, 'checkpoint'));
    const metricsBefore = readFileSync(join(run, 'metrics.jsonl'));
    const ft = path('resume-ft-dna');
    const r = await cli(['train', '--resume', run, '--data', other, '--out', ft, '--steps', '10'], bigram);
    expect(r.code).toBe(0);
    expect(r.stderr.lines()).toHaveLength(1); // the warning, on stderr
    expect(r.stderr.lines()[0]).toMatch(
      /^warning: --data .*other\.txt differs from the data this checkpoint was trained on \(.*data\.txt\); fine-tuning into the new run .*resume-ft-dna \(.*resume-ft stays as it is\)$/,
    );
    expect(r.stdout.text).toMatch(/training from step 6 until step 10/);
    expect(snapshotFiles(join(run, 'checkpoint'))).toEqual(before);
    expect(readFileSync(join(run, 'metrics.jsonl'))).toEqual(metricsBefore);
    const tuned = loadCheckpoint(ft).snapshot!.state;
    expect(tuned.step).toBe(10);
    expect((tuned.extra as { data: { path: string } }).data.path).toBe(other);
    // --out naming another existing run is refused: resuming into it would overwrite that run
    const r2 = await cli(['train', '--resume', run, '--data', other, '--out', ft, '--steps', '12'], bigram);
    oneLine(
      r2,
      2,
      /^reformer: --out .*resume-ft-dna: .*resume-ft-dna already holds a checkpoint, which resuming .*resume-ft into it would overwrite; choose a new --out$/,
    );
  });
});

describe('train --seq-len vs the chunk lengths, checked before the model is built', () => {
  const out = (): string => path(`run-len-${Math.random().toString(36).slice(2)}`);
  /** The Reformer engine, counting the models it builds. */
  const counting = (): { ctx: { engine: typeof reformerEngine }; built: () => number } => {
    let n = 0;
    return {
      ctx: {
        engine: {
          ...reformerEngine,
          create: (...a: Parameters<typeof reformerEngine.create>) => {
            n++;
            return reformerEngine.create(...a);
          },
        },
      },
      built: () => n,
    };
  };

  it('--seq-len 1000 on preset tiny (LSH chunks of 64, local of 4) → UsageError naming the fields and the nearest lengths, exit 2', async () => {
    const { ctx, built } = counting();
    const r = await cli(
      ['train', '--preset', 'tiny', '--seq-len', '1000', '--data', DATA, '--out', out(), '--steps', '2', '--backend', 'reference'],
      ctx,
    );
    oneLine(
      r,
      2,
      /^reformer: --seq-len 1000: must be a multiple of 64 \(the least common multiple of lsh_attn_chunk_length 64 and local_attn_chunk_length 4 of this model\), e\.g\. 960 or 1024$/,
    );
    expect(r.stdout.text).toBe('');
    expect(built()).toBe(0);
  });

  it('a --config whose chunk lengths do not divide the length → UsageError naming the config, exit 2', async () => {
    const { ctx, built } = counting();
    const both = text('chunks100.json', '{"lsh_attn_chunk_length": 100, "local_attn_chunk_length": 100}');
    const r = await cli(
      ['train', '--preset', 'tiny', '--config', both, '--data', DATA, '--out', out(), '--steps', '2', '--backend', 'reference'],
      ctx,
    );
    oneLine(
      r,
      2,
      /^reformer: --config .*chunks100\.json: the training length 1024 \(no --seq-len given\) must be a multiple of 100 \(lsh_attn_chunk_length \/ local_attn_chunk_length of this model\), e\.g\. 1000 or 1100; pass one with --seq-len, or change the chunk lengths in the config$/,
    );
    const lsh = text('lsh96.json', '{"lsh_attn_chunk_length": 96, "local_attn_chunk_length": 64}');
    const r2 = await cli(
      [
        'train',
        '--preset',
        'tiny',
        '--config',
        lsh,
        '--seq-len',
        '1000',
        '--data',
        DATA,
        '--out',
        out(),
        '--steps',
        '2',
        '--backend',
        'reference',
      ],
      ctx,
    );
    oneLine(
      r2,
      2,
      /^reformer: --seq-len 1000: must be a multiple of 192 \(the least common multiple of lsh_attn_chunk_length 96 and local_attn_chunk_length 64 of this model, from --config .*lsh96\.json\), e\.g\. 960 or 1152$/,
    );
    expect(built()).toBe(0);
  });
});
