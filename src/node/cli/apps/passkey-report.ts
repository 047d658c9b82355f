/**
 * What `reformer task passkey` reports (passkey-run.ts computes it): the records of `<out>/results.json`
 * (the task, the models' shape, training and evaluation settings, and per trained model its layers,
 * training figures and results per length) and the table on stdout (exact match and per-digit accuracy
 * per length and attention, chance, and the keys within the local model's reach).
 */
import type { PasskeyAttention, PasskeyModelSpec } from '../../../apps/passkey-models.js';
import type { PasskeyResult } from '../../../apps/passkey.js';
import type { PasskeyCurriculum } from '../../../apps/passkey-train.js';
import { markdownTable, type PhaseMeter } from '../tasks/task-results.js';
import { chunkedShapeRecord } from '../tasks/task-shape.js';
import type { PasskeyFlags } from './passkey.js';

/** One evaluation length of a model in results.json: the scores, the seconds it took, the LSH buckets used. */
export type LengthRecord = PasskeyResult & { seconds: number; num_buckets: unknown };

/** One trained model in results.json (`results[]`). */
export interface ModelRecord {
  attention: PasskeyAttention;
  attn_layers: string[];
  lsh_attn_chunk_length: number | 'sequence length';
  local_attn_chunk_length: number;
  parameters: number;
  steps: number;
  stopped_by: string;
  train_seconds: number;
  /** The training's wall and CPU seconds and the load before and after (tasks/task-results.ts `meter`). */
  train_meter: PhaseMeter;
  final_train_loss: number | null;
  /** Stopped by `--stop-if-dead`: the probe found the answer independent of the input. */
  dead: boolean;
  /** The probes of the training (`--probe-every`). */
  probes: ProbeRecord[];
  checkpoint: string;
  eval: Record<string, LengthRecord>;
  /** Lengths not evaluated, with the reason. */
  skipped: Record<string, string>;
}

/** One probe in results.json (apps/passkey-probe.ts): the spread of the answer distribution and the scores on the probe batch. */
export interface ProbeRecord {
  step: number;
  spread: number;
  digit_accuracy: number;
  exact_match: number;
  loss: number;
}

/** What results.json says of the run besides the flags: where the filler came from and what was derived. */
export interface PasskeyRunFacts {
  readonly spec: PasskeyModelSpec;
  /** The curriculum used (null: none). */
  readonly curriculum: PasskeyCurriculum | null;
  readonly minLength: number;
  readonly warmup: number;
  readonly textPath: string;
  /** The corpus split: train filler [0, split), evaluation filler [split, total). */
  readonly split: number;
  readonly total: number;
  readonly reach: number;
  /** Positions per repeat of the evaluation position table (`--eval-positions`). */
  readonly positionPeriod: number;
  readonly evalSequences: Readonly<Record<string, number>>;
  readonly evalSeed: number;
  readonly backend: string;
}

/** The whole of results.json (`format: reformer-ts.passkey-results`, version 1). */
export function passkeyResults(flags: PasskeyFlags, f: PasskeyRunFacts, records: readonly ModelRecord[]) {
  const { spec } = f;
  return {
    format: 'reformer-ts.passkey-results',
    version: 1,
    task: {
      digits: flags.digits,
      chance_exact: 10 ** -flags.digits,
      chance_digit: 0.1,
      train_length: flags.trainLength,
      train_min_length: f.minLength,
      lengths: flags.lengths,
      scored: 'the answer digits at the end (exact match = greedy decoding of the whole key)',
      filler: f.textPath,
      filler_split: { train_bytes: [0, f.split], eval_bytes: [f.split, f.total] },
      local_reach: f.reach,
    },
    model: {
      ...chunkedShapeRecord(spec),
      local_model_local_attn_chunk_length: flags.localModelChunk,
      num_hashes_train: spec.numHashes,
      num_hashes_eval: flags.evalHashes,
      axial_pos_cols: spec.axialCols,
    },
    training: {
      steps: flags.steps,
      minutes: flags.minutes ?? null,
      batch: flags.batch,
      loss_on: flags.lossOn,
      curriculum: f.curriculum,
      probe_every: flags.probeEvery,
      stop_if_dead: flags.stopIfDead ?? null,
      lr: flags.lr,
      warmup: f.warmup,
      schedule: 'linear warm-up, cosine decay to lr/10',
      seed: flags.seed,
    },
    evaluation: {
      sequences: f.evalSequences,
      seed: f.evalSeed,
      full_max_length: flags.fullMaxLength,
      positions: flags.evalPositions,
      position_period: f.positionPeriod,
    },
    backend: f.backend,
    results: records,
  };
}

/** What the table reads of one trained model: its attention and its results per length (absent: not evaluated). */
export interface PasskeyTableRecord {
  readonly attention: string;
  readonly eval: Readonly<Record<string, PasskeyResult | undefined>>;
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`;
}

/**
 * The table: one row per length; per attention the exact match (whole key, greedy) and the per-digit
 * accuracy in percent; the chance levels; and for the local model the share of keys within its reach
 * (`reach` positions) with the exact match on those.
 */
export function passkeyTable(records: readonly PasskeyTableRecord[], lengths: readonly number[], digits: number, reach: number): string[] {
  const head = ['tokens', `chance (exact / digit)`];
  for (const r of records) head.push(`${r.attention} exact`, `${r.attention} per digit`);
  const local = records.find((r) => r.attention === 'local');
  if (local) head.push(`keys ≤ ${reach} back: share, local exact`);
  const rows = lengths.map((L) => {
    const cells = [String(L), `${(100 * 10 ** -digits).toPrecision(2)}% / 10%`];
    for (const r of records) {
      const e = r.eval[String(L)];
      cells.push(pct(e?.exactMatch), pct(e?.digitAccuracy));
    }
    if (local) {
      const e = local.eval[String(L)];
      const near = e?.near;
      cells.push(near && e ? `${pct(near.sequences / e.sequences)}, ${pct(near.exactMatch)}` : '-');
    }
    return cells;
  });
  return markdownTable(head, rows);
}
