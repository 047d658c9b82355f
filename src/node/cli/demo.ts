/**
 * `reformer demo` (= `npm start`): the main job a new user runs first.
 *
 * 1. Plans the run (src/train/plan.ts): measures a training step of the default Reformer (preset
 *    `small`: local/LSH/local/LSH, sequence 4096, reversible, axial positions) on this machine
 *    (calibration, parameters untouched); when the budget does not give it the steps it needs to reach
 *    its measured result (a slow or loaded machine), measures the next shape of `DEMO_LADDER` (`tiny`,
 *    4 × 1024 tokens per step: a step is 3–4.6× cheaper) and takes it. When even that plan cannot leave
 *    the ≈ 3.5 plateau it says so before training, with the `--minutes` that would.
 * 2. Prints the validation bits per byte of the untrained model (≈ 8 = log2 of 258 ids) on the held-out
 *    last 5% of the embedded "Crime and Punishment" (data/crime-and-punishment.txt).
 * 3. Trains for a bounded time (`--minutes`, default `DEMO_DEFAULTS.minutes`): the step count is planned
 *    from the calibration so the cosine learning-rate schedule ends on time; progress is a bar on a TTY,
 *    plain lines otherwise; the run (checkpoint, metrics.jsonl, training.svg) goes to `--out`
 *    (default runs/default/, see README). This is `reformer train` underneath (train.ts).
 * 4. Prints the validation bits per byte after training (same held-out bytes), the wall time and the
 *    training throughput, then a sample generated from `--prompt`.
 *
 * Run it again and it continues the same run for another `--minutes` (a longer run, from its checkpoint).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { type DataSplit, splitTokens } from '../../train/data.js';
import { evaluate } from '../../train/evaluate.js';
import { BatchSampler } from '../../train/data.js';
import { ByteTokenizer } from '../../train/tokenizer.js';
import { DEMO_LADDER, defaultLearningRate, planRun, type RunShape } from '../../train/plan.js';
import { optionsFromState, type RandomStateful } from '../../train/trainer.js';
import { CHECKPOINT_SUBDIR, loadCheckpoint } from '../checkpoint.js';
import { readCorpusFile } from '../corpus-file.js';
import { engineForConfig, parseConfigJson, type EngineModel } from '../engine.js';
import { fmtDuration, TaskProgress } from '../progress.js';
import { checkOutputDir } from '../paths.js';
import type { BackendKind, CliContext } from './context.js';
import { generateCommand } from './generate.js';
import { runExtra } from './run-extra.js';
import { TRAIN_DEFAULTS, trainCommand, type TrainFlags } from './train.js';

export interface DemoFlags {
  minutes: number;
  out: string;
  prompt: string;
  preset?: string;
  data?: string;
  /** Optional step cap (tests, reproducible runs); the time budget still applies. */
  steps?: number;
  lr?: number;
  seed?: number;
  maxNewTokens: number;
  threads?: number;
  backend?: BackendKind;
}

/**
 * Defaults of the main job (README "Quick start"); chosen by measurement, see docs/TRAINING.md. The model
 * shape, peak learning rate (AdamW, cosine decay to lr/10) and warm-up come from the plan (`DEMO_LADDER`).
 */
export const DEMO_DEFAULTS = {
  /** Training budget: the whole command stays under 10 minutes on a 2-core machine. */
  minutes: 8.5,
  out: 'runs/default',
  prompt: 'Raskolnikov ',
  /** Periodic validation: every `evalEvery` steps on `evalWindows` windows (≈ 1% of the time). */
  evalEvery: 100,
  evalWindows: 4,
  seed: 1,
  maxNewTokens: 400,
} as const;

/** Seconds reserved for the final validation, the checkpoint write and the sample. */
const RESERVE_S = 20;

/**
 * Bits per byte of `model` on the whole held-out split (every byte after the first scored once), with
 * progress on stderr (`label`: a bar on a terminal, plain lines in a pipe).
 */
function validationBpb(em: EngineModel, validation: Int32Array, ctx: CliContext, label: string): { bpb: number; bytes: number } {
  const saved = (em.model as unknown as Partial<RandomStateful>).getRandomState?.();
  let progress: TaskProgress | null = null;
  try {
    const r = evaluate(em.model, validation, {
      seqLen: Math.min(em.seqLen, validation.length),
      batch: 1,
      onProgress: (done, total) => {
        progress ??= new TaskProgress({ stream: ctx.stderr, label, unit: 'windows', total });
        progress.update(done);
      },
    });
    return { bpb: r.bitsPerByte, bytes: r.targets };
  } finally {
    (progress as TaskProgress | null)?.stop();
    if (saved) (em.model as unknown as RandomStateful).setRandomState(saved);
  }
}

/**
 * Seconds per training step of `em` (the fastest of 3 after one warm-up: other jobs on the machine only
 * ever slow a step down), on real windows; parameters untouched.
 */
function secondsPerStep(em: EngineModel, train: Int32Array, batch: number): number {
  const model = em.model;
  const saved = (model as unknown as Partial<RandomStateful>).getRandomState?.();
  const sampler = new BatchSampler(train, { batch, seqLen: em.seqLen, seed: 12345 });
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const b = sampler.next();
    const t0 = performance.now();
    model.backend.scope(() => model.lossAndGrad(b));
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  model.grads.fill(0);
  if (saved) (model as unknown as RandomStateful).setRandomState(saved);
  return Math.min(...times);
}

/**
 * The shapes the plan may choose from: `DEMO_LADDER` for a new run with the default model; the ladder's
 * entries of `--preset` (or that preset at its own length, unmeasured) when one is given; the checkpoint's
 * own shape for a continued run. `alternative` is the second remedy a warning names.
 */
function demoLadder(
  ctx: CliContext,
  resumed: { em: EngineModel; batch: number; preset: string | undefined } | null,
  preset: string | undefined,
): { ladder: RunShape[]; alternative?: string } {
  const measured = DEMO_LADDER.filter((s) => ctx.engine.presets.includes(s.preset));
  if (resumed) {
    const own = measured.find((s) => s.preset === resumed.preset && s.seqLen === resumed.em.seqLen && s.batch === resumed.batch);
    return { ladder: [own ?? unmeasuredShape(resumed.preset ?? 'checkpoint', resumed.em.seqLen, resumed.batch)] };
  }
  const smallest = measured[measured.length - 1];
  const smaller = smallest && smallest.preset !== (preset ?? ctx.engine.defaultPreset) ? `--preset ${smallest.preset}` : undefined;
  if (preset === undefined) {
    if (measured.length > 0) return { ladder: measured };
    preset = ctx.engine.defaultPreset;
  }
  const own = measured.filter((s) => s.preset === preset);
  if (own.length > 0) return { ladder: own, ...(smaller !== undefined ? { alternative: smaller } : {}) };
  const seqLen = ctx.engine.trainingLength?.({ preset }).seqLen ?? TRAIN_DEFAULTS.tokensPerStep;
  return {
    ladder: [unmeasuredShape(preset, seqLen, Math.max(1, Math.round(TRAIN_DEFAULTS.tokensPerStep / seqLen)))],
    ...(smaller !== undefined ? { alternative: smaller } : {}),
  };
}

/** A shape without measured step counts: the small preset's plateau and target steps stand in for them. */
function unmeasuredShape(preset: string, seqLen: number, batch: number): RunShape {
  const ref = DEMO_LADDER[0] as RunShape;
  return { ...ref, preset, seqLen, batch, lr: defaultLearningRate(preset, 'adamw') };
}

/** Runs `reformer demo`; returns the exit code. */
export async function demoCommand(flags: DemoFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  const t0 = performance.now();
  const runDir = resolve(flags.out);
  checkOutputDir(runDir, `--out ${flags.out}`); // before the calibration and the first validation
  const resuming = existsSync(join(runDir, CHECKPOINT_SUBDIR, 'manifest.json'));
  if (resuming && flags.preset !== undefined) {
    throw new UsageError(
      `--preset ${flags.preset}: ${runDir} already holds a run; it is continued with its own model (choose another --out for a new one)`,
    );
  }
  // a continued run keeps its data (as `reformer train --resume`)
  const storedData = resuming
    ? (loadCheckpoint(runDir).snapshot?.state.extra as { data?: { path?: string } } | undefined)?.data?.path
    : undefined;
  const dataPath = flags.data ?? storedData ?? join(ctx.packageRoot, 'data', 'crime-and-punishment.txt');
  const presetName = flags.preset ?? ctx.engine.defaultPreset;
  log(
    resuming
      ? `reformer demo: continuing the run in ${runDir} for at most ${flags.minutes} more minutes`
      : `reformer demo: training a Reformer (preset ${presetName}) on ${dataPath} for at most ${flags.minutes} minutes -> ${runDir}`,
  );

  // ---- the model as it is now (untrained, or the checkpoint), the split, the plan, "before"
  const { backend, note } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (note) ctx.stderr.write(`note: ${note}\n`);
  const seed = flags.seed ?? DEMO_DEFAULTS.seed;
  const corpus = readCorpusFile(dataPath, '--data');
  const tokens = new ByteTokenizer().encode(corpus.bytes);
  let stepsDone = 0;
  let resumedModel: { em: EngineModel; batch: number; preset: string | undefined } | null = null;
  if (resuming) {
    const ck = loadCheckpoint(runDir);
    const cfg = parseConfigJson(ck.config, `${ck.dir}/config.json`);
    const extra = runExtra(ck.snapshot);
    const preset = extra.preset ?? undefined;
    const em = engineForConfig(cfg, ctx.engines, ck.dir).load(backend, cfg, ck.weights, preset);
    stepsDone = ck.snapshot?.state.step ?? 0;
    const stored = ck.snapshot ? optionsFromState(ck.snapshot.state) : null;
    resumedModel = { em, batch: stored?.batch ?? Math.max(1, Math.round(TRAIN_DEFAULTS.tokensPerStep / em.seqLen)), preset };
  }
  const { ladder, alternative } = demoLadder(ctx, resumedModel, flags.preset);
  // each shape is built and measured only when the one before it does not fit
  const built = new Map<RunShape, { em: EngineModel; split: DataSplit }>();
  const buildShape = (shape: RunShape): { em: EngineModel; split: DataSplit } => {
    let b = built.get(shape);
    if (!b) {
      const em = resumedModel?.em ?? ctx.engine.create(backend, { preset: shape.preset, seed, seqLen: shape.seqLen });
      const split = splitTokens(tokens, { validationFraction: TRAIN_DEFAULTS.valFraction, seqLen: em.seqLen });
      b = { em, split };
      built.set(shape, b);
    }
    return b;
  };
  const plan = planRun(
    flags.minutes,
    ladder,
    (shape) => {
      const { em, split } = buildShape(shape);
      const stepS = secondsPerStep(em, split.train, shape.batch);
      // a validation window's forward ≈ 1/3 of training it
      const evalS = (DEMO_DEFAULTS.evalWindows * (stepS / shape.batch)) / 3 / DEMO_DEFAULTS.evalEvery;
      log(
        `calibration (${backend.name}): ${stepS.toFixed(2)} s per training step of ${shape.batch} × ${em.seqLen} tokens (${shape.preset})`,
      );
      return stepS + evalS;
    },
    {
      reserveSeconds: RESERVE_S,
      stepsDone,
      ...(flags.steps !== undefined ? { maxSteps: flags.steps } : {}),
      ...(alternative !== undefined ? { alternative } : {}),
    },
  );
  const shape = plan.shape;
  const { em, split: data } = buildShape(shape);
  const lr = flags.lr ?? shape.lr;
  const steps = stepsDone + plan.steps;
  log(
    `plan: ${plan.steps} steps of ${shape.batch} × ${em.seqLen} tokens (${shape.preset}), AdamW lr ${lr} (cosine, warm-up ${Math.min(shape.warmup, Math.floor(plan.steps / 10))}); ` +
      (plan.verdict === 'reaches-target'
        ? `${shape.targetSteps} steps reached ${shape.targetBpb} bits per byte in the measured run (docs/TRAINING.md)`
        : plan.verdict === 'leaves-plateau'
          ? `enough to leave the ≈ 3.5 plateau (≈ ${shape.plateauSteps} steps), short of the measured ${shape.targetSteps}`
          : `not enough to leave the ≈ 3.5 plateau (≈ ${shape.plateauSteps} steps)`),
  );
  if (plan.warning) ctx.stderr.write(`warning: ${plan.warning}\n`);

  const before = validationBpb(em, data.validation, ctx, 'validation before training');
  log(
    `before: ${before.bpb.toFixed(4)} bits per byte on the ${before.bytes.toLocaleString('en-US')} held-out bytes${resuming ? ` (step ${stepsDone})` : ' (untrained)'}`,
  );

  // ---- train (reformer train: progress, checkpoints, metrics, curves, signals)
  const trainFlags: TrainFlags = {
    ...(resuming
      ? { resume: runDir }
      : { out: runDir, preset: shape.preset, seqLen: shape.seqLen, batch: shape.batch, data: dataPath, seed }),
    steps,
    minutes: flags.minutes,
    lr,
    warmup: Math.min(shape.warmup, Math.floor((steps - stepsDone) / 10)),
    evalEvery: DEMO_DEFAULTS.evalEvery,
    evalWindows: DEMO_DEFAULTS.evalWindows,
    checkpointEvery: DEMO_DEFAULTS.evalEvery,
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
  };
  const explicit = new Set(Object.keys(trainFlags));
  const code = await trainCommand(trainFlags, explicit, ctx, log);
  if (code !== 0) return code;

  // ---- after: the saved checkpoint on the same held-out bytes, throughput, sample
  const ck = loadCheckpoint(runDir);
  const cfg = parseConfigJson(ck.config, `${ck.dir}/config.json`);
  const trained = engineForConfig(cfg, ctx.engines, ck.dir).load(backend, cfg, ck.weights);
  const after = validationBpb(trained, data.validation, ctx, 'validation after training');
  const st = ck.snapshot?.state;
  const wall = (performance.now() - t0) / 1000;
  log(
    `after: ${after.bpb.toFixed(4)} bits per byte on the same held-out bytes (step ${st?.step ?? '?'}; all ${after.bytes.toLocaleString('en-US')} of them, where the periodic validation lines score ${DEMO_DEFAULTS.evalWindows} windows)`,
  );
  if (st) {
    const runSteps = st.step - stepsDone;
    log(
      `summary: ${runSteps} steps this run (${st.step} in total), ${st.tokensSeen.toLocaleString('en-US')} training tokens in total, ` +
        `${Math.round(st.tokensSeen / (st.elapsedMs / 1000)).toLocaleString('en-US')} tokens/s of training; wall time of this command ${fmtDuration(Math.round(wall))}`,
    );
  }
  log(`checkpoint: ${ck.dir} (reformer eval / generate / verify --checkpoint ${flags.out}; npm start again continues this run)`);
  log(`\nsample (temperature 0.8, top-k 40, seed 0) after "${flags.prompt}":\n`);
  ctx.stdout.write(flags.prompt);
  const g = await generateCommand(
    {
      checkpoint: runDir,
      prompt: flags.prompt,
      maxNewTokens: flags.maxNewTokens,
      temperature: 0.8,
      topK: 40,
      topP: 1,
      seed: 0,
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
    },
    ctx,
  );
  ctx.stdout.write('\n');
  return g;
}
