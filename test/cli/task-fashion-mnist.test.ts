/**
 * `reformer task fashion-mnist` in-process on tiny settings and a tiny hand-made data folder (gzip IDX
 * files of random 28×28 images, written here, so the test needs no shared data): both parts run, write
 * results.json (bits per dimension and accuracies finite and in range), the PNG grids (valid PNG
 * signature and size) and both checkpoints, and print the table; bad flags and a bad folder are one
 * line, exit 2.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-fmnist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => {
    v.setUint32(4 + 4 * i, d, false);
  });
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** A folder like shared/data/fashion-mnist-subset: `train` and `test` images and labels, gzip-compressed. */
function writeData(folder: string, train: number, test: number): void {
  mkdirSync(folder, { recursive: true });
  const rng = new Rng(7);
  for (const [split, n] of [
    ['train', train],
    ['test', test],
  ] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    // class c: a bright band on rows 2c … 2c+3 over faint noise, so the classes are learnable
    const pixels = new Uint8Array(n * 784);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < 784; i++) {
        const row = Math.floor(i / 28);
        pixels[k * 784 + i] = row >= 2 * labels[k]! && row < 2 * labels[k]! + 4 ? 200 + rng.int(56) : rng.int(20);
      }
    }
    writeFileSync(join(folder, `fm-${split}${n}-images-idx3-ubyte.gz`), gzipSync(idx([n, 28, 28], pixels)));
    writeFileSync(join(folder, `fm-${split}${n}-labels-idx1-ubyte.gz`), gzipSync(idx([n], labels)));
  }
}

const data = join(dir, 'data');
writeData(data, 20, 4);

const TINY = [
  'task', 'fashion-mnist', '--data', data, '--validation-images', '5', '--hidden', '8', '--heads', '2', '--ff', '8',
  '--layers', 'local,lsh', '--steps', '2', '--classify-steps', '2', '--batch', '2', '--eval-batch', '2', '--samples', '2',
  '--lbfgs-iterations', '10', '--threads', '1',
]; // biome-ignore format: flag pairs

describe('reformer task fashion-mnist', () => {
  it('runs both parts: results.json, PNG grids, checkpoints and the table', async () => {
    const out = join(dir, 'run');
    const r = await cli([...TINY, '--out', out]);
    expect(r.stderr.text).not.toMatch(/reformer: /);
    expect(r.code).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      data: { train_images: number; test_images: number; seq_len: number };
      generate: {
        uniform_bits_per_dim: number;
        marginal: { alpha: number; test_bits_per_dim: number };
        reformer: { steps: number; test_bits_per_dim: number; test_pixels: number; train: { wall_seconds: number } };
        samples: { count: number };
      };
      classify: { logistic_regression: { test_accuracy: number; lambda: number }; reformer: { steps: number; test_accuracy: number } };
    };
    expect(res.data).toEqual({ train_images: 20, test_images: 4, validation_images: 5, seq_len: 812 });
    const g = res.generate;
    expect(g.uniform_bits_per_dim).toBe(8);
    for (const bpd of [g.marginal.test_bits_per_dim, g.reformer.test_bits_per_dim]) {
      expect(Number.isFinite(bpd) && bpd > 0 && bpd < 12).toBe(true);
    }
    expect(g.reformer.steps).toBe(2);
    expect(g.reformer.test_pixels).toBe(4 * 784);
    expect(g.marginal.alpha).toBeGreaterThan(0);
    const c = res.classify;
    for (const acc of [c.logistic_regression.test_accuracy, c.reformer.test_accuracy]) expect(acc >= 0 && acc <= 1).toBe(true);
    expect(c.reformer.steps).toBe(2);
    for (const png of ['samples.png', 'test-images.png']) {
      const bytes = readFileSync(join(out, png));
      expect(Array.from(bytes.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      // IHDR: width and height, big-endian, at bytes 16 … 23: 2 images of 28 with 2-pixel gaps, ×3
      expect(bytes.readUInt32BE(16)).toBe(3 * (2 * 28 + 3 * 2));
      expect(bytes.readUInt32BE(20)).toBe(3 * (28 + 2 * 2));
    }
    expect(existsSync(join(out, 'lm', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'classifier', 'model.safetensors'))).toBe(true);
    expect(r.stdout.text).toMatch(/\| generation \(bits\/dim, test\) +\| uniform +\| 8\.0000/);
    expect(r.stdout.text).toMatch(/\| logistic regression \(λ [\d.e-]+\) +\| [\d.]+%/);
    expect(r.stderr.text).toMatch(/marginal baseline: α [\d.e-]+ \(validation\)/);
  }, 60_000);

  it('runs one part alone', async () => {
    const out = join(dir, 'classify');
    const r = await cli([...TINY, '--part', 'classify', '--out', out]);
    expect(r.code).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Record<string, unknown>;
    expect(res.generate).toBeUndefined();
    expect(res.classify).toBeDefined();
    expect(existsSync(join(out, 'samples.png'))).toBe(false);
  }, 60_000);

  it('refuses bad flags and a folder without the IDX files (exit 2, one line)', async () => {
    const chunk = await cli([...TINY, '--chunk', '32', '--out', join(dir, 'bad')]);
    expect(chunk.code).toBe(2);
    expect(chunk.stderr.text).toMatch(/attn_chunk_length.*32 does not divide the sequence length 812/);
    const part = await cli([...TINY, '--part', 'both', '--out', join(dir, 'bad')]);
    expect(part.code).toBe(2);
    expect(part.stderr.text).toMatch(/--part "both": must be one of generate, classify, all/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const folder = await cli([...TINY, '--data', empty, '--out', join(dir, 'bad')]);
    expect(folder.code).toBe(2);
    expect(folder.stderr.text).toMatch(/expected one train images IDX file/);
    const val = await cli([...TINY, '--validation-images', '20', '--out', join(dir, 'bad')]);
    expect(val.code).toBe(2);
    expect(val.stderr.text).toMatch(/validation_images.*fewer than the 20 training images/);
  });
});
