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
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import {
  FASHION_LABEL_SCHEME,
  evaluateBitsPerDim,
  pixelClassificationExamples,
  pixelClassifierConfig,
  pixelLmConfig,
  samplePixelImages,
  type PixelModelSpec,
} from '../../../apps/fashion-mnist-models.js';
import {
  fitMarginalBaseline,
  IMAGE_PIXELS,
  imageGrid,
  marginalBitsPerDim,
  PIXEL_SEQ_LEN,
  PixelSequenceBatches,
  sliceImages,
} from '../../../apps/fashion-mnist.js';
import { accuracyOf, chooseLambda, pixelFeatures, predictSoftmax, type SoftmaxData } from '../../../apps/logistic-regression.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { ConfigError } from '../../../errors.js';
import { lmCheckpointToBytes } from '../../../model/checkpoint.js';
import { headCheckpointToBytes } from '../../../model/heads/checkpoint.js';
import { ReformerForSequenceClassification } from '../../../model/heads/sequence-classification.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { classificationMetrics } from '../../../train/tasks/metrics.js';
import { TaskTrainer } from '../../../train/tasks/task-trainer.js';
import { ClassificationTask } from '../../../train/tasks/tasks.js';
import { Trainer } from '../../../train/trainer.js';
import { writeFileAtomic } from '../../atomic.js';
import { saveCheckpoint } from '../../checkpoint.js';
import { type LabelledImages, readFashionMnist, writeGrayPng } from '../../fashion-mnist-data.js';
import { checkOutputDir, displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress, TrainingProgress } from '../../progress.js';
import { ReformerLM } from '../../reformer-engine.js';
import type { BackendKind, CliContext } from '../context.js';
import { choiceFlag, choiceListFlag, intFlag, nonEmptyFlag, numberFlag } from '../parse.js';

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

const SAMPLE_SEED_OFFSET = 7_000_001;

function round(x: number, digits: number): number {
  const s = 10 ** digits;
  return Math.round(x * s) / s;
}

/** Wall time, CPU time and load of a phase (for the docs' "measured" tables). */
function meter(): () => { wall_seconds: number; cpu_seconds: number; load_start: number[]; load_end: number[] } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const l0 = loadavg().map((x) => round(x, 2));
  return () => {
    const c = process.cpuUsage(c0);
    return {
      wall_seconds: round((performance.now() - t0) / 1000, 1),
      cpu_seconds: round((c.user + c.system) / 1e6, 1),
      load_start: l0,
      load_end: loadavg().map((x) => round(x, 2)),
    };
  };
}

function softmaxData(split: LabelledImages): SoftmaxData {
  return { x: pixelFeatures(split.images.pixels), y: split.labels, n: split.images.count, d: IMAGE_PIXELS, classes: 10 };
}

function take(split: LabelledImages, n: number | undefined, flag: string): LabelledImages {
  if (n === undefined) return split;
  if (n > split.images.count) throw new ConfigError(flag, `${n} images asked for, the file has ${split.images.count}`);
  return { images: sliceImages(split.images, 0, n), labels: split.labels.subarray(0, n) };
}

/** Runs the parts; returns the exit code. @throws ConfigError / UsageError for bad flags or data (exit 2). */
export async function taskFashionMnistCommand(flags: FashionMnistFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  const spec: PixelModelSpec = {
    hidden: flags.hidden,
    heads: flags.heads,
    attnLayers: flags.layers,
    feedForward: flags.ff,
    chunk: flags.chunk,
    numHashes: flags.numHashes,
  };
  pixelLmConfig(spec); // validates the spec before any work
  checkOutputDir(flags.out, '--out');
  const data = readFashionMnist(flags.data);
  const train = take(data.train, flags.trainImages, 'train_images');
  const test = take(data.test, flags.testImages, 'test_images');
  if (flags.validationImages >= train.images.count) {
    throw new ConfigError(
      'validation_images',
      `must be fewer than the ${train.images.count} training images, got ${flags.validationImages}`,
    );
  }
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  note(
    `fashion-mnist: ${train.images.count} training and ${test.images.count} test images of 28×28 as ${PIXEL_SEQ_LEN}-token sequences; ` +
      `model: ${flags.layers.length} layers (${flags.layers.join('/')}), d_model ${flags.hidden}, ${flags.heads} heads, ff ${flags.ff}, chunk ${flags.chunk}`,
  );
  const resultsPath = join(flags.out, 'results.json');
  const results: Record<string, unknown> = {
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
    backend: backend.constructor.name,
    threads: flags.threads ?? null,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    seed: flags.seed,
  };
  const write = (): void => writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  const table: string[][] = [];
  const warmup = (steps: number): number => flags.warmup ?? Math.min(100, Math.floor(steps / 10));
  const progress = (steps: number, bitsPerByte: boolean): TrainingProgress =>
    new TrainingProgress({
      stream: ctx.stderr as NodeJS.WritableStream,
      tty: Boolean(ctx.stderr.isTTY),
      totalSteps: steps,
      startStep: 0,
      logEvery: 50,
      bitsPerByte,
    });

  if (flags.part !== 'classify') {
    // ---- (a) generation: the marginal baseline, the pixel LM, samples
    const mb = meter();
    const marginal = fitMarginalBaseline(train.images, flags.validationImages);
    const marginalTest = marginalBitsPerDim(marginal.counts, test.images, marginal.alpha);
    const marginalMeter = mb();
    note(`marginal baseline: α ${marginal.alpha} (validation), ${marginalTest.toFixed(4)} bits/dim on the test images`);
    const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(pixelLmConfig(spec)), { seed: flags.seed });
    const model = new ReformerLM(lm);
    const trainer = new Trainer(
      model,
      { train: new Int32Array(0), validation: new Int32Array(0) },
      { batch: flags.batch, seqLen: PIXEL_SEQ_LEN, steps: flags.steps, lr: flags.lr, warmupSteps: warmup(flags.steps), seed: flags.seed },
      new PixelSequenceBatches(train.images, { batch: flags.batch, seed: flags.seed }),
    );
    note(`pixel LM: ${lm.params.length.toLocaleString('en-US')} parameters, ${flags.steps} steps × ${flags.batch} images`);
    const mt = meter();
    const bar = progress(flags.steps, true);
    let run: Awaited<ReturnType<Trainer['run']>>;
    try {
      run = await trainer.run({ onStep: (s) => bar.step(s) });
    } finally {
      bar.stop();
    }
    const trainMeter = mt();
    const files = lmCheckpointToBytes(lm);
    saveCheckpoint(join(flags.out, 'lm'), { config: files.config, weights: files.safetensors, snapshot: run.snapshot });
    const me = meter();
    const evalBar = new TaskProgress({ stream: ctx.stderr, label: 'bits/dim', unit: 'images', total: test.images.count });
    let bpd: ReturnType<typeof evaluateBitsPerDim>;
    try {
      bpd = evaluateBitsPerDim(model, test.images, { batch: flags.evalBatch, onProgress: (d) => evalBar.update(d) });
    } finally {
      evalBar.stop();
    }
    const evalMeter = me();
    const ms = meter();
    const sampleBar = new TaskProgress({ stream: ctx.stderr, label: 'sampling', unit: 'images', total: flags.samples });
    let samples: Uint8Array[];
    try {
      samples = samplePixelImages(model, flags.samples, {
        seed: flags.seed + SAMPLE_SEED_OFFSET,
        temperature: flags.temperature,
        onImage: (d) => sampleBar.update(d),
      });
    } finally {
      sampleBar.stop();
    }
    const sampleMeter = ms();
    const columns = Math.min(8, flags.samples);
    writeGrayPng(join(flags.out, 'samples.png'), imageGrid(samples, columns), 3);
    const shown = Math.min(flags.samples, test.images.count);
    writeGrayPng(
      join(flags.out, 'test-images.png'),
      imageGrid(
        Array.from({ length: shown }, (_, i) => test.images.pixels.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)),
        Math.min(8, shown),
      ),
      3,
    );
    results.generate = {
      uniform_bits_per_dim: 8,
      marginal: {
        alpha: marginal.alpha,
        validation: marginal.validation,
        test_bits_per_dim: round(marginalTest, 4),
        ...marginalMeter,
      },
      reformer: {
        parameters: lm.params.length,
        steps: run.step,
        batch: flags.batch,
        lr: flags.lr,
        stopped_by: run.stoppedBy,
        final_train_bits_per_dim: run.lastStep ? round(run.lastStep.loss / Math.LN2, 4) : null,
        test_bits_per_dim: round(bpd.bitsPerDim, 4),
        test_pixels: bpd.pixels,
        train: trainMeter,
        eval: evalMeter,
        checkpoint: displayPath(join(flags.out, 'lm')),
      },
      samples: {
        count: flags.samples,
        temperature: flags.temperature,
        seed: flags.seed + SAMPLE_SEED_OFFSET,
        png: displayPath(join(flags.out, 'samples.png')),
        test_png: displayPath(join(flags.out, 'test-images.png')),
        ...sampleMeter,
      },
    };
    write();
    note(
      `pixel LM: ${run.step} steps in ${fmtDuration(trainMeter.wall_seconds)}; ${bpd.bitsPerDim.toFixed(4)} bits/dim on the test images`,
    );
    table.push(
      ['generation (bits/dim, test)', 'uniform', '8.0000'],
      ['', `per-position marginal (α ${marginal.alpha})`, marginalTest.toFixed(4)],
      ['', `Reformer LM (${run.step} steps)`, bpd.bitsPerDim.toFixed(4)],
    );
  }

  if (flags.part !== 'generate') {
    // ---- (b) classification: logistic regression on raw pixels, the Reformer classifier
    const ml = meter();
    const cut = train.images.count - flags.validationImages;
    const fitPart = take(train, cut, 'train_images');
    const valPart: LabelledImages = { images: sliceImages(train.images, cut, train.images.count), labels: train.labels.subarray(cut) };
    const lr = chooseLambda(softmaxData(fitPart), softmaxData(valPart), softmaxData(train), undefined, {
      maxIterations: flags.lbfgsIterations,
      onFit: (lambda, acc, it) =>
        note(`logistic regression: λ ${lambda}: validation accuracy ${(100 * acc).toFixed(1)}% (${it} L-BFGS iterations)`),
    });
    const lrPred = predictSoftmax(lr.model, pixelFeatures(test.images.pixels));
    const lrAcc = accuracyOf(lrPred, test.labels);
    const lrF1 = classificationMetrics(Array.from(test.labels), Array.from(lrPred)).macroF1;
    const lrMeter = ml();
    note(`logistic regression: λ ${lr.model.lambda}, test accuracy ${(100 * lrAcc).toFixed(1)}%`);
    const clf = new ReformerForSequenceClassification(backend, new ReformerConfig(pixelClassifierConfig(spec)), { seed: flags.seed });
    const task = new ClassificationTask(clf, FASHION_LABEL_SCHEME, { seqLen: PIXEL_SEQ_LEN, padId: 0 });
    const trainer = new TaskTrainer(task, pixelClassificationExamples(train.images, train.labels), [], {
      batch: flags.batch,
      steps: flags.classifySteps,
      lr: flags.classifyLr,
      warmupSteps: warmup(flags.classifySteps),
      seed: flags.seed,
    });
    note(`classifier: ${clf.params.length.toLocaleString('en-US')} parameters, ${flags.classifySteps} steps × ${flags.batch} images`);
    const mt = meter();
    const bar = progress(flags.classifySteps, false);
    let last = 0;
    let run: Awaited<ReturnType<typeof trainer.run>>;
    try {
      run = await trainer.run({
        onStep: (s) => {
          last = s.loss;
          bar.step(s);
        },
      });
    } finally {
      bar.stop();
    }
    const trainMeter = mt();
    const files = headCheckpointToBytes(clf);
    saveCheckpoint(join(flags.out, 'classifier'), { config: files.config, weights: files.safetensors, snapshot: trainer.snapshot() });
    const me = meter();
    const evalBar = new TaskProgress({
      stream: ctx.stderr,
      label: 'classify',
      unit: 'batches',
      total: Math.ceil(test.images.count / flags.evalBatch),
    });
    let ev: ReturnType<ClassificationTask['evaluate']>;
    try {
      ev = task.evaluate(pixelClassificationExamples(test.images, test.labels), {
        batch: flags.evalBatch,
        onProgress: (d) => evalBar.update(d),
      });
    } finally {
      evalBar.stop();
    }
    const evalMeter = me();
    results.classify = {
      logistic_regression: {
        features: 'pixel / 255, 784 inputs + bias',
        lambda: lr.model.lambda,
        validation: lr.validation,
        lbfgs_iterations: lr.model.iterations,
        converged: lr.model.converged,
        test_accuracy: round(lrAcc, 4),
        test_macro_f1: round(lrF1, 4),
        ...lrMeter,
      },
      reformer: {
        parameters: clf.params.length,
        steps: run.step,
        batch: flags.batch,
        lr: flags.classifyLr,
        stopped_by: run.stoppedBy,
        final_train_loss: round(last, 4),
        test_accuracy: round(ev.metrics.accuracy!, 4),
        test_macro_f1: round(ev.metrics.macro_f1!, 4),
        test_loss: round(ev.loss, 4),
        train: trainMeter,
        eval: evalMeter,
        checkpoint: displayPath(join(flags.out, 'classifier')),
      },
    };
    write();
    note(
      `classifier: ${run.step} steps in ${fmtDuration(trainMeter.wall_seconds)}; test accuracy ${(100 * ev.metrics.accuracy!).toFixed(1)}%`,
    );
    table.push(
      ['classification (test accuracy)', `logistic regression (λ ${lr.model.lambda})`, `${(100 * lrAcc).toFixed(1)}%`],
      ['', `Reformer classifier (${run.step} steps)`, `${(100 * ev.metrics.accuracy!).toFixed(1)}%`],
    );
  }
  write();
  const head = ['part', 'model', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  for (const line of [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.map(fmt)]) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

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
    .option(
      '--lr <x>',
      `pixel-LM peak AdamW learning rate, cosine decay to lr/10 (default ${d.lr})`,
      numberFlag('--lr', 0, 10, { exclusiveMin: true }),
      d.lr,
    )
    .option(
      '--classify-lr <x>',
      `classifier peak AdamW learning rate (default ${d.classifyLr})`,
      numberFlag('--classify-lr', 0, 10, { exclusiveMin: true }),
      d.classifyLr,
    )
    .option('--warmup <n>', 'linear warm-up steps (default min(100, steps/10))', intFlag('--warmup', 0))
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
