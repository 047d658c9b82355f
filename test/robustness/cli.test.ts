/**
 * Robustness at the command line: every bad input prints ONE line on stderr (`reformer: <Kind>: ...`,
 * no stack trace unless --verbose) and exits with the documented code: 2 for usage and input errors
 * (UsageError, ConfigError, FormatError, ShapeError), 1 for runtime failures (ResourceError,
 * NumericalError, anything unexpected). Kinds here: --config not JSON / not an object / invalid or
 * missing fields; a checkpoint with model.safetensors or config.json missing, corrupted weights, NaN
 * weights, a config.json that is not JSON, misses fields or has invalid ones; empty and binary --data;
 * a --seq-len whose working set exceeds the WASM memory (refused by the model's memory estimate).
 * (Flag values, a missing --data file, binary --data for train: test/cli/usage.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { NumericalError, ResourceError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
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
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.lines().at(-1)).toMatch(/^bits_per_byte: \d+\.\d+$/);
  });
});

describe('train --config', () => {
  const train = (cfg: string, extra: string[] = []): Promise<CliRun> =>
    cli(['train', '--preset', 'tiny', '--config', cfg, '--data', DATA, '--out', join(root, `run-${Math.random().toString(36).slice(2)}`), '--backend', 'reference', ...extra]);

  it('not JSON → FormatError naming the file, exit 2', async () => {
    oneLine(await train(text('bad.json', '{"hidden_size": 64,')), 2, /^reformer: FormatError: .*bad\.json: not valid JSON \(/);
  });

  it('JSON that is not an object → FormatError, exit 2', async () => {
    oneLine(await train(text('list.json', '[64, 128]')), 2, /^reformer: FormatError: .*list\.json: must hold a JSON object$/);
  });

  it('an invalid field → ConfigError naming the field, the value and a fix, exit 2', async () => {
    oneLine(await train(text('neg.json', '{"feed_forward_size": -4}')), 2, /^reformer: ConfigError: feed_forward_size: must be a positive integer, got -4; e\.g\. 4$/);
    oneLine(await train(text('odd.json', '{"num_buckets": [4, 3]}')), 2, /^reformer: ConfigError: num_buckets: factor 1 must be an even integer ≥ 2/);
    oneLine(await train(text('layers.json', '{"attn_layers": ["local", "global"]}')), 2, /^reformer: ConfigError: attn_layers: entry 1 is "global"/);
    oneLine(await train(text('axial.json', '{"axial_pos_embds_dim": [16, 16]}')), 2, /^reformer: ConfigError: axial_pos_embds_dim: \[16, 16\] sums to 32, but .*hidden_size 64/);
    oneLine(await train(text('type.json', '{"is_decoder": "yes"}')), 2, /^reformer: ConfigError: is_decoder: must be true or false, got "yes"/);
  });

  it('missing fields are taken from the preset: a partial config.json trains', async () => {
    const r = await train(text('partial.json', '{"num_hashes": 2}'), ['--steps', '2', '--warmup', '1', '--seq-len', '64', '--batch', '1', '--eval-every', '0', '--eval-windows', '1']);
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/step budget reached at step 2/);
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
      oneLine(await cli(evalArgs(run)), 2, new RegExp(`^reformer: FormatError: .*: ${name.replace('.', '\\.')} is listed in the manifest but missing$`));
    });
  }

  it('model.safetensors changed on disk after the save → FormatError (SHA-256), exit 2', async () => {
    const run = checkpoint('flipped');
    const file = join(run, 'checkpoint', 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(file, bytes);
    oneLine(await cli(evalArgs(run)), 2, /^reformer: FormatError: .*model\.safetensors does not match its SHA-256 in the manifest \(corrupted\?\)$/);
  });

  it('model.safetensors corrupted before the save (consistent manifest) → the safetensors FormatError, exit 2', async () => {
    const truncated = checkpoint('truncated', { weights: weights.subarray(0, weights.length - 100) });
    oneLine(await cli(evalArgs(truncated)), 2, /^reformer: FormatError: safetensors: tensor ".*": data_offsets \[\d+, \d+\] run past the \d+-byte data section$/);
    const header = Uint8Array.from(weights);
    new DataView(header.buffer).setBigUint64(0, 2n ** 40n, true);
    oneLine(await cli(evalArgs(checkpoint('header', { weights: header }))), 2, /^reformer: FormatError: safetensors: header length 1099511627776 is larger than/);
    const g = await cli(['generate', '--checkpoint', truncated, '--prompt', 'It', '--backend', 'reference']);
    oneLine(g, 2, /^reformer: FormatError: safetensors: /);
    expect(g.stdout.text).toBe('');
  });

  it('NaN weights → FormatError naming the tensor, exit 2', async () => {
    const st = parseSafetensors(weights);
    const poisoned = serializeSafetensors(
      st.names().map((n) => ({ name: n, shape: st.entry(n).shape, data: st.float32(n).map((x, i) => (n === 'lm_head.bias' && i === 7 ? Number.NaN : x)) })),
      st.metadata as Record<string, string>,
    );
    oneLine(await cli(evalArgs(checkpoint('nan', { weights: poisoned }))), 2, /^reformer: FormatError: checkpoint: tensor "lm_head\.(decoder\.)?bias" holds 1 NaN or infinite value\(s\) of 258 \(first at index 7: NaN\)/);
  });

  it('config.json not JSON, missing a field, or with an invalid field → exit 2 with the reason', async () => {
    oneLine(await cli(evalArgs(checkpoint('cfg-text', { config: '{"model_type": "reformer", ' }))), 2, /^reformer: FormatError: .*config\.json: not valid JSON/);
    const obj = JSON.parse(config) as Record<string, unknown>;
    const without = { ...obj };
    delete without.feed_forward_size;
    oneLine(
      await cli(evalArgs(checkpoint('cfg-missing', { config: JSON.stringify(without) }))),
      2,
      /^reformer: FormatError: checkpoint: tensor "reformer\.encoder\.layers\.0\.feed_forward\.dense\.dense\.weight" has shape \[128, 64\], but config\.json implies \[512, 64\]/,
    );
    oneLine(await cli(evalArgs(checkpoint('cfg-bad', { config: JSON.stringify({ ...obj, hidden_size: 'big' }) }))), 2, /^reformer: ConfigError: hidden_size: must be a finite number, got "big"/);
    oneLine(await cli(evalArgs(checkpoint('cfg-type', { config: JSON.stringify({ ...obj, model_type: 'gpt2' }) }))), 2, /^reformer: FormatError: .*model_type "gpt2" is not supported here \(known: reformer, bigram\)/);
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
  const binary = text('random.bin', Uint8Array.from({ length: 2048 }, (_, i) => (i * 2654435761) >>> 24));

  it('train on an empty file → FormatError, exit 2', async () => {
    oneLine(await cli(['train', '--data', empty, '--out', path('run-empty'), '--backend', 'reference']), 2, /^reformer: FormatError: .*empty\.txt: is empty \(0 bytes\); expected UTF-8 text or FASTA$/);
  });

  it('eval on an empty or binary file → FormatError, exit 2', async () => {
    const run = checkpoint('for-data');
    oneLine(await cli(evalArgs(run, empty)), 2, /^reformer: FormatError: .*empty\.txt: is empty \(0 bytes\)/);
    oneLine(await cli(evalArgs(run, binary)), 2, /^reformer: FormatError: .*random\.bin: looks like binary data, not text/);
  });

  it('a data file shorter than one window → ConfigError saying to lower --seq-len or add data, exit 2', async () => {
    oneLine(await cli(evalArgs(checkpoint('short'), text('short.txt', 'abc'))), 2, /^reformer: ConfigError: seq_len: the stream has 3 tokens, fewer than one window of 64; lower seq_len or use more data$/);
  });
});

describe('a run asked to do more than the machine can hold', () => {
  it('train --seq-len far beyond the 4 GiB WASM memory: refused before the step with the estimate and the longest length that fits, exit 1, no checkpoint', async () => {
    const big = path('big.txt');
    const line = 'the quick brown fox jumps over the lazy dog.\n';
    writeFileSync(big, line.repeat(Math.ceil(2 ** 24 / line.length)));
    const run = path('run-oversized');
    const r = await cli(['train', '--preset', 'tiny', '--seq-len', String(2 ** 24), '--batch', '1', '--steps', '1', '--warmup', '0', '--val-fraction', '0', '--eval-every', '0', '--backend', 'wasm', '--threads', '1', '--data', big, '--out', run]);
    oneLine(
      r,
      1,
      /^reformer: ResourceError: a training step of batch 1 × 16777216 tokens needs about [\d.]+ GiB \(\d+ bytes, peak at .+?; parameters [\d.]+ MiB\), more than the wasm[\w-]* backend's memory limit .*\(4\.00 GiB\); use a sequence length of at most \d+/,
    );
    const [, need] = /\((\d+) bytes/.exec(r.stderr.text)!;
    expect(Number(need)).toBeGreaterThan(4 * 2 ** 30);
    const [, fits] = /at most (\d+)/.exec(r.stderr.text)!;
    expect(Number(fits)).toBeLessThan(2 ** 24);
    expect(() => loadCheckpoint(run)).toThrow(/no such checkpoint directory|not a complete checkpoint/);
  });
});

describe('runtime failures exit 1 with one line (distinct from input errors)', () => {
  const failing = (e: Error): { createBackend: () => Promise<never> } => ({ createBackend: () => Promise.reject(e) });

  it('ResourceError → exit 1', async () => {
    const r = await cli(evalArgs(checkpoint('res')), failing(new ResourceError('the WASM memory cannot grow to 5 GiB (limit 4 GiB); use a smaller --seq-len')));
    oneLine(r, 1, /^reformer: ResourceError: the WASM memory cannot grow to 5 GiB \(limit 4 GiB\); use a smaller --seq-len$/);
  });

  it('NumericalError and unexpected errors → exit 1, one line; the stack only with --verbose', async () => {
    oneLine(await cli(evalArgs(checkpoint('num')), failing(new NumericalError('loss is NaN'))), 1, /^reformer: NumericalError: loss is NaN$/);
    oneLine(await cli(evalArgs(checkpoint('unexpected')), failing(new TypeError('x is not a function\n  second line'))), 1, /^reformer: TypeError: x is not a function second line$/);
    const v = await cli(['--verbose', ...evalArgs(checkpoint('unexpected-v'))], failing(new Error('disk on fire')));
    expect(v.code).toBe(1);
    expect(v.stderr.lines()[0]).toBe('reformer: Error: disk on fire');
    expect(v.stderr.text).toMatch(/\n\s+at /);
  });

  it('the checkpoints the failing runs read are unchanged', () => {
    expect(loadCheckpoint(path('res')).weights).toEqual(weights);
  });
});
