/**
 * `reformer train --task mlm|classify|qa`: trains an HF task head (`ReformerForMaskedLM`,
 * `ReformerForSequenceClassification`, `ReformerForQuestionAnswering`) with the LM command's run
 * directory, progress, metrics.jsonl, atomic checkpoints, signals and resume. The model is new (from
 * `--preset`/`--config`/`--seq-len`, made bidirectional), or starts from `--checkpoint` (an LM, MLM,
 * classifier or QA checkpoint, or HF folder: its encoder is copied, a new head is initialised unless the
 * checkpoint already is this task's class), or continues a task run (`--resume`).
 *
 * Data (`--data`; `--validation <file>`, else the last `--val-fraction` of the records is held out):
 *   mlm       text or FASTA (as the LM), cut into windows of the model's length; HF's 80/10/10 masking
 *             at `--mlm-probability` (default 0.15) with the padding id as the mask token
 *   classify  JSON Lines {"text": "...", "label": <name | id | number | [names]>} (classification-data.ts)
 *   qa        JSON Lines {"context", "question", "answer_text", "answer_start"} (qa-data.ts; byte models)
 * Every input is truncated to, and padded with an attention mask up to, the model's length (training
 * needs exactly Π axial_pos_shape tokens).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ReformerConfig } from '../../../config/reformer-config.js';
import { FormatError, UsageError } from '../../../errors.js';
import { configFromBytes } from '../../../model/checkpoint.js';
import { headCheckpointToBytes } from '../../../model/heads/checkpoint.js';
import { labelInfo, type ProblemType, withLabels } from '../../../model/heads/task-config.js';
import { labelSchemeFromData, type LabelScheme } from '../../../train/tasks/classification-data.js';
import { DEFAULT_MLM_PROBABILITY } from '../../../train/tasks/masking.js';
import { TaskTrainer, type TaskValidationInfo } from '../../../train/tasks/task-trainer.js';
import type { TaskKind } from '../../../train/tasks/tasks.js';
import { ByteTokenizer, type Tokenizer } from '../../../train/tokenizer.js';
import { CHECKPOINT_SUBDIR, checkCheckpointPath, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../../checkpoint.js';
import { checkReadableFile } from '../../corpus-file.js';
import { parseConfigJson } from '../../engine.js';
import { MetricsLog } from '../../metrics.js';
import { checkOutputDir, displayPath } from '../../paths.js';
import { trainingCurveSvg } from '../../plot.js';
import { fmtDuration, TrainingProgress } from '../../progress.js';
import { chunkMultiple } from '../../reformer-engine.js';
import { StopSignals } from '../../signals.js';
import { writeFileAtomic } from '../../atomic.js';
import type { CliContext } from '../context.js';
import { checkpointTokenizer, readCheckpointNoted } from '../load-model.js';
import { checkLengthMultiple } from '../parse.js';
import { TRAIN_DEFAULTS, type TrainFlags } from '../train.js';
import { FALLBACK_LR } from '../../../train/plan.js';
import { readJsonLinesFile } from './task-data.js';
import { modelLength, newTaskConfig, TASK_ARCHITECTURE, taskOfConfig } from './task-model.js';
import { buildModel, prepare } from './task-prepare.js';

/** `reformer train` flags of the task runs (besides `TrainFlags`). */
export interface TaskFlags {
  task?: 'lm' | TaskKind;
  mlmProbability?: number;
  problemType?: ProblemType;
  validation?: string;
  maxAnswerLen?: number;
}

/** Defaults of task runs where they differ from the LM's. */
export const TASK_DEFAULTS = {
  /** Examples per step. */
  batch: 8,
  /** AdamW's peak learning rate for fine-tuning-sized runs. */
  lr: 5e-4,
  /** Longest predicted answer, tokens (bytes). */
  maxAnswerLen: 100,
} as const;

/** Task-only flags given with another task: one clear line. */
export function checkTaskFlags(flags: TaskFlags, explicit: ReadonlySet<string>): void {
  const task = flags.task ?? 'lm';
  const only: Array<[keyof TaskFlags, string, string]> = [
    ['mlmProbability', '--mlm-probability', 'mlm'],
    ['problemType', '--problem-type', 'classify'],
    ['maxAnswerLen', '--max-answer-len', 'qa'],
  ];
  for (const [key, flag, t] of only) {
    if (explicit.has(key) && task !== t) throw new UsageError(`${flag} applies to --task ${t} only (this run is --task ${task})`);
  }
  if (explicit.has('validation') && task === 'lm') {
    throw new UsageError('--validation applies to --task mlm|classify|qa; a language-model run holds out --val-fraction of --data');
  }
}

/** Runs `reformer train --task mlm|classify|qa`; returns the exit code. */
export async function trainTaskCommand(
  flags: TrainFlags & TaskFlags,
  explicit: ReadonlySet<string>,
  ctx: CliContext,
  log: (line: string) => void,
): Promise<number> {
  const task = flags.task as TaskKind;
  checkTaskFlags(flags, explicit);
  // ---- paths: what to resume, where to write (the LM run's rules)
  if (flags.checkpoint !== undefined && flags.resume !== undefined) {
    throw new UsageError(
      '--checkpoint and --resume: --resume continues a run of this tool, --checkpoint starts a new run from pretrained weights; give one',
    );
  }
  for (const src of ['checkpoint', 'resume'] as const) {
    if (flags[src] !== undefined && (explicit.has('preset') || explicit.has('config'))) {
      throw new UsageError(`--preset/--config cannot be combined with --${src}: the model comes from the checkpoint`);
    }
  }
  const resumeDir = flags.resume !== undefined ? checkCheckpointPath(flags.resume, '--resume') : null;
  if (flags.checkpoint !== undefined) checkCheckpointPath(flags.checkpoint, '--checkpoint');
  const checkpointDir =
    flags.out !== undefined
      ? join(resolve(flags.out), CHECKPOINT_SUBDIR)
      : (resumeDir ?? join(resolve(TRAIN_DEFAULTS.out), CHECKPOINT_SUBDIR));
  const runDir = dirname(checkpointDir);
  checkOutputDir(
    runDir,
    flags.out !== undefined ? `--out ${flags.out}` : resumeDir ? `--resume ${flags.resume}` : `--out ${TRAIN_DEFAULTS.out} (the default)`,
  );
  if ((resumeDir === null || checkpointDir !== resumeDir) && existsSync(checkpointDir)) {
    throw new UsageError(
      `--out ${flags.out ?? TRAIN_DEFAULTS.out}: ${runDir} already holds a checkpoint; continue it with --resume ${runDir}, or choose another --out`,
    );
  }

  // ---- the run to resume, the pretrained source
  let resumed: LoadedCheckpoint | null = null;
  let resumedConfig: Record<string, unknown> | null = null;
  if (flags.resume !== undefined) {
    resumed = loadCheckpoint(flags.resume, '--resume');
    if (!resumed.snapshot)
      throw new FormatError(`--resume ${flags.resume}: the checkpoint has no trainer state (inference only); nothing to resume`);
    resumedConfig = parseConfigJson(resumed.config, `${resumed.dir}/config.json`);
    const kind = taskOfConfig(resumedConfig);
    if (kind !== task) {
      throw new UsageError(
        `--resume ${flags.resume}: that run is ${kind ? `--task ${kind}` : 'a language model (--task lm)'}; resume it with its own --task`,
      );
    }
  }
  const pretrained = flags.checkpoint !== undefined ? readCheckpointNoted(flags.checkpoint, '--checkpoint') : null;
  const source = resumed ?? pretrained?.ck ?? null;
  const sourceConfig = resumedConfig ?? pretrained?.config ?? null;
  const tokenizer: Tokenizer = source && sourceConfig ? checkpointTokenizer(source, sourceConfig) : new ByteTokenizer();
  for (const n of pretrained?.notes ?? []) log(n);
  if (task === 'qa' && tokenizer.bytesPerToken !== 1) {
    throw new UsageError(
      `--task qa needs a byte-level model (answer spans are byte offsets); ${flags.checkpoint} uses the ${tokenizer.name} tokenizer`,
    );
  }
  const stored = resumed?.snapshot?.state ?? null;
  const extra = (stored?.extra ?? {}) as { data?: { path?: string }; validation?: string | null };

  // ---- data files (read before any model is built: a bad line fails fast)
  const dataPath = flags.data ?? extra.data?.path;
  if (dataPath === undefined)
    throw new UsageError(`--task ${task} needs --data <file> (${task === 'mlm' ? 'text or FASTA' : 'JSON Lines'})`);
  const validationPath = flags.validation ?? extra.validation ?? undefined;
  const records = task === 'mlm' ? null : readJsonLinesFile(dataPath, '--data');
  const valRecords = task !== 'mlm' && validationPath !== undefined ? readJsonLinesFile(validationPath, '--validation') : null;

  // ---- the model's config: the checkpoint's (resume / pretrained), else a new one
  let scheme: LabelScheme | null = null;
  let config: ReformerConfig;
  let preset: string | null = null;
  const sourceTask = sourceConfig ? taskOfConfig(sourceConfig) : null;
  if (sourceConfig && sourceTask === task) {
    config = configFromBytes(sourceConfig);
  } else if (sourceConfig) {
    // a pretrained LM / MLM / other head: its encoder, this task's head (bidirectional)
    config = configFromBytes(sourceConfig).with({ is_decoder: false, architectures: [TASK_ARCHITECTURE[task]] });
  } else {
    let configObj: Record<string, unknown> | undefined;
    if (flags.config !== undefined) {
      checkReadableFile(flags.config, '--config');
      configObj = parseConfigJson(readFileSync(flags.config), flags.config);
    }
    const spec = {
      ...(flags.preset !== undefined ? { preset: flags.preset } : {}),
      ...(configObj ? { config: configObj } : {}),
      ...(flags.seqLen !== undefined ? { seqLen: flags.seqLen } : {}),
    };
    if (task === 'classify') scheme = labelSchemeFromData(records!, `--data ${dataPath}`, flags.problemType ?? null);
    const r = newTaskConfig(task, spec, scheme);
    config = r.config;
    preset = r.preset;
    const len = modelLength(config);
    checkLengthMultiple(flags.seqLen !== undefined ? `--seq-len ${flags.seqLen}` : `--preset ${preset}`, len, chunkMultiple(config));
  }
  if (task === 'classify' && !scheme) {
    if (sourceTask === 'classify') {
      const info = labelInfo(config);
      scheme = {
        problemType: info.problemType ?? (info.numLabels === 1 ? 'regression' : 'single_label_classification'),
        names: info.names,
        ids: info.ids,
      };
    } else {
      scheme = labelSchemeFromData(records!, `--data ${dataPath}`, flags.problemType ?? null);
      config = withLabels(config, scheme.names, scheme.problemType);
    }
  }
  const seqLen = modelLength(config);
  if (flags.seqLen !== undefined && source && flags.seqLen !== seqLen) {
    throw new UsageError(
      `--seq-len ${flags.seqLen}: the checkpoint's model takes ${seqLen} tokens (the product of its axial_pos_shape); leave --seq-len out`,
    );
  }

  // ---- backend and model
  const { backend, note } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (note) log(`note: ${note}`);
  const seed = flags.seed ?? TRAIN_DEFAULTS.seed;
  const model = buildModel(backend, task, config, source, sourceTask === task, seed, log);

  // ---- examples
  const valFraction = flags.valFraction ?? TRAIN_DEFAULTS.valFraction;
  const prepared = prepare(task, model, tokenizer, {
    dataPath,
    records,
    valRecords,
    validationPath,
    valFraction,
    seqLen,
    scheme,
    mlmProbability: flags.mlmProbability ?? DEFAULT_MLM_PROBABILITY,
    maxAnswerLen: flags.maxAnswerLen ?? TASK_DEFAULTS.maxAnswerLen,
    seed,
  });

  // ---- trainer
  const steps = explicit.has('steps') || explicit.has('minutes') ? flags.steps : (stored?.options.steps ?? flags.steps);
  const minutes =
    explicit.has('steps') || explicit.has('minutes') ? flags.minutes : stored ? stored.options.minutes : TRAIN_DEFAULTS.minutes;
  const evalEvery = flags.evalEvery ?? stored?.options.evalEvery ?? TRAIN_DEFAULTS.evalEvery;
  const batch = flags.batch ?? stored?.options.batch ?? TASK_DEFAULTS.batch;
  const trainer = new TaskTrainer(prepared.definition, prepared.train, prepared.validation, {
    batch,
    ...(steps !== undefined ? { steps } : {}),
    ...(minutes !== undefined ? { minutes } : {}),
    lr: flags.lr ?? stored?.options.lr ?? (flags.optimizer === 'adafactor' ? FALLBACK_LR.adafactor : TASK_DEFAULTS.lr),
    warmupSteps: flags.warmup ?? stored?.options.warmupSteps ?? (steps !== undefined ? Math.min(100, Math.ceil(steps / 10)) : 50),
    optimizer: (stored?.options.optimizer as { name?: 'adamw' } | undefined) ?? { name: flags.optimizer ?? 'adamw' },
    seed: stored?.options.seed ?? seed + 1,
    evalEvery,
    ...(flags.evalWindows !== undefined ? { evalExamples: flags.evalWindows } : {}),
    checkpointEvery: flags.checkpointEvery ?? stored?.options.checkpointEvery ?? evalEvery,
  });
  if (resumed?.snapshot) trainer.restore(resumed.snapshot);
  trainer.extra = {
    data: { path: resolve(dataPath), format: task === 'mlm' ? 'text' : 'jsonl' },
    validation: validationPath !== undefined ? resolve(validationPath) : null,
    tokenizer: tokenizer.name,
    ...(pretrained ? { finetuned_from: pretrained.ck.dir } : {}),
    model_seed: seed,
    preset,
    backend: backend.name.startsWith('wasm') ? 'wasm' : 'reference',
  };

  const config0 = model.config;
  log(
    `model: ${model.architecture}: ${config0.numLayers} layers (${config0.attn_layers.join('/')}), hidden ${config0.hidden_size}, ` +
      `${config0.num_attention_heads}×${config0.attention_head_size} heads, sequence ${seqLen}, ${model.params.length.toLocaleString('en-US')} parameters; backend ${backend.name}` +
      `${pretrained ? `; from ${pretrained.ck.dir}` : ''}`,
  );
  log(`data: ${prepared.summary}`);
  const budget = [
    steps !== undefined ? `until step ${steps}` : null,
    minutes !== undefined ? `for at most ${fmtDuration(Math.round(minutes * 60))}` : null,
  ]
    .filter(Boolean)
    .join(' or ');
  log(
    `training ${resumed ? `from step ${trainer.step} ` : ''}${budget}: batch ${batch} × ${seqLen} tokens, ${trainer.optimizer.label} lr ${trainer.schedule.peakLr} -> ${checkpointDir}`,
  );

  // ---- logging, checkpoints, signals
  const metrics = new MetricsLog(join(runDir, 'metrics.jsonl'));
  if (resumed) metrics.truncateAfter(trainer.step);
  const progress = new TrainingProgress({
    stream: ctx.stdout as NodeJS.WritableStream,
    tty: Boolean(ctx.stdout.isTTY),
    ...(steps !== undefined ? { totalSteps: steps } : {}),
    ...(minutes !== undefined ? { minutes } : {}),
    startStep: trainer.step,
    bitsPerByte: task === 'mlm',
  });
  const save = async (snapshot: ReturnType<typeof trainer.snapshot>): Promise<void> => {
    const files = headCheckpointToBytes(model);
    saveCheckpoint(checkpointDir, {
      config: new TextDecoder().decode(files.config),
      weights: files.safetensors,
      snapshot,
      tokenizer: source?.tokenizer ?? null,
    });
    if (task === 'mlm')
      writeFileAtomic(
        join(runDir, 'training.svg'),
        await trainingCurveSvg(metrics.read(), `${model.architecture} on ${basename(dataPath)}`),
      );
  };
  const signals = ctx.handleSignals
    ? new StopSignals(
        (sig) => progress.message(`received ${sig}: finishing the current step and saving a checkpoint (send it again to exit at once)`),
        {
          ...(ctx.signalDuplicateWindowMs !== undefined ? { duplicateWindowMs: ctx.signalDuplicateWindowMs } : {}),
        },
      ).install()
    : null;
  let result: Awaited<ReturnType<typeof trainer.run>>;
  try {
    result = await trainer.run({
      onStep: (s) => {
        metrics.step(s);
        progress.step(s);
      },
      onValidation: (v) => {
        metrics.taskValidation(task, v);
        progress.validationSummary(`validation at step ${v.step}: ${describeEvaluation(v)}`, shortEvaluation(v));
      },
      onCheckpoint: (snapshot) => save(snapshot),
      shouldStop: () => signals?.requested ?? false,
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
  if (result.lastValidation) log(`validation: ${describeEvaluation(result.lastValidation)}`);
  log(`checkpoint: ${checkpointDir} (metrics ${join(runDir, 'metrics.jsonl')})`);
  if (result.stoppedBy !== 'steps') log(`resume with: reformer train --task ${task} --resume ${displayPath(runDir)}`);
  return 0;
}

/** One line of an evaluation's metrics, e.g. `accuracy 0.9100, macro-F1 0.9050, loss 0.2710 (200 examples)`. */
export function describeEvaluation(v: Pick<TaskValidationInfo, 'loss' | 'metrics' | 'examples'>): string {
  const names: Record<string, string> = {
    macro_f1: 'macro-F1',
    bits_per_byte: 'bits per masked byte',
    exact_match: 'exact match',
    f1: 'F1',
    mse: 'MSE',
  };
  const parts = Object.entries(v.metrics)
    .filter(([k]) => k !== 'masked_tokens')
    .map(([k, x]) => `${names[k] ?? k} ${x.toFixed(4)}`);
  return `${parts.join(', ')}, loss ${v.loss.toFixed(4)} (${v.examples} ${v.examples === 1 ? 'example' : 'examples'})`;
}

function shortEvaluation(v: TaskValidationInfo): string {
  const m = v.metrics;
  if (m.accuracy !== undefined) return `acc ${m.accuracy.toFixed(3)}`;
  if (m.f1 !== undefined) return `F1 ${m.f1.toFixed(1)}`;
  if (m.mse !== undefined) return `MSE ${m.mse.toFixed(4)}`;
  return `bpb ${(m.bits_per_byte ?? Number.NaN).toFixed(3)}`;
}
