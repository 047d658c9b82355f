/**
 * `reformer demo` (= `npm start`): the main job a new user runs first.
 *
 * 1. Builds the default Reformer (preset `small`: local/LSH/local/LSH, sequence 4096, reversible, axial
 *    positions) and measures one training step on this machine (calibration, parameters untouched).
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
import { splitTokens } from '../../train/data.js';
import { evaluate } from '../../train/evaluate.js';
import { BatchSampler } from '../../train/data.js';
import { ByteTokenizer } from '../../train/tokenizer.js';
import type { RandomStateful } from '../../train/trainer.js';
import { CHECKPOINT_SUBDIR, loadCheckpoint } from '../checkpoint.js';
import { readCorpusFile } from '../corpus-file.js';
import { engineForConfig, parseConfigJson, type EngineModel } from '../engine.js';
import { fmtDuration, TaskProgress } from '../progress.js';
import { checkOutputDir } from '../paths.js';
import type { BackendKind, CliContext } from './context.js';
import { generateCommand } from './generate.js';
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

/** Defaults of the main job (README "Quick start"); chosen by measurement, see docs/TRAINING.md. */
export const DEMO_DEFAULTS = {
  /** Training budget: the whole command stays under 10 minutes on a 2-core machine. */
  minutes: 8.5,
  out: 'runs/default',
  prompt: 'Raskolnikov ',
  /** Peak learning rate of AdamW (cosine decay to lr/10 over the planned steps). */
  lr: 3e-3,
  /** Linear warm-up steps. */
  warmup: 50,
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

  // ---- the model as it is now (untrained, or the checkpoint), the split, calibration, "before"
  const { backend, note } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (note) ctx.stderr.write(`note: ${note}\n`);
  const seed = flags.seed ?? DEMO_DEFAULTS.seed;
  let em: EngineModel;
  let stepsDone = 0;
  if (resuming) {
    const ck = loadCheckpoint(runDir);
    const cfg = parseConfigJson(ck.config, `${ck.dir}/config.json`);
    em = engineForConfig(cfg, ctx.engines, ck.dir).load(backend, cfg, ck.weights);
    stepsDone = ck.snapshot?.state.step ?? 0;
  } else {
    em = ctx.engine.create(backend, { preset: presetName, seed });
  }
  const corpus = readCorpusFile(dataPath, '--data');
  const tokens = new ByteTokenizer().encode(corpus.bytes);
  const data = splitTokens(tokens, { validationFraction: TRAIN_DEFAULTS.valFraction, seqLen: em.seqLen });
  const batch = Math.max(1, Math.round(TRAIN_DEFAULTS.tokensPerStep / em.seqLen));

  const stepS = secondsPerStep(em, data.train, batch);
  const evalS = (DEMO_DEFAULTS.evalWindows * stepS) / 3 / DEMO_DEFAULTS.evalEvery; // a forward ≈ 1/3 of a training step
  const planned = Math.max(DEMO_DEFAULTS.warmup + 1, Math.floor((flags.minutes * 60 - RESERVE_S) / (stepS + evalS)));
  const steps = stepsDone + (flags.steps !== undefined ? Math.min(flags.steps, planned) : planned);
  log(
    `calibration (${backend.name}): ${stepS.toFixed(2)} s per training step of ${batch} × ${em.seqLen} tokens -> planning ${steps - stepsDone} steps`,
  );

  const before = validationBpb(em, data.validation, ctx, 'validation before training');
  log(
    `before: ${before.bpb.toFixed(4)} bits per byte on the ${before.bytes.toLocaleString('en-US')} held-out bytes${resuming ? ` (step ${stepsDone})` : ' (untrained)'}`,
  );

  // ---- train (reformer train: progress, checkpoints, metrics, curves, signals)
  const trainFlags: TrainFlags = {
    ...(resuming ? { resume: runDir } : { out: runDir, preset: presetName, data: dataPath, seed }),
    steps,
    minutes: flags.minutes,
    lr: flags.lr ?? DEMO_DEFAULTS.lr,
    warmup: Math.min(DEMO_DEFAULTS.warmup, Math.floor((steps - stepsDone) / 10)),
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
