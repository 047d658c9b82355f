/**
 * `reformer task duplication`: the paper's Table 2 in miniature (Sec. 5, the duplication task `0 w 0 w`,
 * apps/duplication.ts). For every training attention (`--train`, default full, LSH-1/2/4 and local) it
 * trains a fresh model with the `Trainer` on freshly generated sequences (loss on the second copy only),
 * saves it as a checkpoint in `<out>/<attention>/`, and scores it with every evaluation attention
 * (`--eval`: full, LSH-8/4/2/1 by the per-call `num_hashes`, local) on the same held-out sequences. Progress
 * goes to stderr; `<out>/results.json` is rewritten (atomically) after each model; the table, ours beside
 * the paper's, goes to stdout at the end.
 */
import { join } from 'node:path';
import { type Command, Help, type Option } from 'commander';
import {
  DUPLICATION_EVAL_ATTENTIONS,
  DUPLICATION_TRAIN_ATTENTIONS,
  type DuplicationEvalAttention,
  type DuplicationModelSpec,
  type DuplicationTrainAttention,
  checkDuplicationModelSpec,
  duplicationConfig,
  evaluable,
  hashesOf,
  PAPER_TABLE2,
} from '../../apps/duplication-models.js';
import {
  checkDuplicationSpec,
  DuplicationBatches,
  duplicationSeqLen,
  evaluateDuplication,
  type DuplicationResult,
} from '../../apps/duplication.js';
import { ReformerConfig } from '../../config/reformer-config.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../model/lm-model.js';
import { registerFashionMnistTask } from './apps/fashion-mnist.js';
import { displayPath } from '../paths.js';
import { fmtDuration, TaskProgress } from '../progress.js';
import type { BackendKind, CliContext } from './context.js';
import { choiceListFlag, intFlag, nonEmptyFlag } from './parse.js';
import { lrOption, minutesOption, warmupOption } from './tasks/task-flags.js';
import { checkTaskOut, markdownTable, round, writeResultsJson } from './tasks/task-results.js';
import { lmTrainer, trainAndSave, warmupSteps } from './tasks/task-training.js';
import { chunkedShape, chunkedShapeRecord } from './tasks/task-shape.js';
import { registerPasskeyTask } from './apps/passkey.js';
import { registerGenomeTask } from './apps/genome.js';
import { registerForecastTask } from './apps/forecast.js';

export interface DuplicationFlags {
  wordLength: number;
  vocab: number;
  hidden: number;
  heads: number;
  layers: number;
  ff: number;
  lshChunk: number;
  localChunk: number;
  train: DuplicationTrainAttention[];
  eval: DuplicationEvalAttention[];
  steps: number;
  minutes?: number;
  batch: number;
  lr: number;
  warmup?: number;
  evalSequences: number;
  evalBatch: number;
  seed: number;
  out: string;
  threads?: number;
  backend?: BackendKind;
}

/**
 * Defaults (`--help`): |w| 63, V 128 (sequence 128), 1 layer, d_model 64, 4 heads, chunks of 16 for LSH
 * (16 buckets) and local (a query sees ≤ 31 positions back, the task needs 64), 400 steps of 16 sequences at lr 3e-3
 * (full attention learns the copy by step ~200: measured, docs/APPLICATIONS.md).
 */
export const DUPLICATION_DEFAULTS = {
  wordLength: 63,
  vocab: 128,
  hidden: 64,
  heads: 4,
  layers: 1,
  ff: 128,
  lshChunk: 16,
  localChunk: 16,
  train: [...DUPLICATION_TRAIN_ATTENTIONS],
  eval: [...DUPLICATION_EVAL_ATTENTIONS],
  steps: 400,
  batch: 16,
  lr: 3e-3,
  evalSequences: 256,
  evalBatch: 16,
  seed: 1,
  out: 'runs/duplication',
} as const;

/** Seed of the evaluation sequences: the same set for every model and attention, apart from training's. */
const EVAL_SEED_OFFSET = 1_000_003;

interface ModelRecord {
  train: DuplicationTrainAttention;
  steps: number;
  stopped_by: string;
  train_seconds: number;
  final_train_loss: number | null;
  checkpoint: string;
  eval: Partial<Record<DuplicationEvalAttention, (DuplicationResult & { seconds: number }) | null>>;
}

/** Runs the experiment; returns the exit code. @throws ConfigError / UsageError for bad flags (exit 2). */
export async function taskDuplicationCommand(flags: DuplicationFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  const spec: DuplicationModelSpec = {
    wordLength: flags.wordLength,
    vocabSize: flags.vocab,
    ...chunkedShape(flags),
  };
  checkDuplicationSpec(spec);
  checkDuplicationModelSpec(spec);
  checkTaskOut(flags.out);
  const L = duplicationSeqLen(spec.wordLength);
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  if (flags.train.includes('local') && 2 * spec.localChunk - 1 >= spec.wordLength + 1) {
    note(
      `note: --local-chunk ${spec.localChunk} lets a query see ${2 * spec.localChunk - 1} positions back, enough for the ${spec.wordLength + 1} the task needs: local attention is no longer a short-window baseline`,
    );
  }
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  note(
    `duplication: |w| ${spec.wordLength}, V ${spec.vocabSize}, sequence ${L}; ${spec.layers} layer(s), d_model ${spec.hidden}, ${spec.heads} heads, ` +
      `LSH chunk ${spec.lshChunk}, local chunk ${spec.localChunk}; ${flags.steps} steps × ${flags.batch} sequences${flags.minutes !== undefined ? ` (or ${flags.minutes} min)` : ''} per model`,
  );
  const resultsPath = join(flags.out, 'results.json');
  const records: ModelRecord[] = [];
  const write = (): void =>
    writeResultsJson(resultsPath, {
      format: 'reformer-ts.duplication-results',
      version: 1,
      task: { word_length: spec.wordLength, vocab_size: spec.vocabSize, seq_len: L, scored: 'second copy of w' },
      model: chunkedShapeRecord(spec),
      training: { steps: flags.steps, minutes: flags.minutes ?? null, batch: flags.batch, lr: flags.lr, seed: flags.seed },
      evaluation: { sequences: flags.evalSequences, seed: flags.seed + EVAL_SEED_OFFSET },
      backend: backend.constructor.name,
      results: records,
      paper_table2_percent: PAPER_TABLE2,
    });
  for (const attention of flags.train) {
    const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(duplicationConfig(spec, attention)), { seed: flags.seed });
    const trainer = lmTrainer(
      lm,
      {
        batch: flags.batch,
        seqLen: L,
        steps: flags.steps,
        lr: flags.lr,
        warmupSteps: warmupSteps(flags.steps, flags.warmup),
        seed: flags.seed,
        ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
      },
      new DuplicationBatches(spec, { batch: flags.batch, seed: flags.seed }),
    );
    note(`train ${attention}: ${lm.params.length.toLocaleString('en-US')} parameters`);
    const dir = join(flags.out, attention);
    const {
      run,
      seconds: trainSeconds,
      files,
    } = await trainAndSave(trainer, {
      stream: ctx.stderr,
      totalSteps: flags.steps,
      ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
      logEvery: 50,
      bitsPerByte: false,
      checkpoint: { dir, files: () => lmCheckpointToBytes(lm) },
    });
    const record: ModelRecord = {
      train: attention,
      steps: run.step,
      stopped_by: run.stoppedBy,
      train_seconds: round(trainSeconds, 1),
      final_train_loss: run.lastStep ? round(run.lastStep.loss, 4) : null,
      checkpoint: displayPath(dir),
      eval: {},
    };
    records.push(record);
    for (const ev of flags.eval) {
      if (!evaluable(attention, ev)) {
        record.eval[ev] = null;
        continue;
      }
      const model = lmFromCheckpoint(backend, {
        config: JSON.stringify(duplicationConfig(spec, attention, ev)),
        safetensors: files.safetensors,
      });
      const bar = new TaskProgress({
        stream: ctx.stderr,
        label: `eval ${attention} → ${ev}`,
        unit: 'sequences',
        total: flags.evalSequences,
      });
      const e0 = performance.now();
      try {
        const r = evaluateDuplication(model, spec, {
          sequences: flags.evalSequences,
          batch: flags.evalBatch,
          seed: flags.seed + EVAL_SEED_OFFSET,
          ...(ev.startsWith('lsh-') ? { numHashes: hashesOf(ev) } : {}),
          onProgress: (done) => bar.update(done),
        });
        record.eval[ev] = { ...r, seconds: round((performance.now() - e0) / 1000, 1) };
      } finally {
        bar.stop();
      }
    }
    write();
    note(
      `${attention}: ${run.step} steps in ${fmtDuration(trainSeconds)}; accuracy ${flags.eval
        .map((ev) => `${ev} ${fmtPercent(record.eval[ev]?.accuracy)}`)
        .join(', ')}`,
    );
  }
  for (const line of duplicationTable(records, flags.eval)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

function fmtPercent(x: number | undefined): string {
  return x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`;
}

/**
 * The accuracy table, one row per trained model: `ours (paper)` in percent per evaluation attention;
 * `n/a` where the model has no weights for that attention, `-` where the paper has no number.
 */
export function duplicationTable(
  records: readonly Pick<ModelRecord, 'train' | 'eval'>[],
  evals: readonly DuplicationEvalAttention[],
): string[] {
  const head = ['trained \\ eval', ...evals.map((e) => `${e} ours (paper)`)];
  const rows = records.map((r) => [
    r.train,
    ...evals.map((e) => {
      const ours = r.eval[e];
      const paper = PAPER_TABLE2[r.train]?.[e];
      return `${ours ? (100 * ours.accuracy).toFixed(1) : 'n/a'} (${paper === undefined ? '-' : paper.toFixed(1)})`;
    }),
  ]);
  return markdownTable(head, rows);
}

/**
 * Registers `reformer task duplication` on `program` (main.ts passes its shared `--threads` /
 * `--backend` options and the exit-code help).
 */
export function addTaskCommand(
  program: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  log: (line: string) => void,
  shared: { threads: Option; backend: Option; exitHelp: string },
): void {
  const d = DUPLICATION_DEFAULTS;
  const task = program
    .command('task')
    .description(
      "the seed's applications, one command each (docs/APPLICATIONS.md): duplication (paper Table 2), passkey (retrieval at 1K-64K), genome (bits per base vs Markov), fashion-mnist (pixels: bits/dim, classification), forecast (CO2, WTI)",
    )
    // the task options name their defaults in their descriptions: no second "(default: …)" from commander
    .configureHelp({ optionDescription: (o) => (/\(default/.test(o.description) ? o.description : new Help().optionDescription(o)) });
  task
    .command('duplication')
    .description(
      'the duplication task 0 w 0 w (paper Sec. 5, Table 2): train with full, LSH and local attention, evaluate each with full, LSH-8/4/2/1 and local (accuracy on the second copy); <out>/results.json and a table',
    )
    .option(
      '--word-length <n>',
      `|w|, symbols per copy (sequence 2·(|w|+1); the paper: 511) (default ${d.wordLength})`,
      intFlag('--word-length'),
      d.wordLength,
    )
    .option('--vocab <n>', `V: symbols 1…V−1, separator 0 (the paper: 128) (default ${d.vocab})`, intFlag('--vocab', 3), d.vocab)
    .option('--hidden <n>', `d_model (the paper: 256) (default ${d.hidden})`, intFlag('--hidden'), d.hidden)
    .option('--heads <n>', `attention heads (the paper: 4) (default ${d.heads})`, intFlag('--heads'), d.heads)
    .option('--layers <n>', `layers (the paper: 1) (default ${d.layers})`, intFlag('--layers'), d.layers)
    .option('--ff <n>', `feed_forward_size (default ${d.ff})`, intFlag('--ff'), d.ff)
    .option('--lsh-chunk <n>', `lsh_attn_chunk_length, a divisor of 2·(|w|+1) (default ${d.lshChunk})`, intFlag('--lsh-chunk'), d.lshChunk)
    .option(
      '--local-chunk <n>',
      `local_attn_chunk_length, a divisor of 2·(|w|+1); a query sees 2·chunk−1 positions back (default ${d.localChunk})`,
      intFlag('--local-chunk'),
      d.localChunk,
    )
    .option(
      '--train <list>',
      `attentions to train with, comma-separated from ${DUPLICATION_TRAIN_ATTENTIONS.join(', ')} (default all)`,
      choiceListFlag('--train', DUPLICATION_TRAIN_ATTENTIONS),
      [...d.train],
    )
    .option(
      '--eval <list>',
      `attentions to evaluate with, comma-separated from ${DUPLICATION_EVAL_ATTENTIONS.join(', ')} (default all)`,
      choiceListFlag('--eval', DUPLICATION_EVAL_ATTENTIONS),
      [...d.eval],
    )
    .option('--steps <n>', `training steps per model (default ${d.steps})`, intFlag('--steps'), d.steps)
    .option(...minutesOption('also stop each model after m minutes of training (whichever comes first)'))
    .option('--batch <n>', `sequences per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(...lrOption(d.lr))
    .option(...warmupOption())
    .option(
      '--eval-sequences <n>',
      `held-out sequences per evaluation (default ${d.evalSequences})`,
      intFlag('--eval-sequences'),
      d.evalSequences,
    )
    .option('--eval-batch <n>', `sequences per evaluation forward (default ${d.evalBatch})`, intFlag('--eval-batch'), d.evalBatch)
    .option('--seed <s>', `initialisation, training and evaluation seed (default ${d.seed})`, intFlag('--seed', 0), d.seed)
    .option('--out <dir>', `results.json and one checkpoint per trained model (default ${d.out})`, nonEmptyFlag('--out'), d.out)
    .addOption(shared.threads)
    .addOption(shared.backend)
    .addHelpText('after', `\nExample: reformer task duplication --train lsh-4,local --steps 300 --out runs/dup\n${shared.exitHelp}`)
    .action(async (flags: DuplicationFlags) => {
      setExit(await taskDuplicationCommand(flags, ctx, log));
    });
  registerPasskeyTask(task, ctx, setExit, log, shared);
  registerGenomeTask(task, ctx, setExit, log, shared);
  registerFashionMnistTask(task, ctx, setExit, log, shared);
  registerForecastTask(task, ctx, setExit, log, shared);
}
