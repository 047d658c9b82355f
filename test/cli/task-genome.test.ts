/**
 * `reformer task genome` in-process on tiny settings and a tiny synthetic FASTA: it trains, writes
 * results.json (every bits-per-base figure finite and in a sane range), a checkpoint and the table; the
 * Markov-only mode (--steps 0); bad flags are one line, exit 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-genome-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A genome with structure an order-2 model can find: each base depends on the two before it 80% of the time. */
function writeGenome(path: string, n: number, seed: number, lowercase = false): void {
  const rng = new Rng(seed);
  const b = 'ACGT';
  let s = 'AC';
  while (s.length < n) {
    const k = b.indexOf(s[s.length - 1]!) * 4 + b.indexOf(s[s.length - 2]!);
    s += rng.uniform() < 0.8 ? b[(k * 7 + 3) % 4] : b[rng.int(4)];
  }
  if (lowercase) s = `${s.slice(0, 100).toLowerCase()}NN${s.slice(100)}`;
  let text = '>synthetic genome\n';
  for (let i = 0; i < s.length; i += 60) text += `${s.slice(i, i + 60)}\n`;
  writeFileSync(path, text);
}

const data = join(dir, 'genome.fa');
const other = join(dir, 'other.fa');
writeGenome(data, 6000, 1);
writeGenome(other, 700, 2, true);
const short = join(dir, 'short.fa');
writeGenome(short, 300, 3);

const TINY = [
  'task', 'genome', '--data', data, '--transfer', other, '--seq-len', '512', '--chunk', '32', '--hidden', '16', '--ff', '32',
  '--steps', '3', '--eval-every', '0', '--contexts', '128,512', '--max-order', '4', '--backend', 'reference',
]; // biome-ignore format: flag pairs

type Row = { context: number; context_used: number; bits_per_base: number; targets: number };

describe('reformer task genome', () => {
  it('trains, scores held-out and transfer at each context, writes results.json, a checkpoint and the table', async () => {
    const out = join(dir, 'run');
    const r = await cli([...TINY, '--out', out]);
    expect(r.stderr.text).not.toMatch(/reformer: /);
    expect(r.code).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      split: { heldOut: { start: number; end: number } };
      markov: {
        order: number;
        held_out_bits_per_base: number;
        transfer_bits_per_base: number;
        held_out_targets: number;
        per_order: unknown[];
      };
      model: { training: { steps: number }; held_out: Row[]; transfer: Row[] };
    };
    expect(res.split.heldOut).toEqual({ start: 5400, end: 6000 });
    // the structure is order 2: the validated Markov model finds it and beats uniform by far
    expect(res.markov.order).toBeGreaterThanOrEqual(2);
    expect(res.markov.held_out_bits_per_base).toBeLessThan(1.6);
    expect(Number.isFinite(res.markov.transfer_bits_per_base)).toBe(true);
    expect(res.markov.held_out_targets).toBe(599);
    expect(res.markov.per_order).toHaveLength(5);
    expect(res.model.training.steps).toBe(3);
    expect(res.model.held_out.map((x) => x.context)).toEqual([128, 512]);
    for (const row of [...res.model.held_out, ...res.model.transfer]) {
      expect(Number.isFinite(row.bits_per_base)).toBe(true);
      expect(row.bits_per_base).toBeGreaterThan(0.5);
      expect(row.bits_per_base).toBeLessThan(4);
    }
    expect(res.model.held_out[0]!.targets).toBe(599);
    // the transfer genome: 702 letters, 2 of them N (not scored), the first base not scored
    expect(res.model.transfer[0]!.targets).toBe(699);
    expect(existsSync(join(out, 'checkpoint', 'model.safetensors'))).toBe(true);
    expect(r.stdout.text).toMatch(/\| uniform +\| 2\.0000 +\| 2\.0000/);
    expect(r.stdout.text).toMatch(/\| Markov k=\d+ \S+ \(train counts\) +\| [\d.]+ +\| [\d.]+/);
    expect(r.stdout.text).toMatch(/\| Reformer, context 512 +\| [\d.]+/);
    expect(r.stderr.text).toMatch(/markov: best on validation k=\d+/);
  });

  it('--checkpoint scores the trained model again without training (a transfer genome shorter than the context is padded)', async () => {
    const out = join(dir, 'again');
    const r = await cli([...TINY, '--contexts', '128,1024', '--seq-len', '1024', '--checkpoint', join(dir, 'run'), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(/--contexts 1024: the checkpoint's axial position table covers 512 bases/);
    const ok = await cli([...TINY, '--checkpoint', join(dir, 'run'), '--out', out]);
    expect(ok.stderr.text).not.toMatch(/reformer: /);
    expect(ok.code).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      model: { loaded_from: string; training: { steps: number }; transfer: Row[] };
    };
    expect(res.model.loaded_from).toMatch(/checkpoint$/);
    expect(res.model.training.steps).toBe(3);
    for (const row of res.model.transfer) expect(Number.isFinite(row.bits_per_base)).toBe(true);
    expect(res.model.transfer[1]).toMatchObject({ context: 512, context_used: 512 });
    // 300 bases < 512 and not a multiple of the chunk (32): one window, padded with N by the model
    // (a new --out: a task refuses to overwrite an earlier run's results.json)
    const out2 = join(dir, 'again-padded');
    const padded = await cli([...TINY.slice(0, 4), '--transfer', short, ...TINY.slice(6), '--checkpoint', join(dir, 'run'), '--out', out2]);
    expect(padded.code).toBe(0);
    const p = JSON.parse(readFileSync(join(out2, 'results.json'), 'utf8')) as { model: { transfer: Row[] } };
    expect(p.model.transfer[1]).toMatchObject({ context: 512, context_used: 300, targets: 299 });
    expect(Number.isFinite(p.model.transfer[1]!.bits_per_base)).toBe(true);
  });

  it('--steps 0 runs the Markov baseline only', async () => {
    const out = join(dir, 'markov');
    const r = await cli([...TINY, '--steps', '0', '--out', out]);
    expect(r.code).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      model: unknown;
      markov: { held_out_bits_per_base: number };
    };
    expect(res.model).toBeNull();
    expect(Number.isFinite(res.markov.held_out_bits_per_base)).toBe(true);
    expect(r.stdout.text).not.toMatch(/Reformer/);
  });

  it('refuses bad flags with one line naming them (exit 2)', async () => {
    const ctxLong = await cli([...TINY, '--contexts', '1024', '--out', join(dir, 'bad')]);
    expect(ctxLong.code).toBe(2);
    expect(ctxLong.stderr.text).toMatch(/--contexts 1024: each evaluation context must be in \[2, --seq-len 512\]/);
    const layers = await cli([...TINY, '--layers', 'local,full', '--out', join(dir, 'bad')]);
    expect(layers.code).toBe(2);
    expect(layers.stderr.text).toMatch(/--layers "local,full"/);
    const noData = await cli(['task', 'genome', '--out', join(dir, 'bad')]);
    expect(noData.code).toBe(2);
    expect(noData.stderr.text).toMatch(/--data <fasta> is required/);
  });
});
