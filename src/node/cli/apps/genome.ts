/**
 * `reformer task genome` (issue 15, apps/genome.ts): a base-level Reformer LM trained on a genome's
 * train region at a long window (default 65,536 bases: one window per step), scored in bits per base on
 * the held-out region at several evaluation contexts, against uniform (2.0) and the order-k Markov
 * baseline whose k and smoothing are chosen on the validation region (apps/genome-markov.ts); then the
 * same model and the same Markov counts on another genome (`--transfer`). Progress on stderr,
 * `<out>/results.json` (atomic), the model in `<out>/checkpoint/`, the table on stdout.
 *
 * This file: the flags, their defaults and the command's registration; genome-run.ts runs it,
 * genome-report.ts has the records of results.json and the table.
 */
import type { Command, Option } from 'commander';
import { MARKOV_MAX_ORDER } from '../../../apps/genome-markov.js';
import type { BackendKind, CliContext } from '../context.js';
import { attnLayersFlag, intFlag, intListFlag, nonEmptyFlag, numberFlag } from '../parse.js';
import { lrOption, minutesOption, warmupOption } from '../tasks/task-flags.js';
import { taskGenomeCommand } from './genome-run.js';

export interface GenomeFlags {
  data?: string;
  transfer?: string;
  checkpoint?: string;
  heldOut: number;
  validation: number;
  maxOrder: number;
  hidden: number;
  heads: number;
  ff: number;
  layers: ('local' | 'lsh')[];
  chunk: number;
  numHashes: number;
  seqLen: number;
  steps: number;
  minutes?: number;
  batch: number;
  lr: number;
  warmup?: number;
  evalEvery: number;
  contexts: number[];
  seed: number;
  out: string;
  threads?: number;
  backend?: BackendKind;
}

/** Defaults (`--help`); the measured run and why these sizes: docs/applications/genomes.md. */
export const GENOME_DEFAULTS = {
  heldOut: 0.1,
  validation: 0.1,
  maxOrder: 15,
  hidden: 64,
  heads: 2,
  ff: 128,
  layers: ['local', 'lsh'] as ('local' | 'lsh')[],
  chunk: 64,
  numHashes: 1,
  seqLen: 65536,
  steps: 200,
  batch: 1,
  lr: 3e-3,
  evalEvery: 50,
  contexts: [1024, 4096, 16384, 65536],
  seed: 1,
  out: 'runs/genome',
} as const;

/** Registers `reformer task genome` on the `task` command. */
export function registerGenomeTask(
  task: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  log: (line: string) => void,
  shared: { threads: Option; backend: Option; exitHelp: string },
): void {
  const d = GENOME_DEFAULTS;
  task
    .command('genome')
    .description(
      'a base-level LM on a genome (FASTA): bits per base on the held-out last part vs uniform (2.0) and the best order-k Markov model (k chosen on validation), at several evaluation contexts, and on a second genome (--transfer); <out>/results.json and a table',
    )
    .option('--data <fasta>', 'the genome to train on (FASTA, optionally .gz), e.g. MG1655-K12.fasta.gz (required)', nonEmptyFlag('--data'))
    .option(
      '--transfer <fasta>',
      'a second genome to score the same model and Markov counts on, e.g. lambda_virus.fa',
      nonEmptyFlag('--transfer'),
    )
    .option(
      '--checkpoint <dir>',
      'score a model this command trained before (its run or checkpoint directory) instead of training one',
      nonEmptyFlag('--checkpoint'),
    )
    .option(
      '--held-out <f>',
      `fraction of the genome held out at its end (default ${d.heldOut})`,
      numberFlag('--held-out', 0, 1, { exclusiveMin: true, exclusiveMax: true }),
      d.heldOut,
    )
    .option(
      '--validation <f>',
      `fraction of the training region (its end) for validation (default ${d.validation})`,
      numberFlag('--validation', 0, 1, { exclusiveMin: true, exclusiveMax: true }),
      d.validation,
    )
    .option(
      '--max-order <k>',
      `Markov orders 0…k tried (≤ ${MARKOV_MAX_ORDER}) (default ${d.maxOrder})`,
      intFlag('--max-order', 0, MARKOV_MAX_ORDER),
      d.maxOrder,
    )
    .option('--hidden <n>', `d_model (default ${d.hidden})`, intFlag('--hidden', 2), d.hidden)
    .option('--heads <n>', `attention heads (default ${d.heads})`, intFlag('--heads'), d.heads)
    .option('--ff <n>', `feed_forward_size (default ${d.ff})`, intFlag('--ff'), d.ff)
    .option('--layers <list>', `attn_layers, comma-separated local / lsh (default ${d.layers.join(',')})`, attnLayersFlag('--layers'), [
      ...d.layers,
    ])
    .option('--chunk <n>', `local and LSH chunk length, a divisor of --seq-len (default ${d.chunk})`, intFlag('--chunk'), d.chunk)
    .option('--num-hashes <n>', `LSH hash rounds (default ${d.numHashes})`, intFlag('--num-hashes'), d.numHashes)
    .option(
      '--seq-len <n>',
      `training window in bases = Π axial_pos_shape, the longest evaluation context (default ${d.seqLen})`,
      intFlag('--seq-len', 2),
      d.seqLen,
    )
    .option('--steps <n>', `training steps, 0 = the Markov baseline only (default ${d.steps})`, intFlag('--steps', 0), d.steps)
    .option(...minutesOption('also stop training after m minutes (whichever comes first; the cosine schedule still spans --steps)'))
    .option('--batch <n>', `windows per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(...lrOption(d.lr))
    .option(...warmupOption())
    .option(
      '--eval-every <n>',
      `validate (2 windows) every n steps, 0 = only at the end (default ${d.evalEvery})`,
      intFlag('--eval-every', 0),
      d.evalEvery,
    )
    .option(
      '--contexts <list>',
      `evaluation contexts in bases, each ≤ --seq-len (default ${d.contexts.join(',')})`,
      intListFlag('--contexts'),
      [...d.contexts],
    )
    .option('--seed <s>', `initialisation and batch seed (default ${d.seed})`, intFlag('--seed', 0), d.seed)
    .option('--out <dir>', `results.json and checkpoint/ (default ${d.out})`, nonEmptyFlag('--out'), d.out)
    .addOption(shared.threads)
    .addOption(shared.backend)
    .addHelpText(
      'after',
      `\nExample: reformer task genome --data MG1655-K12.fasta.gz --transfer lambda_virus.fa --threads 1 --out runs/genome\n${shared.exitHelp}`,
    )
    .action(async (flags: GenomeFlags) => {
      setExit(await taskGenomeCommand(flags, ctx, log));
    });
}
