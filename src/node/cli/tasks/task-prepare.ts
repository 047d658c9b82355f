/**
 * What `reformer train --task` builds before training: the task model (fresh or from a checkpoint)
 * and the task's data, definition and metric (train-task.ts runs them).
 */
import type { Backend } from '../../../backend/backend.js';
import type { ReformerConfig } from '../../../config/reformer-config.js';
import { FormatError } from '../../../errors.js';
import { parseSafetensors } from '../../../io/safetensors.js';
import { loadPretrainedWeights, modelFromCheckpoint } from '../../../model/heads/checkpoint.js';
import { ReformerForMaskedLM } from '../../../model/heads/masked-lm.js';
import { ReformerForQuestionAnswering } from '../../../model/heads/question-answering.js';
import { ReformerForSequenceClassification } from '../../../model/heads/sequence-classification.js';
import type { ReformerTaskModel } from '../../../model/heads/task-model.js';
import { splitTokens } from '../../../train/data.js';
import { classificationExamples, type LabelScheme } from '../../../train/tasks/classification-data.js';
import { qaRecords } from '../../../train/tasks/qa-data.js';
import { ClassificationTask, MaskedLmTask, QuestionAnsweringTask, type TaskDefinition, type TaskKind } from '../../../train/tasks/tasks.js';
import { bytesPerTokenOf, type Tokenizer } from '../../../train/tokenizer.js';
import type { LoadedCheckpoint } from '../../checkpoint.js';
import { readCorpusFile } from '../../corpus-file.js';
import { holdOut, type readJsonLinesFile } from './task-data.js';

/** What `prepare` returns: the task definition, its training and validation examples, and a summary line. */
export interface Prepared<E, V> {
  readonly definition: TaskDefinition<E, V>;
  readonly train: E[];
  readonly validation: V[];
  readonly summary: string;
}

/** The task's model: loaded (same class), or new with a pretrained encoder, or new. */
export function buildModel(
  backend: Backend,
  task: TaskKind,
  config: ReformerConfig,
  source: LoadedCheckpoint | null,
  sameClass: boolean,
  seed: number,
  log: (line: string) => void,
): ReformerTaskModel {
  if (source && sameClass) {
    return modelFromCheckpoint(backend, { config: config.toJSON(), safetensors: source.weights }) as ReformerTaskModel;
  }
  const options = { seed };
  const model: ReformerTaskModel =
    task === 'mlm'
      ? new ReformerForMaskedLM(backend, config, options)
      : task === 'classify'
        ? new ReformerForSequenceClassification(backend, config, options)
        : new ReformerForQuestionAnswering(backend, config, options);
  if (source) {
    const fresh = loadPretrainedWeights(model, parseSafetensors(source.weights));
    if (fresh.length > 0) log(`note: ${fresh.join(', ')} ${fresh.length === 1 ? 'is' : 'are'} newly initialised (not in ${source.dir})`);
  }
  return model;
}

export interface PrepareOptions {
  readonly dataPath: string;
  readonly records: ReturnType<typeof readJsonLinesFile> | null;
  readonly valRecords: ReturnType<typeof readJsonLinesFile> | null;
  readonly validationPath: string | undefined;
  readonly valFraction: number;
  readonly seqLen: number;
  readonly scheme: LabelScheme | null;
  readonly mlmProbability: number;
  readonly maxAnswerLen: number;
  readonly seed: number;
}

// biome-ignore lint/suspicious/noExplicitAny: the three tasks' example types differ; each branch is typed
export function prepare(task: TaskKind, model: ReformerTaskModel, tok: Tokenizer, o: PrepareOptions): Prepared<any, any> {
  const padId = model.config.pad_token_id ?? 0;
  const dataWhere = `--data ${o.dataPath}`;
  const valWhere = `--validation ${o.validationPath}`;
  if (task === 'mlm') {
    const corpus = readCorpusFile(o.dataPath, '--data');
    const tokens = tok.encode(corpus.bytes);
    const windows = (t: Int32Array): Int32Array[] => {
      const out: Int32Array[] = [];
      for (let i = 0; i + 2 <= t.length; i += o.seqLen) out.push(t.slice(i, i + o.seqLen));
      return out;
    };
    let train: Int32Array[];
    let validation: Int32Array[];
    if (o.validationPath !== undefined) {
      train = windows(tokens);
      validation = windows(tok.encode(readCorpusFile(o.validationPath, '--validation').bytes));
    } else {
      const split = splitTokens(tokens, { validationFraction: o.valFraction, seqLen: o.seqLen });
      train = windows(split.train);
      validation = windows(split.validation);
    }
    if (train.length === 0) throw new FormatError(`${dataWhere}: holds no text to train on`);
    const specialIds = [
      ...new Set([padId, ...(model.config.eos_token_id !== null ? [model.config.eos_token_id] : []), ...tok.suppressIds]),
    ];
    const definition = new MaskedLmTask(model as ReformerForMaskedLM, {
      seqLen: o.seqLen,
      padId,
      maskId: padId,
      specialIds,
      vocabSize: model.config.vocab_size,
      probability: o.mlmProbability,
      bytesPerToken: bytesPerTokenOf(tok, corpus.bytes.length, tokens.length),
      seed: o.seed,
    });
    return {
      definition,
      train,
      validation,
      summary: `${o.dataPath} (${corpus.summary}): ${train.length} training and ${validation.length} validation windows of ${o.seqLen} tokens, masking ${o.mlmProbability}`,
    };
  }
  if (task === 'classify') {
    const scheme = o.scheme!;
    const opts = { seqLen: o.seqLen, requireLabels: true };
    const all = classificationExamples(o.records!, tok, scheme, { ...opts, where: dataWhere });
    const { train, validation } = o.valRecords
      ? { train: all, validation: classificationExamples(o.valRecords, tok, scheme, { ...opts, where: valWhere }) }
      : holdOut(all, o.valFraction);
    const truncated = all.filter((e) => e.length > o.seqLen).length;
    const classes =
      scheme.problemType === 'regression'
        ? 'regression'
        : `${scheme.names.length} classes (${scheme.names.slice(0, 6).join(', ')}${scheme.names.length > 6 ? ', ...' : ''})`;
    return {
      definition: new ClassificationTask(model as ReformerForSequenceClassification, scheme, { seqLen: o.seqLen, padId }),
      train,
      validation,
      summary: `${o.dataPath}: ${train.length} training and ${validation.length} validation examples, ${classes}, ${scheme.problemType}; ${truncated} truncated to ${o.seqLen} tokens`,
    };
  }
  const definition = new QuestionAnsweringTask(model as ReformerForQuestionAnswering, {
    seqLen: o.seqLen,
    padId,
    sepId: model.config.eos_token_id ?? 1,
    tokenizer: tok,
    maxAnswerTokens: o.maxAnswerLen,
    where: dataWhere,
  });
  const recs = qaRecords(o.records!, dataWhere, true);
  const { train, validation } = o.valRecords
    ? { train: recs, validation: qaRecords(o.valRecords, valWhere, true) }
    : holdOut(recs, o.valFraction);
  return {
    definition,
    train: definition.windows(train),
    validation,
    summary: `${o.dataPath}: ${train.length} training and ${validation.length} validation questions, windows of ${o.seqLen} tokens`,
  };
}
