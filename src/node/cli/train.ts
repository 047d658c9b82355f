/**
 * `reformer train`: data file -> tokens -> train/validation split -> Trainer, with progress, JSONL
 * metrics, periodic atomic checkpoints, an SVG of the curves, and a graceful stop on SIGINT/SIGTERM.
 * A new run starts from a preset/config (byte tokens), or from a pretrained checkpoint or HF folder
 * (`--checkpoint`: fine-tuning, with the folder's tokenizer, e.g. its spiece.model, kept in the run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isLegacyConfigKey, legacyConfigNotes } from '../../config/legacy-keys.js';
import { FormatError, UsageError } from '../../errors.js';
import { DEFAULT_VALIDATION_FRACTION, splitTokens } from '../../train/data.js';
import { ByteTokenizer, bytesPerTokenOf, type Tokenizer } from '../../train/tokenizer.js';
import type { OptimizerName } from '../../train/optimizer.js';
import { defaultLearningRate } from '../../train/plan.js';
import {
  optimizerName,
  optionsFromState,
  Trainer,
  type TrainerSnapshot,
  type TrainOptions,
  type TrainResult,
} from '../../train/trainer.js';
import { writeFileAtomic } from '../atomic.js';
import { CHECKPOINT_SUBDIR, checkCheckpointPath, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { checkReadableFile, readCorpusFile } from '../corpus-file.js';
import { engineForConfig, parseConfigJson, type EngineModel } from '../engine.js';
import { MetricsLog } from '../metrics.js';
import { trainingCurveSvg } from '../plot.js';
import { checkOutputDir, displayPath } from '../paths.js';
import { fmtDuration, TrainingProgress } from '../progress.js';
import { StopSignals } from '../signals.js';
import type { BackendKind, CliContext } from './context.js';
import { checkpointTokenizer, readCheckpointNoted } from './load-model.js';
import { checkLengthMultiple } from './parse.js';
import { fastaOptionsOf, fingerprint, runExtra, type FastaFlags, type TrainExtra } from './run-extra.js';

export interface TrainFlags extends FastaFlags {
  data?: string;
  out?: string;
  preset?: string;
  config?: string;
  seqLen?: number;
  batch?: number;
  steps?: number;
  minutes?: number;
  lr?: number;
  optimizer?: OptimizerName;
  warmup?: number;
  seed?: number;
  resume?: string;
  /** Pretrained checkpoint or HF folder to fine-tune (a new run). */
  checkpoint?: string;
  evalEvery?: number;
  evalWindows?: number;
  checkpointEvery?: number;
  valFraction?: number;
  threads?: number;
  backend?: BackendKind;
}

/** Defaults of a new run (documented in `--help`). */
export const TRAIN_DEFAULTS = {
  minutes: 10,
  optimizer: 'adamw',
  // the peak learning rate: defaultLearningRate(preset, optimizer) (src/train/plan.ts, measured per preset)
  tokensPerStep: 4096,
  seed: 1,
  evalEvery: 100,
  evalWindows: 16,
  valFraction: DEFAULT_VALIDATION_FRACTION,
  out: 'runs/train',
} as const;

const OPTIMIZER_LABEL: Record<OptimizerName, string> = { adamw: 'AdamW', adafactor: 'Adafactor' };

/**
 * Runs `reformer train`; returns the exit code. `explicit` = flags given on the command line. `log`
 * gets the report lines (stdout); notes and warnings go to stderr.
 */
export async function trainCommand(
  flags: TrainFlags,
  explicit: ReadonlySet<string>,
  ctx: CliContext,
  log: (line: string) => void,
): Promise<number> {
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  // ---- paths first, before any work: what to resume, where to write
  let resumeDir: string | null = null;
  if (flags.checkpoint !== undefined) {
    if (flags.resume !== undefined) {
      throw new UsageError(
        '--checkpoint and --resume: --resume continues a run of this tool, --checkpoint starts a new run from pretrained weights; give one',
      );
    }
    if (explicit.has('preset') || explicit.has('config')) {
      throw new UsageError('--preset/--config cannot be combined with --checkpoint: the model comes from the checkpoint');
    }
    checkCheckpointPath(flags.checkpoint, '--checkpoint');
  }
  if (flags.resume !== undefined) {
    if (explicit.has('preset') || explicit.has('config')) {
      throw new UsageError('--preset/--config cannot be combined with --resume: the model comes from the checkpoint');
    }
    resumeDir = checkCheckpointPath(flags.resume, '--resume');
  }
  const checkpointDir =
    flags.out !== undefined
      ? join(resolve(flags.out), CHECKPOINT_SUBDIR)
      : (resumeDir ?? join(resolve(TRAIN_DEFAULTS.out), CHECKPOINT_SUBDIR));
  const runDir = dirname(checkpointDir);
  const outFlag =
    flags.out !== undefined
      ? `--out ${flags.out}`
      : resumeDir !== null
        ? `--resume ${flags.resume}`
        : `--out ${TRAIN_DEFAULTS.out} (the default)`;
  checkOutputDir(
    runDir,
    outFlag,
    flags.out === undefined && resumeDir !== null ? 'pass --out <new dir> to continue into a directory this user can write to' : undefined,
  );
  // a resumed run writes over its own checkpoint, or into a new run directory given by --out
  const intoNewRun = resumeDir === null || checkpointDir !== resumeDir;
  if (intoNewRun && (existsSync(checkpointDir) || existsSync(join(checkpointDir, 'manifest.json')))) {
    throw new UsageError(
      resumeDir === null
        ? `--out ${flags.out ?? TRAIN_DEFAULTS.out}: ${runDir} already holds a checkpoint; continue it with --resume ${runDir}, or choose another --out`
        : `--out ${flags.out}: ${runDir} already holds a checkpoint, which resuming ${flags.resume} into it would overwrite; choose a new --out`,
    );
  }

  // ---- what to resume
  let resumed: LoadedCheckpoint | null = null;
  if (flags.resume !== undefined) {
    resumed = loadCheckpoint(flags.resume, '--resume');
    if (!resumed.snapshot)
      throw new FormatError(`--resume ${flags.resume}: the checkpoint has no trainer state (inference only); nothing to resume`);
    if (resumed.recovered) note(`note: ${resumeDir} was incomplete (a save was interrupted); resuming from its backup ${resumed.dir}`);
  }
  const pretrained = flags.checkpoint !== undefined ? readCheckpointNoted(flags.checkpoint, '--checkpoint') : null;
  const stored = resumed?.snapshot?.state ?? null;
  const storedOptions = stored ? optionsFromState(stored) : null;
  const extra = runExtra(resumed?.snapshot);
  // a run keeps its optimizer (a stored config without a name is AdamW)
  const optimizer: OptimizerName = storedOptions ? optimizerName(storedOptions.optimizer) : (flags.optimizer ?? TRAIN_DEFAULTS.optimizer);
  if (storedOptions && explicit.has('optimizer') && flags.optimizer !== optimizer) {
    throw new UsageError(
      `--optimizer ${flags.optimizer}: ${flags.resume} was trained with ${OPTIMIZER_LABEL[optimizer]}, and a run keeps its optimizer (the state of one does not carry over to the other); leave --optimizer out to resume with ${OPTIMIZER_LABEL[optimizer]}, or start a new run with --out <new dir> and no --resume`,
    );
  }
  if (stored && storedOptions) {
    // --steps is the total to reach, counted from the run's start (as in the run that saved the checkpoint)
    if (explicit.has('steps') && flags.steps !== undefined && flags.steps <= stored.step) {
      throw new UsageError(
        `--steps ${flags.steps}: the checkpoint is already at step ${stored.step}; pass a larger --steps (the total to reach), or --minutes`,
      );
    }
    if (!explicit.has('steps') && !explicit.has('minutes') && storedOptions.steps !== undefined && storedOptions.steps <= stored.step) {
      throw new UsageError(
        `--resume ${flags.resume}: the run already reached its --steps ${storedOptions.steps} (the checkpoint is at step ${stored.step}); pass a larger --steps (the total to reach), or --minutes`,
      );
    }
  }

  // ---- a new run's model: its training length follows the chunk lengths (checked before the model is built)
  let configObj: Record<string, unknown> | undefined;
  if (!resumed && !pretrained) {
    if (flags.config !== undefined) {
      checkReadableFile(flags.config, '--config');
      configObj = parseConfigJson(readFileSync(flags.config), flags.config);
      const unknown = (ctx.engine.unrecognisedConfigKeys?.(configObj) ?? []).filter((k) => !isLegacyConfigKey(k));
      for (const n of legacyConfigNotes(configObj)) note(`note: --config ${flags.config}: ${n}`);
      if (unknown.length > 0) {
        note(
          `note: --config ${flags.config}: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a field' : 'are not fields'} of this model's config (kept in config.json, as HF does, but ${unknown.length === 1 ? 'it changes' : 'they change'} nothing); check the spelling`,
        );
      }
    }
    const shape = ctx.engine.trainingLength?.({
      ...(flags.preset !== undefined ? { preset: flags.preset } : {}),
      ...(configObj ? { config: configObj } : {}),
      ...(flags.seqLen !== undefined ? { seqLen: flags.seqLen } : {}),
    });
    if (shape && flags.seqLen !== undefined) {
      const why = `${shape.rule.why}${flags.config !== undefined ? `, from --config ${flags.config}` : ''}`;
      checkLengthMultiple(`--seq-len ${flags.seqLen}`, shape.seqLen, { ...shape.rule, why });
    } else if (shape) {
      const source = flags.config !== undefined ? `--config ${flags.config}` : `--preset ${flags.preset ?? ctx.engine.defaultPreset}`;
      checkLengthMultiple(source, shape.seqLen, shape.rule, {
        what: `the training length ${shape.seqLen} (no --seq-len given) `,
        fix: `pass one with --seq-len${flags.config !== undefined ? ', or change the chunk lengths in the config' : ''}`,
      });
    }
  }

  // ---- data
  const dataPath = flags.data ?? extra.data?.path ?? join(ctx.packageRoot, 'data', 'crime-and-punishment.txt');
  const fasta = fastaOptionsOf(flags, extra.fasta);
  const corpus = readCorpusFile(dataPath, '--data', fasta);
  // the tokenizer of the model: bytes for a new run, the checkpoint's (spiece.model or bytes) otherwise
  const source = resumed ?? pretrained?.ck ?? null;
  const sourceConfig = resumed ? parseConfigJson(resumed.config, `${resumed.dir}/config.json`) : (pretrained?.config ?? null);
  const tokenizer: Tokenizer = source && sourceConfig ? checkpointTokenizer(source, sourceConfig) : new ByteTokenizer();
  for (const n of pretrained?.notes ?? []) note(n);
  const tokens = tokenizer.encode(corpus.bytes);
  const fp = fingerprint(tokens);
  if (resumeDir !== null && extra.data && extra.data.fingerprint !== fp) {
    const what =
      flags.data !== undefined && resolve(flags.data) !== extra.data.path
        ? `--data ${flags.data} differs from the data this checkpoint was trained on (${extra.data.path})`
        : `--data ${dataPath}: the file changed since this checkpoint was trained on it`;
    if (!intoNewRun) {
      throw new UsageError(
        `${what}; resuming on other data would overwrite ${displayPath(runDir)}: pass --out <new dir> to fine-tune into a new run`,
      );
    }
    note(`warning: ${what}; fine-tuning into the new run ${displayPath(runDir)} (${displayPath(dirname(resumeDir))} stays as it is)`);
  }

  // ---- model
  const threads = flags.threads; // undefined: all cores
  const backendKind: BackendKind = flags.backend ?? extra.backend ?? 'auto';
  const created = await ctx.createBackend(backendKind, threads);
  const backend = created.backend;
  if (created.note) note(`note: ${created.note}`);
  let em: EngineModel;
  const modelSeed = flags.seed ?? extra.model_seed ?? TRAIN_DEFAULTS.seed;
  if (source && sourceConfig) {
    const preset = resumed ? (extra.preset ?? undefined) : undefined;
    em = engineForConfig(sourceConfig, ctx.engines, source.dir).load(backend, sourceConfig, source.weights, preset);
    if (flags.seqLen !== undefined && flags.seqLen !== em.seqLen) {
      throw new UsageError(
        `--seq-len ${flags.seqLen}: the checkpoint trains on windows of ${em.seqLen} (the product of its axial_pos_shape); leave --seq-len out ${resumed ? 'when resuming' : 'when fine-tuning'}`,
      );
    }
  } else {
    em = ctx.engine.create(backend, {
      ...(flags.preset !== undefined ? { preset: flags.preset } : {}),
      ...(configObj ? { config: configObj } : {}),
      ...(flags.seqLen !== undefined ? { seqLen: flags.seqLen } : {}),
      seed: modelSeed,
    });
  }
  const seqLen = em.seqLen;

  // ---- options: flags, else the checkpoint's, else defaults
  const pick = <T>(key: string, flag: T | undefined, fromState: T | undefined, fallback: T): T =>
    explicit.has(key) && flag !== undefined ? flag : (fromState ?? flag ?? fallback);
  const byFlags = explicit.has('steps') || explicit.has('minutes');
  const steps = byFlags ? flags.steps : storedOptions ? storedOptions.steps : undefined;
  const minutes = byFlags ? flags.minutes : storedOptions ? storedOptions.minutes : TRAIN_DEFAULTS.minutes;
  const defaultWarmup = steps !== undefined ? Math.min(100, Math.ceil(steps / 10)) : 50;
  const evalEvery = pick('evalEvery', flags.evalEvery, storedOptions?.evalEvery, TRAIN_DEFAULTS.evalEvery);
  const options: TrainOptions = {
    batch: pick('batch', flags.batch, storedOptions?.batch, Math.max(1, Math.round(TRAIN_DEFAULTS.tokensPerStep / seqLen))),
    seqLen,
    ...(steps !== undefined ? { steps } : {}),
    ...(minutes !== undefined ? { minutes } : {}),
    // a new run from a preset (or a --config on top of one) takes the preset's measured best; fine-tuning the fallback
    lr: pick(
      'lr',
      flags.lr,
      storedOptions?.lr,
      defaultLearningRate(pretrained ? undefined : (flags.preset ?? ctx.engine.defaultPreset), optimizer),
    ),
    warmupSteps: pick('warmup', flags.warmup, storedOptions?.warmupSteps, defaultWarmup),
    ...(storedOptions?.minLr !== undefined && !explicit.has('lr') ? { minLr: storedOptions.minLr } : {}),
    optimizer: storedOptions?.optimizer ?? { name: optimizer },
    // the sampler's seed differs from the model's initialisation seed
    seed: storedOptions && !explicit.has('seed') ? storedOptions.seed : modelSeed + 1,
    evalEvery,
    evalWindows: pick('evalWindows', flags.evalWindows, storedOptions?.evalWindows, TRAIN_DEFAULTS.evalWindows),
    checkpointEvery: pick('checkpointEvery', flags.checkpointEvery, storedOptions?.checkpointEvery, evalEvery),
    bytesPerToken: bytesPerTokenOf(tokenizer, corpus.bytes.length, tokens.length),
  };
  if (resumed && storedOptions) {
    for (const k of ['lr', 'batch', 'warmup', 'seed'] as const) {
      if (explicit.has(k)) note(`note: --${k} overrides the checkpoint's setting; the continuation differs from the original run`);
    }
  }
  const validationFraction = pick('valFraction', flags.valFraction, extra.validation_fraction, TRAIN_DEFAULTS.valFraction);
  const data = splitTokens(tokens, { validationFraction, seqLen });

  const trainer = new Trainer(em.model, data, options);
  if (resumed) trainer.restore(resumed.snapshot!); // restores the checkpoint's extra too: replaced below
  // what this run trains on (a fine-tune with --out records its own data, not the resumed run's)
  trainer.extra = {
    data: { path: resolve(dataPath), bytes: corpus.bytes.length, format: corpus.format, fingerprint: fp },
    tokenizer: tokenizer.name,
    ...(pretrained ? { finetuned_from: pretrained.ck.dir } : extra.finetuned_from ? { finetuned_from: extra.finetuned_from } : {}),
    model_seed: modelSeed,
    preset: resumed ? (extra.preset ?? null) : pretrained ? null : (flags.preset ?? ctx.engine.defaultPreset),
    validation_fraction: validationFraction,
    ...(corpus.format === 'fasta' ? { fasta } : {}),
    backend: backend.name.startsWith('wasm') ? 'wasm' : 'reference',
  } satisfies TrainExtra;
  if (extra.backend && trainer.extra.backend !== extra.backend) {
    note(
      `note: the checkpoint was trained on the ${extra.backend} backend, this run uses ${backend.name}; results differ in the last bits from an uninterrupted run`,
    );
  }

  /** "validation every 100 steps", or "validation at the end only" for 0. */
  const every = (what: string, n: number | undefined): string =>
    n !== undefined && n > 0 ? `${what} every ${n} steps` : `${what} at the end only`;
  log(`model: ${em.describe()}; backend ${backend.name}${pretrained ? `; fine-tuning ${pretrained.ck.dir}` : ''}`);
  if (tokenizer.bytesPerToken === null)
    log(`tokenizer: ${tokenizer.name} (${tokenizer.vocabSize} pieces), ${options.bytesPerToken!.toFixed(3)} bytes per token`);
  log(`data: ${dataPath} (${corpus.summary}): ${data.train.length} training and ${data.validation.length} validation tokens`);
  const budget = [
    options.steps !== undefined ? `until step ${options.steps}` : null,
    options.minutes !== undefined ? `for at most ${fmtDuration(Math.round(options.minutes * 60))}` : null,
  ]
    .filter(Boolean)
    .join(' or ');
  log(
    `training ${resumed ? `from step ${trainer.step} ` : ''}${budget}: batch ${options.batch} × ${seqLen} tokens, ${trainer.optimizer.label} lr ${options.lr} ` +
      `(${trainer.schedule.kind}, warm-up ${options.warmupSteps}), ${every('validation', options.evalEvery)}, ${every('checkpoint', options.checkpointEvery)} -> ${checkpointDir}`,
  );

  // ---- logging, checkpoints, plot, signals
  const metrics = new MetricsLog(join(runDir, 'metrics.jsonl'));
  if (resumed) metrics.truncateAfter(trainer.step);
  const progress = new TrainingProgress({
    stream: ctx.stdout as NodeJS.WritableStream,
    tty: Boolean(ctx.stdout.isTTY),
    ...(options.steps !== undefined ? { totalSteps: options.steps } : {}),
    ...(options.minutes !== undefined ? { minutes: options.minutes } : {}),
    startStep: trainer.step,
  });
  const title = `${em.kind}${trainer.extra.preset ? ` ${String(trainer.extra.preset)}` : ''} on ${basename(dataPath)}`;
  const writePlot = async (): Promise<void> => {
    writeFileAtomic(join(runDir, 'training.svg'), await trainingCurveSvg(metrics.read(), title));
  };
  const save = async (snapshot: TrainerSnapshot): Promise<void> => {
    saveCheckpoint(checkpointDir, { config: em.configJson(), weights: em.weights(), snapshot, tokenizer: source?.tokenizer ?? null });
    await writePlot();
  };
  const signals = ctx.handleSignals
    ? new StopSignals(
        (sig) => progress.message(`received ${sig}: finishing the current step and saving a checkpoint (send it again to exit at once)`),
        {
          ...(ctx.signalDuplicateWindowMs !== undefined ? { duplicateWindowMs: ctx.signalDuplicateWindowMs } : {}),
        },
      ).install()
    : null;

  let result: TrainResult;
  try {
    result = await trainer.run({
      onStep: (s) => {
        metrics.step(s);
        progress.step(s);
      },
      onValidation: (v) => {
        metrics.validation(v);
        progress.validation(v);
      },
      onCheckpoint: (snapshot) => save(snapshot),
      shouldStop: () => signals?.requested ?? false,
      // after a signal: wait out the window in which copies of it are ignored, so that from the final
      // validation on a second signal kills at once
      beforeFinal: () => signals?.settled(),
    });
  } finally {
    progress.stop();
    signals?.dispose();
  }

  const why =
    result.stoppedBy === 'stop-request'
      ? `interrupted by ${signals?.signal ?? 'a stop request'}`
      : result.stoppedBy === 'time'
        ? 'time budget reached'
        : 'step budget reached';
  log(`${why} at step ${result.step}`);
  if (result.lastValidation)
    log(`validation: ${result.lastValidation.bitsPerByte.toFixed(4)} bits per byte at step ${result.lastValidation.step}`);
  log(`checkpoint: ${checkpointDir} (metrics ${join(runDir, 'metrics.jsonl')}, curves ${join(runDir, 'training.svg')})`);
  if (result.stoppedBy !== 'steps') log(`resume with: reformer train --resume ${runDir}`);
  return 0;
}
