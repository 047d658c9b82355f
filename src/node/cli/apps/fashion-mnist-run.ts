/**
 * The run of `reformer task fashion-mnist` (fashion-mnist.ts has its flags): reads the IDX folder, then
 * each part: generate (the marginal baseline, the pixel LM, its bits per dimension and sampled images)
 * and classify (logistic regression, the Reformer classifier); `<out>/results.json` is rewritten after
 * each part (fashion-mnist-report.ts has its head and the table).
 */
import { join } from 'node:path';
import {
  evaluateBitsPerDim,
  FASHION_LABEL_SCHEME,
  pixelClassificationExamples,
  pixelClassifierConfig,
  pixelLmConfig,
  type PixelModelSpec,
  samplePixelImages,
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
import type { Backend } from '../../../backend/backend.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { ConfigError } from '../../../errors.js';
import { lmCheckpointToBytes } from '../../../model/checkpoint.js';
import { headCheckpointToBytes } from '../../../model/heads/checkpoint.js';
import { ReformerForSequenceClassification } from '../../../model/heads/sequence-classification.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { classificationMetrics } from '../../../train/tasks/metrics.js';
import { TaskTrainer } from '../../../train/tasks/task-trainer.js';
import { ClassificationTask } from '../../../train/tasks/tasks.js';
import { type LabelledImages, readFashionMnist, writeGrayPng } from '../../fashion-mnist-data.js';
import { displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress } from '../../progress.js';
import type { CliContext } from '../context.js';
import { checkTaskOut, meter, round, writeResultsJson } from '../tasks/task-results.js';
import { lmTrainer, trainAndSave, warmupSteps } from '../tasks/task-training.js';
import type { FashionMnistFlags } from './fashion-mnist.js';
import { classifyRows, fashionMnistResults, fashionMnistTable, generateRows } from './fashion-mnist-report.js';

const SAMPLE_SEED_OFFSET = 7_000_001;

function softmaxData(split: LabelledImages): SoftmaxData {
  return { x: pixelFeatures(split.images.pixels), y: split.labels, n: split.images.count, d: IMAGE_PIXELS, classes: 10 };
}

function take(split: LabelledImages, n: number | undefined, flag: string): LabelledImages {
  if (n === undefined) return split;
  if (n > split.images.count) throw new ConfigError(flag, `${n} images asked for, the file has ${split.images.count}`);
  return { images: sliceImages(split.images, 0, n), labels: split.labels.subarray(0, n) };
}

/** What a part hands back: its record in results.json and its rows of the table. */
interface PartResult {
  record: Record<string, unknown>;
  rows: string[][];
}

/** What both parts use. */
interface PartInput {
  flags: FashionMnistFlags;
  ctx: CliContext;
  backend: Backend;
  spec: PixelModelSpec;
  train: LabelledImages;
  test: LabelledImages;
  note: (line: string) => void;
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
  checkTaskOut(flags.out);
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
  const results = fashionMnistResults(flags, train, test, backend.constructor.name);
  const table: string[][] = [];
  const input: PartInput = { flags, ctx, backend, spec, train, test, note };
  if (flags.part !== 'classify') {
    const part = await generatePart(input);
    results.generate = part.record;
    writeResultsJson(resultsPath, results);
    table.push(...part.rows);
  }
  if (flags.part !== 'generate') {
    const part = await classifyPart(input);
    results.classify = part.record;
    writeResultsJson(resultsPath, results);
    table.push(...part.rows);
  }
  writeResultsJson(resultsPath, results);
  for (const line of fashionMnistTable(table)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

/** (a) generation: the marginal baseline, the pixel LM (checkpoint `<out>/lm`), its bits/dim, samples.png and test-images.png. */
async function generatePart({ flags, ctx, backend, spec, train, test, note }: PartInput): Promise<PartResult> {
  const mb = meter();
  const marginal = fitMarginalBaseline(train.images, flags.validationImages);
  const marginalTest = marginalBitsPerDim(marginal.counts, test.images, marginal.alpha);
  const marginalMeter = mb();
  note(`marginal baseline: α ${marginal.alpha} (validation), ${marginalTest.toFixed(4)} bits/dim on the test images`);
  const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(pixelLmConfig(spec)), { seed: flags.seed });
  const trainer = lmTrainer(
    lm,
    {
      batch: flags.batch,
      seqLen: PIXEL_SEQ_LEN,
      steps: flags.steps,
      lr: flags.lr,
      warmupSteps: warmupSteps(flags.steps, flags.warmup),
      seed: flags.seed,
    },
    new PixelSequenceBatches(train.images, { batch: flags.batch, seed: flags.seed }),
  );
  const model = trainer.model;
  note(`pixel LM: ${lm.params.length.toLocaleString('en-US')} parameters, ${flags.steps} steps × ${flags.batch} images`);
  const { run, meter: trainMeter } = await trainAndSave(trainer, {
    stream: ctx.stderr,
    totalSteps: flags.steps,
    logEvery: 50,
    bitsPerByte: true,
    checkpoint: { dir: join(flags.out, 'lm'), files: () => lmCheckpointToBytes(lm) },
  });
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
  note(`pixel LM: ${run.step} steps in ${fmtDuration(trainMeter.wall_seconds)}; ${bpd.bitsPerDim.toFixed(4)} bits/dim on the test images`);
  return {
    record: {
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
    },
    rows: generateRows(marginal.alpha, marginalTest, run.step, bpd.bitsPerDim),
  };
}

/** (b) classification: logistic regression on raw pixels, the Reformer classifier (checkpoint `<out>/classifier`). */
async function classifyPart({ flags, ctx, backend, spec, train, test, note }: PartInput): Promise<PartResult> {
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
    warmupSteps: warmupSteps(flags.classifySteps, flags.warmup),
    seed: flags.seed,
  });
  note(`classifier: ${clf.params.length.toLocaleString('en-US')} parameters, ${flags.classifySteps} steps × ${flags.batch} images`);
  let last = 0;
  const { run, meter: trainMeter } = await trainAndSave(trainer, {
    stream: ctx.stderr,
    totalSteps: flags.classifySteps,
    logEvery: 50,
    bitsPerByte: false,
    onStep: (s) => {
      last = s.loss;
    },
    checkpoint: { dir: join(flags.out, 'classifier'), files: () => headCheckpointToBytes(clf) },
  });
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
  note(
    `classifier: ${run.step} steps in ${fmtDuration(trainMeter.wall_seconds)}; test accuracy ${(100 * ev.metrics.accuracy!).toFixed(1)}%`,
  );
  return {
    record: {
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
    },
    rows: classifyRows(lr.model.lambda, lrAcc, run.step, ev.metrics.accuracy!),
  };
}
