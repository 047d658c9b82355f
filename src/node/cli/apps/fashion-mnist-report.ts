/**
 * What `reformer task fashion-mnist` reports (fashion-mnist-run.ts computes it): the head of
 * results.json (data, model shape, machine), the table rows of each part, and the table on stdout.
 */
import { cpus } from 'node:os';
import { PIXEL_SEQ_LEN } from '../../../apps/fashion-mnist.js';
import type { LabelledImages } from '../../fashion-mnist-data.js';
import { markdownTable } from '../tasks/task-results.js';
import type { FashionMnistFlags } from './fashion-mnist.js';

/** results.json before any part has run: the data used, the model's shape, backend, threads, CPUs and seed. */
export function fashionMnistResults(
  flags: FashionMnistFlags,
  train: LabelledImages,
  test: LabelledImages,
  backend: string,
): Record<string, unknown> {
  return {
    format: 'reformer-ts.fashion-mnist-results',
    version: 1,
    data: {
      train_images: train.images.count,
      test_images: test.images.count,
      validation_images: flags.validationImages,
      seq_len: PIXEL_SEQ_LEN,
    },
    model: {
      hidden_size: flags.hidden,
      num_attention_heads: flags.heads,
      attn_layers: flags.layers,
      feed_forward_size: flags.ff,
      attn_chunk_length: flags.chunk,
      num_hashes: flags.numHashes,
    },
    backend,
    threads: flags.threads ?? null,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    seed: flags.seed,
  };
}

/** The generation rows: uniform 8 bits, the marginal baseline and the pixel LM, bits/dim on the test images. */
export function generateRows(alpha: number, marginalBitsPerDim: number, steps: number, lmBitsPerDim: number): string[][] {
  return [
    ['generation (bits/dim, test)', 'uniform', '8.0000'],
    ['', `per-position marginal (α ${alpha})`, marginalBitsPerDim.toFixed(4)],
    ['', `Reformer LM (${steps} steps)`, lmBitsPerDim.toFixed(4)],
  ];
}

/** The classification rows: logistic regression and the Reformer classifier, test accuracy in percent. */
export function classifyRows(lambda: number, lrAccuracy: number, steps: number, accuracy: number): string[][] {
  return [
    ['classification (test accuracy)', `logistic regression (λ ${lambda})`, `${(100 * lrAccuracy).toFixed(1)}%`],
    ['', `Reformer classifier (${steps} steps)`, `${(100 * accuracy).toFixed(1)}%`],
  ];
}

/** The table on stdout: part, model, result. */
export function fashionMnistTable(rows: readonly (readonly string[])[]): string[] {
  return markdownTable(['part', 'model', 'result'], rows);
}
