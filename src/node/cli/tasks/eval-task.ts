/**
 * `reformer eval` and `reformer predict` on task checkpoints (config.json `architectures` names
 * `ReformerForMaskedLM`, `ReformerForSequenceClassification` or `ReformerForQuestionAnswering`; our runs
 * and HF folders alike):
 *
 *   eval     the task's metric on a labelled file, one `name: value` line each on stdout (last lines):
 *            classify: accuracy, macro_f1 (regression: mse); qa: exact_match, f1 (percent);
 *            mlm: bits_per_byte on the masked positions (HF masking at --mlm-probability, fixed seed)
 *   predict  one JSON line per input, in input order, on stdout or atomically into --out:
 *            classify {"line", "label", "probabilities"} (multi-label: "label" lists the classes at
 *            σ ≥ 0.5; regression: "label" is the value); qa {"line", "answer", "start", "end", "score"}
 *            (`start`/`end`: character offsets of the answer in its context, end exclusive)
 * Inputs are truncated/padded to the model's length as in training. Progress goes to stderr.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { FormatError, UsageError } from '../../../errors.js';
import { modelFromCheckpoint } from '../../../model/heads/checkpoint.js';
import type { ReformerForMaskedLM } from '../../../model/heads/masked-lm.js';
import type { ReformerForQuestionAnswering } from '../../../model/heads/question-answering.js';
import type { ReformerForSequenceClassification } from '../../../model/heads/sequence-classification.js';
import { labelInfo } from '../../../model/heads/task-config.js';
import type { ReformerTaskModel } from '../../../model/heads/task-model.js';
import { classificationExamples, type LabelScheme } from '../../../train/tasks/classification-data.js';
import { DEFAULT_MLM_PROBABILITY } from '../../../train/tasks/masking.js';
import { qaRecords } from '../../../train/tasks/qa-data.js';
import { ClassificationTask, MaskedLmTask, QuestionAnsweringTask, type TaskKind } from '../../../train/tasks/tasks.js';
import { bytesPerTokenOf, type Tokenizer } from '../../../train/tokenizer.js';
import { writeFileAtomic } from '../../atomic.js';
import { checkCheckpointPath } from '../../checkpoint.js';
import { readCorpusFile } from '../../corpus-file.js';
import { parseConfigJson } from '../../engine.js';
import type { BackendKind, CliContext } from '../context.js';
import { checkpointTokenizer, readCheckpointNoted } from '../load-model.js';
import { readJsonLinesFile } from './task-data.js';
import { modelLength, taskOfConfig } from './task-model.js';
import { describeEvaluation, TASK_DEFAULTS } from './train-task.js';

/** Flags of `eval`/`predict` on a task checkpoint. */
export interface TaskEvalFlags {
  checkpoint: string;
  data: string;
  batch?: number;
  seqLen?: number;
  mlmProbability?: number;
  maxAnswerLen?: number;
  out?: string;
  threads?: number;
  backend?: BackendKind;
}

/**
 * The head task of a checkpoint path, from its config.json alone (null: not a task checkpoint, or
 * config.json cannot be read here: the LM path then reports the problem).
 */
export function checkpointTask(path: string): TaskKind | null {
  try {
    const dir = checkCheckpointPath(path);
    return taskOfConfig(parseConfigJson(readFileSync(join(dir, 'config.json')), path));
  } catch {
    return null;
  }
}

interface Loaded {
  readonly model: ReformerTaskModel;
  readonly tokenizer: Tokenizer;
  readonly seqLen: number;
  readonly task: TaskKind;
}

async function load(flags: TaskEvalFlags, ctx: CliContext, info: (l: string) => void): Promise<Loaded> {
  const { ck, config, notes } = readCheckpointNoted(flags.checkpoint, '--checkpoint');
  const tokenizer = checkpointTokenizer(ck, config);
  const { backend, note } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  const model = modelFromCheckpoint(backend, { config, safetensors: ck.weights }) as ReformerTaskModel;
  for (const n of notes) info(n);
  if (note) info(`note: ${note}`);
  const seqLen = modelLength(model.config);
  if (flags.seqLen !== undefined && flags.seqLen !== seqLen) {
    throw new UsageError(
      `--seq-len ${flags.seqLen}: a ${model.architecture} checkpoint reads inputs of its training length ${seqLen}; leave --seq-len out`,
    );
  }
  const task = taskOfConfig(config)!;
  if (task === 'qa' && tokenizer.bytesPerToken !== 1) {
    throw new UsageError(
      `--checkpoint ${flags.checkpoint}: question answering here needs a byte-level model; this one uses the ${tokenizer.name} tokenizer`,
    );
  }
  return { model, tokenizer, seqLen, task };
}

function schemeOf(model: ReformerForSequenceClassification): LabelScheme {
  const info = labelInfo(model.config);
  const problemType = model.problemType ?? (info.numLabels === 1 ? 'regression' : 'single_label_classification');
  return { problemType, names: info.names, ids: info.ids };
}

/** A progress bar on stderr when it is a terminal. */
function progressBar(ctx: CliContext, what: string): { onProgress: (done: number, total: number) => void; stop: () => void } {
  const bar = ctx.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: ctx.stderr as NodeJS.WriteStream,
          format: `${what} {bar} {value}/{total} batches | ETA {eta_formatted}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  return {
    onProgress: (done, total) => {
      if (!bar) return;
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}

/** `reformer eval` on a task checkpoint. */
export async function taskEvalCommand(flags: TaskEvalFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const out = (l: string): void => void ctx.stdout.write(`${l}\n`);
  const { model, tokenizer, seqLen, task } = await load(flags, ctx, info);
  if (flags.mlmProbability !== undefined && task !== 'mlm') throw new UsageError('--mlm-probability applies to masked-LM checkpoints only');
  if (flags.maxAnswerLen !== undefined && task !== 'qa')
    throw new UsageError('--max-answer-len applies to question-answering checkpoints only');
  const batch = flags.batch ?? TASK_DEFAULTS.batch;
  const padId = model.config.pad_token_id ?? 0;
  const where = `--data ${flags.data}`;
  out(`model: ${model.architecture}, sequence ${seqLen}, ${model.params.length.toLocaleString('en-US')} parameters`);
  const bar = progressBar(ctx, 'eval');
  let r: ReturnType<ClassificationTask['evaluate']>;
  try {
    if (task === 'mlm') {
      const corpus = readCorpusFile(flags.data, '--data');
      const tokens = tokenizer.encode(corpus.bytes);
      const windows: Int32Array[] = [];
      for (let i = 0; i + 2 <= tokens.length; i += seqLen) windows.push(tokens.slice(i, i + seqLen));
      if (windows.length === 0) throw new FormatError(`${where}: holds fewer than 2 tokens`);
      out(`data: ${flags.data} (${corpus.summary}), ${windows.length} windows`);
      const t = new MaskedLmTask(model as ReformerForMaskedLM, {
        seqLen,
        padId,
        maskId: padId,
        specialIds: [
          ...new Set([padId, ...(model.config.eos_token_id !== null ? [model.config.eos_token_id] : []), ...tokenizer.suppressIds]),
        ],
        vocabSize: model.config.vocab_size,
        probability: flags.mlmProbability ?? DEFAULT_MLM_PROBABILITY,
        bytesPerToken: bytesPerTokenOf(tokenizer, corpus.bytes.length, tokens.length),
        seed: 0,
      });
      r = t.evaluate(windows, { batch, onProgress: bar.onProgress });
    } else if (task === 'classify') {
      const m = model as ReformerForSequenceClassification;
      const ex = classificationExamples(readJsonLinesFile(flags.data, '--data'), tokenizer, schemeOf(m), {
        seqLen,
        where,
        requireLabels: true,
      });
      out(`data: ${flags.data}: ${ex.length} examples, ${ex.filter((e) => e.length > seqLen).length} truncated to ${seqLen} tokens`);
      r = new ClassificationTask(m, schemeOf(m), { seqLen, padId }).evaluate(ex, { batch, onProgress: bar.onProgress });
    } else {
      const recs = qaRecords(readJsonLinesFile(flags.data, '--data'), where, true);
      out(`data: ${flags.data}: ${recs.length} questions`);
      const t = new QuestionAnsweringTask(model as ReformerForQuestionAnswering, {
        seqLen,
        padId,
        sepId: model.config.eos_token_id ?? 1,
        tokenizer,
        maxAnswerTokens: flags.maxAnswerLen ?? TASK_DEFAULTS.maxAnswerLen,
        where,
      });
      r = t.evaluate(recs, { batch, onProgress: bar.onProgress });
    }
  } finally {
    bar.stop();
  }
  out(`summary: ${describeEvaluation(r)}`);
  out(`loss: ${r.loss.toFixed(6)}`);
  for (const [k, v] of Object.entries(r.metrics)) if (k !== 'masked_tokens') out(`${k}: ${v.toFixed(6)}`);
  return 0;
}

/** `reformer predict`: one JSON line per input (see the file header). */
export async function predictCommand(flags: TaskEvalFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const task = checkpointTask(flags.checkpoint);
  if (task === null || task === 'mlm') {
    throw new UsageError(
      `--checkpoint ${flags.checkpoint}: predict runs classification (ReformerForSequenceClassification) and question-answering (ReformerForQuestionAnswering) checkpoints; ` +
        `this one is ${task === 'mlm' ? 'a masked LM (score it with reformer eval)' : 'not one of them (a language model: reformer generate / eval)'}`,
    );
  }
  const { model, tokenizer, seqLen } = await load(flags, ctx, info);
  const batch = flags.batch ?? TASK_DEFAULTS.batch;
  const padId = model.config.pad_token_id ?? 0;
  const where = `--data ${flags.data}`;
  const records = readJsonLinesFile(flags.data, '--data');
  const bar = progressBar(ctx, 'predict');
  const lines: string[] = [];
  try {
    if (task === 'classify') {
      const m = model as ReformerForSequenceClassification;
      const t = new ClassificationTask(m, schemeOf(m), { seqLen, padId });
      const ex = classificationExamples(records, tokenizer, schemeOf(m), { seqLen, where, requireLabels: false });
      const logits = t.logits(ex, { batch, onProgress: bar.onProgress });
      ex.forEach((e, b) => {
        lines.push(JSON.stringify({ line: e.line, ...t.predict(logits, b) }));
      });
    } else {
      const t = new QuestionAnsweringTask(model as ReformerForQuestionAnswering, {
        seqLen,
        padId,
        sepId: model.config.eos_token_id ?? 1,
        tokenizer,
        maxAnswerTokens: flags.maxAnswerLen ?? TASK_DEFAULTS.maxAnswerLen,
        where,
      });
      const recs = qaRecords(records, where, false);
      t.predict(recs, { batch, onProgress: bar.onProgress }).forEach((p, i) => {
        lines.push(
          JSON.stringify({ line: recs[i]!.line, answer: p.text, start: p.start, end: p.start + Array.from(p.text).length, score: p.score }),
        );
      });
    }
  } finally {
    bar.stop();
  }
  const text = lines.map((l) => `${l}\n`).join('');
  if (flags.out !== undefined) {
    writeFileAtomic(flags.out, text);
    info(`predictions: ${lines.length} lines -> ${flags.out}`);
  } else {
    ctx.stdout.write(text);
  }
  return 0;
}
