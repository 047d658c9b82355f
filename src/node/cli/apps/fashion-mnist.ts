/**
 * `reformer task fashion-mnist`: images as pixel sequences (apps/fashion-mnist.ts, 812-token layout =
 * a start row + 28 pixel rows, 257 ids). Two parts (`--part generate|classify|all`):
 *
 * - generate: the per-position marginal baseline (add-α, α chosen on the last `--validation-images`
 *   training images), then a causal Reformer LM trained with the `Trainer` on the training images, its
 *   bits per dimension on the test images beside the baseline's and the uniform 8 bits, and a PNG grid of
 *   `--samples` images sampled from it (`<out>/samples.png`, with `<out>/test-images.png` for comparison).
 * - classify: multinomial logistic regression on raw pixels (L-BFGS, λ chosen on the same held-out
 *   training images, refit on all), then `ReformerForSequenceClassification` trained with the
 *   `TaskTrainer` on the same training images; accuracy and macro-F1 of both on the test images.
 *
 * Neither the Reformer runs nor the baselines look at the test images before their final evaluation.
 * `<out>/results.json` is rewritten (atomically) after each part; the table goes to stdout, progress to stderr.
 *
 * This file: the flags, their defaults and the command's registration; fashion-mnist-run.ts runs it,
 * fashion-mnist-report.ts has the head of results.json and the table.
 */
import type { Command, Option } from 'commander';
import type { BackendKind, CliContext } from '../context.js';
import { choiceFlag, choiceListFlag, intFlag, nonEmptyFlag, numberFlag } from '../parse.js';
import { lrOption, warmupOption } from '../tasks/task-flags.js';
import { taskFashionMnistCommand } from './fashion-mnist-run.js';

export const FASHION_MNIST_PARTS = ['generate', 'classify', 'all'] as const;

export interface FashionMnistFlags {
  part: (typeof FASHION_MNIST_PARTS)[number];
  data: string;
  trainImages?: number;
  testImages?: number;
  validationImages: number;
  hidden: number;
  heads: number;
  layers: ('local' | 'lsh')[];
  ff: number;
  chunk: number;
  numHashes: number;
  steps: number;
  classifySteps: number;
  batch: number;
  lr: number;
  classifyLr: number;
  warmup?: number;
  evalBatch: number;
  samples: number;
  temperature: number;
  lbfgsIterations: number;
  seed: number;
  out: string;
  threads?: number;
  backend?: BackendKind;
}

/** Defaults (`--help`); the measured run in docs/applications/fashion-mnist.md used them. */
export const FASHION_MNIST_DEFAULTS = {
  part: 'all',
  validationImages: 200,
  hidden: 64,
  heads: 2,
  layers: ['local', 'lsh', 'local', 'lsh'] as ('local' | 'lsh')[],
  ff: 128,
  chunk: 28,
  numHashes: 1,
  steps: 700,
  classifySteps: 800,
  batch: 8,
  lr: 3e-3,
  classifyLr: 1e-3,
  evalBatch: 10,
  samples: 24,
  temperature: 1,
  lbfgsIterations: 300,
  seed: 1,
  out: 'runs/fashion-mnist',
} as const;

/** Registers `reformer task fashion-mnist` on the `task` command (task.ts). */
export function registerFashionMnistTask(
  task: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  log: (line: string) => void,
  shared: { threads: Option; backend: Option; exitHelp: string },
): void {
  const d = FASHION_MNIST_DEFAULTS;
  task
    .command('fashion-mnist')
    .description(
      'images as pixel sequences (Fashion-MNIST, 784 pixels, 256 intensities): generate = bits/dim of a causal Reformer LM vs a per-position marginal, and sampled images (PNG); classify = ReformerForSequenceClassification vs logistic regression on raw pixels; <out>/results.json and a table',
    )
    .requiredOption(
      '--data <dir>',
      'the Fashion-MNIST folder with the four IDX files (.gz or not), e.g. ../shared/data/fashion-mnist-subset',
      nonEmptyFlag('--data'),
    )
    .option('--part <part>', `generate, classify or all (default ${d.part})`, choiceFlag('--part', FASHION_MNIST_PARTS), d.part)
    .option('--train-images <n>', 'use the first n training images (default all)', intFlag('--train-images', 2))
    .option('--test-images <n>', 'use the first n test images (default all)', intFlag('--test-images'))
    .option(
      '--validation-images <n>',
      `the last n training images choose the baselines' α and λ (then refit on all) (default ${d.validationImages})`,
      intFlag('--validation-images'),
      d.validationImages,
    )
    .option('--hidden <n>', `d_model, even (default ${d.hidden})`, intFlag('--hidden', 2), d.hidden)
    .option('--heads <n>', `attention heads (default ${d.heads})`, intFlag('--heads'), d.heads)
    .option(
      '--layers <list>',
      `attn_layers, comma-separated local/lsh (default ${d.layers.join(',')})`,
      choiceListFlag('--layers', ['local', 'lsh'] as const),
      [...d.layers],
    )
    .option('--ff <n>', `feed_forward_size (default ${d.ff})`, intFlag('--ff'), d.ff)
    .option(
      '--chunk <n>',
      `local and LSH chunk length, a divisor of 812 (28 = one image row) (default ${d.chunk})`,
      intFlag('--chunk'),
      d.chunk,
    )
    .option('--num-hashes <n>', `LSH hash rounds (default ${d.numHashes})`, intFlag('--num-hashes'), d.numHashes)
    .option('--steps <n>', `pixel-LM training steps (default ${d.steps})`, intFlag('--steps'), d.steps)
    .option('--classify-steps <n>', `classifier training steps (default ${d.classifySteps})`, intFlag('--classify-steps'), d.classifySteps)
    .option('--batch <n>', `images per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(...lrOption(d.lr, '--lr', 'pixel-LM peak AdamW learning rate, cosine decay to lr/10'))
    .option(...lrOption(d.classifyLr, '--classify-lr', 'classifier peak AdamW learning rate'))
    .option(...warmupOption())
    .option('--eval-batch <n>', `test images per evaluation forward (default ${d.evalBatch})`, intFlag('--eval-batch'), d.evalBatch)
    .option('--samples <n>', `images to sample for the PNG grid (default ${d.samples})`, intFlag('--samples'), d.samples)
    .option('--temperature <t>', `sampling temperature (default ${d.temperature})`, numberFlag('--temperature', 0, 10), d.temperature)
    .option(
      '--lbfgs-iterations <n>',
      `most L-BFGS iterations per logistic-regression fit (default ${d.lbfgsIterations})`,
      intFlag('--lbfgs-iterations'),
      d.lbfgsIterations,
    )
    .option('--seed <s>', `initialisation, batch order and sampler seed (default ${d.seed})`, intFlag('--seed', 0), d.seed)
    .option(
      '--out <dir>',
      `results.json, samples.png, test-images.png, lm/ and classifier/ checkpoints (default ${d.out})`,
      nonEmptyFlag('--out'),
      d.out,
    )
    .addOption(shared.threads)
    .addOption(shared.backend)
    .addHelpText(
      'after',
      `\nExample: reformer task fashion-mnist --data ../shared/data/fashion-mnist-subset --part generate --steps 300\n${shared.exitHelp}`,
    )
    .action(async (flags: FashionMnistFlags) => {
      setExit(await taskFashionMnistCommand(flags, ctx, log));
    });
}
