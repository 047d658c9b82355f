/**
 * `reformer task passkey`: passkey retrieval at growing length (issue 15; apps/passkey.ts). For each
 * attention (`--train`: full, lsh, local) it trains a fresh byte-level model on rows of `--train-length`
 * tokens holding passkey sequences of `--min-length` … `--train-length` tokens whose filler comes from the
 * first 90% of the novel (apps/passkey-train.ts), saves it in `<out>/<attention>/`, then evaluates it at
 * every `--lengths` value (the full model up to `--full-max-length`) on held-out sequences (filler from
 * the last 10%), the position table carried over to the longer length (apps/passkey-models.ts).
 * `<out>/results.json` is rewritten atomically after each evaluation; progress goes to stderr, the table
 * (exact match and per-digit accuracy per length and attention, chance) to stdout.
 *
 * This file: the flags, their defaults and the command's registration; passkey-run.ts runs it,
 * passkey-report.ts has the records of results.json and the table.
 */
import type { Command, Option } from 'commander';
import {
  PASSKEY_ATTENTIONS,
  PASSKEY_EVAL_POSITIONS,
  type PasskeyAttention,
  type PasskeyEvalPositions,
} from '../../../apps/passkey-models.js';
import { PASSKEY_LOSS_ON, type PasskeyLossOn } from '../../../apps/passkey-train.js';
import type { BackendKind, CliContext } from '../context.js';
import { choiceFlag, choiceListFlag, intFlag, intListFlag, nonEmptyFlag } from '../parse.js';
import { lrOption, minutesOption, warmupOption } from '../tasks/task-flags.js';
import { taskPasskeyCommand } from './passkey-run.js';

export interface PasskeyFlags {
  lengths: number[];
  trainLength: number;
  minLength?: number;
  fullMaxLength: number;
  evalPositions: PasskeyEvalPositions;
  digits: number;
  hidden: number;
  heads: number;
  layers: number;
  ff: number;
  lshChunk: number;
  localChunk: number;
  localModelChunk: number;
  hashes: number;
  evalHashes: number;
  axialCols: number;
  train: PasskeyAttention[];
  steps: number;
  minutes?: number;
  batch: number;
  lossOn: PasskeyLossOn;
  curriculumDigits: number;
  curriculumSteps: number;
  probeEvery: number;
  stopIfDead?: number;
  lr: number;
  warmup?: number;
  evalSequences: number[];
  seed: number;
  text?: string;
  out: string;
  threads?: number;
  backend?: BackendKind;
}

/** Defaults (`--help`); what they cost and why they are these is in docs/applications/passkey.md. */
export const PASSKEY_DEFAULTS = {
  lengths: [128, 1024, 4096, 16384, 65536],
  trainLength: 128,
  fullMaxLength: 4096,
  evalPositions: 'filler' as PasskeyEvalPositions,
  digits: 5,
  hidden: 32,
  heads: 2,
  layers: 3,
  ff: 64,
  lshChunk: 32,
  localChunk: 8,
  localModelChunk: 64,
  hashes: 2,
  evalHashes: 4,
  axialCols: 64,
  train: [...PASSKEY_ATTENTIONS],
  steps: 6000,
  batch: 8,
  lossOn: 'answer' as PasskeyLossOn,
  curriculumDigits: 1,
  curriculumSteps: 2000,
  probeEvery: 250,
  lr: 3e-3,
  evalSequences: [64, 64, 64, 32, 16],
  seed: 1,
  out: 'runs/passkey',
} as const;

/** Registers `reformer task passkey` on the `task` command (task.ts passes main.ts's shared options). */
export function registerPasskeyTask(
  task: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  log: (line: string) => void,
  shared: { threads: Option; backend: Option; exitHelp: string },
): void {
  const d = PASSKEY_DEFAULTS;
  task
    .command('passkey')
    .description(
      'passkey retrieval at growing length: a key planted at a random depth of the novel, asked for at the end; LSH vs local attention, exact match per length; <out>/results.json and a table',
    )
    .option(
      '--lengths <list>',
      `evaluation lengths, multiples of --train-length (default ${d.lengths.join(',')})`,
      intListFlag('--lengths'),
      [...d.lengths],
    )
    .option(
      '--train-length <n>',
      `training sequence length (= Π axial_pos_shape, HF's rule) (default ${d.trainLength})`,
      intFlag('--train-length'),
      d.trainLength,
    )
    .option(
      '--min-length <n>',
      'shortest training sequence: each row holds one passkey sequence of min-length … train-length tokens, then padding, so the answer is not always at the same position (default: train-length, every sequence that long)',
      intFlag('--min-length'),
    )
    .option(
      '--full-max-length <n>',
      `evaluate the full-attention model only at lengths up to this (its cost grows as L²) (default ${d.fullMaxLength})`,
      intFlag('--full-max-length'),
      d.fullMaxLength,
    )
    .option(
      '--eval-positions <how>',
      `position table at a longer length: filler (the last train-length positions as trained, earlier ones repeat the rows that never held the question) or repeat (position t gets t mod train-length) (default ${d.evalPositions})`,
      choiceFlag('--eval-positions', PASSKEY_EVAL_POSITIONS),
      d.evalPositions,
    )
    .option('--digits <n>', `key digits (chance 10^-n) (default ${d.digits})`, intFlag('--digits', 1, 9), d.digits)
    .option('--hidden <n>', `d_model (default ${d.hidden})`, intFlag('--hidden'), d.hidden)
    .option('--heads <n>', `attention heads (default ${d.heads})`, intFlag('--heads'), d.heads)
    .option(
      '--layers <n>',
      `layers; lsh, full: local first, LSH last, alternating back from the end; local: all local (default ${d.layers})`,
      intFlag('--layers', 2),
      d.layers,
    )
    .option('--ff <n>', `feed_forward_size (default ${d.ff})`, intFlag('--ff'), d.ff)
    .option('--lsh-chunk <n>', `lsh_attn_chunk_length (default ${d.lshChunk})`, intFlag('--lsh-chunk'), d.lshChunk)
    .option(
      '--local-chunk <n>',
      `local_attn_chunk_length of the LSH and full models' local layers; a layer sees 2·chunk−1 back (default ${d.localChunk})`,
      intFlag('--local-chunk'),
      d.localChunk,
    )
    .option(
      '--local-model-chunk <n>',
      `local_attn_chunk_length of the local model (it reaches layers·(2·chunk−1) back) (default ${d.localModelChunk})`,
      intFlag('--local-model-chunk'),
      d.localModelChunk,
    )
    .option('--hashes <n>', `hash rounds in training (default ${d.hashes})`, intFlag('--hashes'), d.hashes)
    .option(
      '--eval-hashes <n>',
      `hash rounds in evaluation (HF per-call num_hashes) (default ${d.evalHashes})`,
      intFlag('--eval-hashes'),
      d.evalHashes,
    )
    .option(
      '--axial-cols <n>',
      `second axial axis (axial_pos_shape [L/n, n]) (default ${d.axialCols})`,
      intFlag('--axial-cols'),
      d.axialCols,
    )
    .option(
      '--train <list>',
      `attentions to train, comma-separated from ${PASSKEY_ATTENTIONS.join(', ')} (default all three)`,
      choiceListFlag('--train', PASSKEY_ATTENTIONS),
      [...d.train],
    )
    .option('--steps <n>', `training steps per model (default ${d.steps})`, intFlag('--steps'), d.steps)
    .option(...minutesOption('also stop each training after this many minutes (default: steps only)'))
    .option('--batch <n>', `sequences per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(
      '--loss-on <what>',
      `training loss over: answer (the answer digits only) or all (every next byte, an LM loss) (default ${d.lossOn})`,
      choiceFlag('--loss-on', PASSKEY_LOSS_ON),
      d.lossOn,
    )
    .option(
      '--curriculum-steps <n>',
      `train the first n steps on keys of --curriculum-digits digits, then on --digits (0: no curriculum) (default ${d.curriculumSteps})`,
      intFlag('--curriculum-steps', 0),
      d.curriculumSteps,
    )
    .option(
      '--curriculum-digits <n>',
      `key digits during the curriculum's steps, at most --digits (default ${d.curriculumDigits})`,
      intFlag('--curriculum-digits', 1, 8),
      d.curriculumDigits,
    )
    .option(
      '--probe-every <n>',
      `every n steps, score 16 fixed held-out sequences and measure how much the answer distribution depends on the input (its spread; 0: no probe) (default ${d.probeEvery})`,
      intFlag('--probe-every', 0),
      d.probeEvery,
    )
    .option(
      '--stop-if-dead <step>',
      'stop a training whose probe spread is still below 0.01 at this step (a dead run: its answer ignores the input) (default: never)',
      intFlag('--stop-if-dead'),
    )
    .option(...lrOption(d.lr))
    .option(...warmupOption())
    .option(
      '--eval-sequences <list>',
      `held-out sequences per length: one count, or one per --lengths value (default ${d.evalSequences.join(',')})`,
      intListFlag('--eval-sequences'),
      [...d.evalSequences],
    )
    .option('--seed <s>', `initialisation, training and evaluation seed (default ${d.seed})`, intFlag('--seed', 0), d.seed)
    .option(
      '--text <file>',
      "filler text (default: the package's data/crime-and-punishment.txt); first 90% train, last 10% evaluation",
      nonEmptyFlag('--text'),
    )
    .option('--out <dir>', `results.json and one checkpoint per trained model (default ${d.out})`, nonEmptyFlag('--out'), d.out)
    .addOption(shared.threads)
    .addOption(shared.backend)
    .addHelpText('after', `\nExample: reformer task passkey --lengths 1024,4096 --steps 200 --out runs/passkey\n${shared.exitHelp}`)
    .action(async (flags: PasskeyFlags) => {
      setExit(await taskPasskeyCommand(flags, ctx, log));
    });
}
