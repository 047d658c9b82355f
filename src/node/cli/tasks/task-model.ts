/**
 * Models of the CLI's task runs (`reformer train --task mlm|classify|qa`, and `eval`/`predict` of their
 * checkpoints): the HF class of each task, a new model's config from `--preset`/`--config`/`--seq-len`
 * (the LM engine's resolution, then made bidirectional), and reading a checkpoint's class.
 *
 * A new task model takes the preset's config with `is_decoder: false` and, unless `--config` sets them,
 * `lsh_num_chunks_after` and `local_num_chunks_after` 1: a bidirectional encoder looks one chunk ahead as
 * well as one back (HF allows it when `is_decoder` is false), which lets the pooled first token of the
 * classifier see further into the text through the layers.
 */
import type { ReformerConfig } from '../../../config/reformer-config.js';
import { REFORMER_ARCHITECTURES, type ReformerHeadModel } from '../../../model/heads/checkpoint.js';
import { withLabels } from '../../../model/heads/task-config.js';
import type { LabelScheme } from '../../../train/tasks/classification-data.js';
import type { TaskKind } from '../../../train/tasks/tasks.js';
import { resolveConfig } from '../../reformer-engine.js';

/** `--task` values: the causal LM (`lm`, the default) and the three heads. */
export const TASK_NAMES = ['lm', 'mlm', 'classify', 'qa'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** The HF class of each head task. */
export const TASK_ARCHITECTURE: Readonly<Record<TaskKind, ReformerHeadModel['architecture']>> = Object.freeze({
  mlm: 'ReformerForMaskedLM',
  classify: 'ReformerForSequenceClassification',
  qa: 'ReformerForQuestionAnswering',
});

/** The head task of a config.json's `architectures`, or null (the causal LM, a bare encoder, none). */
export function taskOfConfig(config: Readonly<Record<string, unknown>>): TaskKind | null {
  const arch = config.architectures;
  const name = Array.isArray(arch) && typeof arch[0] === 'string' ? arch[0] : null;
  if (name === null || !(REFORMER_ARCHITECTURES as readonly string[]).includes(name)) return null;
  const hit = (Object.entries(TASK_ARCHITECTURE) as Array<[TaskKind, string]>).find(([, a]) => a === name);
  return hit ? hit[0] : null;
}

/**
 * The config of a new task model: the preset, `--config` on top, the training length (as `reformer train`
 * for the LM), then bidirectional (see the file header), the classes for `classify`, and `architectures`.
 * @throws ConfigError as the preset/config resolution.
 */
export function newTaskConfig(
  task: TaskKind,
  spec: { preset?: string; config?: Record<string, unknown>; seqLen?: number },
  scheme: LabelScheme | null,
): { config: ReformerConfig; preset: string } {
  const { name, config: base } = resolveConfig(spec);
  const given = spec.config ?? {};
  let config = base.with({
    is_decoder: given.is_decoder ?? false,
    lsh_num_chunks_after: given.lsh_num_chunks_after ?? 1,
    local_num_chunks_after: given.local_num_chunks_after ?? 1,
    architectures: [TASK_ARCHITECTURE[task]],
  });
  if (task === 'classify' && scheme) config = withLabels(config, scheme.names, scheme.problemType);
  return { config, preset: name };
}

/** The training length of a config: Π axial_pos_shape with axial embeddings, else max_position_embeddings. */
export function modelLength(config: ReformerConfig): number {
  return config.axial_pos_embds ? config.axial_pos_shape.reduce((a, b) => a * b, 1) : config.max_position_embeddings;
}
