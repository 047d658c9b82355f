/**
 * `reformer task genome` (issue 15, apps/genome.ts): a base-level Reformer LM trained on a genome's
 * train region at a long window (default 65,536 bases: one window per step), scored in bits per base on
 * the held-out region at several evaluation contexts, against uniform (2.0) and the order-k Markov
 * baseline whose k and smoothing are chosen on the validation region (apps/genome-markov.ts); then the
 * same model and the same Markov counts on another genome (`--transfer`). Progress on stderr,
 * `<out>/results.json` (atomic), the model in `<out>/checkpoint/`, the table on stdout.
 */
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { genomeModelConfig, genomeSplit, baseTokens, evaluateGenome, type BaseRange, type GenomeModelSpec } from '../../../apps/genome.js';
import { MARKOV_MAX_ORDER, MarkovCounts, MarkovStats, selectMarkov, type MarkovSetting } from '../../../apps/genome-markov.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { UsageError } from '../../../errors.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { Trainer } from '../../../train/trainer.js';
import { writeFileAtomic } from '../../atomic.js';
import { checkpointDirFor, loadCheckpoint, saveCheckpoint } from '../../checkpoint.js';
import { readCorpusFile } from '../../corpus-file.js';
import { checkOutputDir, displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress, TrainingProgress } from '../../progress.js';
import { ReformerLM } from '../../reformer-engine.js';
import type { BackendKind, CliContext } from '../context.js';
import { intFlag, intListFlag, nonEmptyFlag, numberFlag } from '../parse.js';

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

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const en = (x: number): string => x.toLocaleString('en-US');

interface GenomeData {
  path: string;
  tokens: Int32Array;
  summary: string;
}

function readGenome(path: string, flag: string): GenomeData {
  const c = readCorpusFile(path, flag, { case: 'upper', ambiguous: 'n' });
  if (c.format !== 'fasta') throw new UsageError(`${flag} ${path}: not FASTA (expected a leading '>' or a .fa/.fasta/.fna name)`);
  return { path, tokens: baseTokens(c.bytes), summary: c.summary };
}

const sub = (t: Int32Array, r: BaseRange): Int32Array => t.subarray(r.start, r.end);

/** Runs the experiment; returns the exit code. @throws UsageError / ConfigError for bad flags or data (exit 2). */
export async function taskGenomeCommand(flags: GenomeFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  if (flags.data === undefined) throw new UsageError('--data <fasta> is required (e.g. the E. coli K-12 chromosome, MG1655-K12.fasta.gz)');
  const spec: GenomeModelSpec = {
    hidden: flags.hidden,
    heads: flags.heads,
    feedForward: flags.ff,
    layers: flags.layers,
    chunk: flags.chunk,
    seqLen: flags.seqLen,
    numHashes: flags.numHashes,
  };
  const configInput = genomeModelConfig(spec);
  for (const c of flags.contexts) {
    if (c < 2 || c > flags.seqLen) {
      throw new UsageError(
        `--contexts ${c}: each evaluation context must be in [2, --seq-len ${flags.seqLen}] (the axial position table covers ${flags.seqLen})`,
      );
    }
  }
  checkOutputDir(flags.out, '--out');
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  const t00 = performance.now();
  const genome = readGenome(flags.data, '--data');
  const transfer = flags.transfer !== undefined ? readGenome(flags.transfer, '--transfer') : null;
  const split = genomeSplit(genome.tokens.length, flags.heldOut, flags.validation, 2);
  const train = sub(genome.tokens, split.train);
  const validation = sub(genome.tokens, split.validation);
  const heldOut = sub(genome.tokens, split.heldOut);
  if (train.length < flags.seqLen) {
    throw new UsageError(
      `--seq-len ${flags.seqLen}: the train region has only ${en(train.length)} bases; lower --seq-len or use a longer genome`,
    );
  }
  note(`genome: ${genome.path}: ${genome.summary}`);
  note(
    `split: train [0, ${en(split.train.end)}), validation [${en(split.validation.start)}, ${en(split.validation.end)}), held-out [${en(split.heldOut.start)}, ${en(split.heldOut.end)})`,
  );
  if (transfer) note(`transfer: ${transfer.path}: ${transfer.summary}`);

  // --- the Markov baseline: counts of the train region, k and smoothing chosen on validation ---
  const m0 = performance.now();
  const markovOn = (counts: MarkovCounts, region: Int32Array, label: string): MarkovStats => {
    const bar = new TaskProgress({ stream: ctx.stderr, label, unit: 'bases', total: Math.max(0, region.length - 1) });
    try {
      return new MarkovStats(counts, region, (d) => bar.update(d));
    } finally {
      bar.stop();
    }
  };
  note(`markov: counting orders 0…${flags.maxOrder} on the train region`);
  let counts: MarkovCounts | null = MarkovCounts.fit(train, flags.maxOrder);
  const { perOrder, best } = selectMarkov(markovOn(counts, validation, 'markov validation'));
  const setting: MarkovSetting = { order: best.order, smoothing: best.smoothing, strength: best.strength };
  const heldStats = markovOn(counts, heldOut, 'markov held-out');
  const transferStats = transfer ? markovOn(counts, transfer.tokens, 'markov transfer') : null;
  counts = null;
  // the same setting, counts of train + validation (more data for the baseline; the model never saw validation)
  let refit: MarkovCounts | null = MarkovCounts.fit(genome.tokens.subarray(0, split.heldOut.start), setting.order);
  const heldRefit = markovOn(refit, heldOut, 'markov held-out (refit)').bitsPerBase(setting);
  const transferRefit = transfer ? markovOn(refit, transfer.tokens, 'markov transfer (refit)').bitsPerBase(setting) : null;
  refit = null;
  const markovSeconds = (performance.now() - m0) / 1000;
  const markov = {
    selected_on: 'validation',
    order: setting.order,
    smoothing: setting.smoothing,
    strength: setting.strength,
    validation_bits_per_base: r4(best.bitsPerBase),
    held_out_bits_per_base: r4(heldStats.bitsPerBase(setting)),
    held_out_targets: heldStats.targets,
    transfer_bits_per_base: transferStats ? r4(transferStats.bitsPerBase(setting)) : null,
    refit_train_validation: {
      held_out_bits_per_base: r4(heldRefit),
      transfer_bits_per_base: transferRefit === null ? null : r4(transferRefit),
    },
    per_order: perOrder.map((o) => {
      const s = (
        o.addAlpha.bitsPerBase <= o.interpolated.bitsPerBase
          ? { order: o.order, smoothing: 'add-alpha', strength: o.addAlpha.alpha }
          : { order: o.order, smoothing: 'interpolated', strength: o.interpolated.beta }
      ) as MarkovSetting;
      return {
        order: o.order,
        validation: {
          add_alpha: { alpha: o.addAlpha.alpha, bits_per_base: r4(o.addAlpha.bitsPerBase) },
          interpolated: { beta: o.interpolated.beta, bits_per_base: r4(o.interpolated.bitsPerBase) },
        },
        // for information only (not used to choose): the validation-best strength of this order on the test regions
        held_out_bits_per_base: r4(heldStats.bitsPerBase(s)),
        transfer_bits_per_base: transferStats ? r4(transferStats.bitsPerBase(s)) : null,
      };
    }),
    seconds: Math.round(markovSeconds * 10) / 10,
  };
  note(
    `markov: best on validation k=${setting.order} ${setting.smoothing} ${setting.smoothing === 'add-alpha' ? 'α' : 'β'}=${setting.strength}: ` +
      `validation ${best.bitsPerBase.toFixed(4)}, held-out ${markov.held_out_bits_per_base.toFixed(4)} bits per base (${fmtDuration(markovSeconds)})`,
  );

  // --- the model (--steps 0: the Markov baseline only) ---
  const model =
    flags.checkpoint !== undefined
      ? await loadAndScore(flags, ctx, { heldOut, transfer: transfer?.tokens ?? null }, note)
      : flags.steps > 0
        ? await trainAndScore(flags, ctx, configInput, { train, validation, heldOut, transfer: transfer?.tokens ?? null }, note)
        : null;

  const results = {
    format: 'reformer-ts.genome-results',
    version: 1,
    data: { path: displayPath(genome.path), bases: genome.tokens.length, summary: genome.summary },
    transfer: transfer ? { path: displayPath(transfer.path), bases: transfer.tokens.length, summary: transfer.summary } : null,
    split: { ...split, held_out_fraction: flags.heldOut, validation_fraction: flags.validation },
    tokens: 'A 0, C 1, G 2, T/U 3, N 4 (any other letter); N targets not scored; the first base of a region not scored',
    evaluation_windows:
      'windows of C bases, stride C/2; each window scores its last C/2 bases (the first window all): every scored base sees C/2 … C−1 bases before it (fewer in the first C/2 of a region); a region shorter than C is one window',
    uniform_bits_per_base: 2,
    markov,
    model: model?.record ?? null,
    backend: model?.backend ?? null,
    threads: flags.threads ?? null,
    seconds: Math.round((performance.now() - t00) / 1000),
  };
  const resultsPath = join(flags.out, 'results.json');
  writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  for (const line of genomeTable(results.markov, model?.held ?? [], model?.transfer ?? null, transfer !== null)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

type ModelRow = { context: number; context_used: number; bits_per_base: number };

/** The model's bits per base on `region` at every context, with a progress bar each. */
function scoreContexts(lm: ReformerModelWithLMHead, region: Int32Array, what: string, contexts: readonly number[], ctx: CliContext) {
  return contexts.map((context) => {
    const bar = new TaskProgress({ stream: ctx.stderr, label: `eval ${what} @${context}`, unit: 'bases', total: region.length - 1 });
    const e0 = performance.now();
    try {
      const r = evaluateGenome(lm, region, { context, onProgress: (d) => bar.update(d) });
      return {
        context,
        context_used: r.context,
        bits_per_base: r4(r.bitsPerBase),
        targets: r.targets,
        windows: r.windows,
        seconds: Math.round((performance.now() - e0) / 100) / 10,
      };
    } finally {
      bar.stop();
    }
  });
}

/**
 * `--checkpoint`: scores a genome model trained earlier by this command (no training). Its training figures
 * come from the checkpoint's trainer state. A config with pad_token_id null (checkpoints of the first
 * version) gets N (4): padding only fills the end of a window shorter than a chunk multiple.
 */
async function loadAndScore(
  flags: GenomeFlags,
  ctx: CliContext,
  regions: { heldOut: Int32Array; transfer: Int32Array | null },
  note: (line: string) => void,
) {
  const dir = checkpointDirFor(flags.checkpoint!, '--checkpoint');
  const loaded = loadCheckpoint(dir, '--checkpoint', { inferenceOnly: true });
  const config = JSON.parse(new TextDecoder().decode(loaded.config)) as Record<string, unknown>;
  if (config.vocab_size !== 5)
    throw new UsageError(`--checkpoint ${flags.checkpoint}: not a genome model (vocab_size ${String(config.vocab_size)}, expected 5)`);
  if (config.pad_token_id === null || config.pad_token_id === undefined) config.pad_token_id = 4;
  const maxLen = (config.axial_pos_shape as number[]).reduce((a, b) => a * b, 1);
  for (const c of flags.contexts) {
    if (c > maxLen) throw new UsageError(`--contexts ${c}: the checkpoint's axial position table covers ${maxLen} bases`);
  }
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  const lm = lmFromCheckpoint(backend, { config, safetensors: loaded.weights });
  const st = loaded.snapshot?.state ?? null;
  note(
    `model: ${en(lm.params.length)} parameters from ${displayPath(dir)}${st ? ` (${st.step} steps, ${fmtDuration(st.elapsedMs / 1000)} of training)` : ''}`,
  );
  const held = scoreContexts(lm, regions.heldOut, 'held-out', flags.contexts, ctx);
  const transfer = regions.transfer ? scoreContexts(lm, regions.transfer, 'transfer', flags.contexts, ctx) : null;
  const opts = st?.options;
  const record = {
    config,
    parameters: lm.params.length,
    loaded_from: displayPath(dir),
    training: st
      ? {
          steps: st.step,
          seq_len: opts?.seqLen ?? null,
          batch: opts?.batch ?? null,
          lr: opts?.lr ?? null,
          warmup: opts?.warmupSteps ?? null,
          seed: opts?.seed ?? null,
          tokens: st.tokensSeen,
          seconds: Math.round(st.elapsedMs / 1000),
          seconds_per_step: Math.round((st.elapsedMs / 1000 / Math.max(1, st.step)) * 100) / 100,
          last_validation_bits_per_base: st.lastValidation ? r4(st.lastValidation.bitsPerByte) : null,
        }
      : null,
    held_out: held,
    transfer,
    checkpoint: displayPath(dir),
  };
  return { record, held, transfer, backend: backend.constructor.name };
}

/** Trains the genome LM on the train region (Trainer, validation on the validation region), saves it, scores it at every context. */
async function trainAndScore(
  flags: GenomeFlags,
  ctx: CliContext,
  configInput: ReturnType<typeof genomeModelConfig>,
  regions: { train: Int32Array; validation: Int32Array; heldOut: Int32Array; transfer: Int32Array | null },
  note: (line: string) => void,
) {
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(configInput), { seed: flags.seed });
  const warmupSteps = flags.warmup ?? Math.min(100, Math.floor(flags.steps / 10));
  const trainer = new Trainer(
    new ReformerLM(lm),
    { train: regions.train, validation: regions.validation },
    {
      batch: flags.batch,
      seqLen: flags.seqLen,
      steps: flags.steps,
      ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
      lr: flags.lr,
      warmupSteps,
      seed: flags.seed,
      evalEvery: flags.evalEvery,
      evalWindows: 2,
      evalBatch: 1,
    },
  );
  note(
    `model: ${en(lm.params.length)} parameters; ${flags.layers.join('/')}, d_model ${flags.hidden}, ${flags.heads} heads, ff ${flags.ff}, chunks ${flags.chunk}, ` +
      `training windows of ${en(flags.seqLen)} bases (axial ${JSON.stringify(configInput.axial_pos_shape)}) × ${flags.batch}, ${flags.steps} steps`,
  );
  const progress = new TrainingProgress({
    stream: ctx.stderr as NodeJS.WritableStream,
    tty: Boolean(ctx.stderr.isTTY),
    totalSteps: flags.steps,
    ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
    startStep: 0,
    logEvery: 10,
  });
  const validations: { step: number; bits_per_base: number }[] = [];
  const t0 = performance.now();
  let run: Awaited<ReturnType<Trainer['run']>>;
  try {
    run = await trainer.run({
      onStep: (s) => progress.step(s),
      onValidation: (v) => {
        progress.validation(v);
        validations.push({ step: v.step, bits_per_base: r4(v.bitsPerByte) });
      },
    });
  } finally {
    progress.stop();
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const files = lmCheckpointToBytes(lm);
  const ckpt = join(flags.out, 'checkpoint');
  saveCheckpoint(ckpt, { config: files.config, weights: files.safetensors, snapshot: run.snapshot });
  note(
    `trained ${run.step} steps in ${fmtDuration(trainSeconds)} (${(trainSeconds / Math.max(1, run.step)).toFixed(2)} s per step); checkpoint ${displayPath(ckpt)}`,
  );

  const evalOn = (region: Int32Array, what: string) => scoreContexts(lm, region, what, flags.contexts, ctx);
  const held = evalOn(regions.heldOut, 'held-out');
  const transfer = regions.transfer ? evalOn(regions.transfer, 'transfer') : null;
  const record = {
    config: configInput,
    parameters: lm.params.length,
    training: {
      steps: run.step,
      stopped_by: run.stoppedBy,
      minutes: flags.minutes ?? null,
      seq_len: flags.seqLen,
      batch: flags.batch,
      lr: flags.lr,
      warmup: warmupSteps,
      seed: flags.seed,
      tokens: run.step * flags.batch * flags.seqLen,
      seconds: Math.round(trainSeconds),
      seconds_per_step: Math.round((trainSeconds / Math.max(1, run.step)) * 100) / 100,
      final_train_bits_per_base: run.lastStep ? r4(run.lastStep.bitsPerByte) : null,
      validations,
    },
    held_out: held,
    transfer,
    checkpoint: displayPath(ckpt),
  };
  return { record, held, transfer, backend: backend.constructor.name };
}

/** The bits-per-base table: uniform, validated Markov (and its refit), the model at each context; held-out and transfer columns. */
export function genomeTable(
  markov: {
    order: number;
    smoothing: string;
    held_out_bits_per_base: number;
    transfer_bits_per_base: number | null;
    refit_train_validation: { held_out_bits_per_base: number; transfer_bits_per_base: number | null };
  },
  held: readonly ModelRow[],
  transfer: readonly ModelRow[] | null,
  hasTransfer: boolean,
): string[] {
  const f = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : x.toFixed(4));
  const head = ['model', 'held-out bits/base', ...(hasTransfer ? ['transfer bits/base'] : [])];
  const rows: string[][] = [
    ['uniform', f(2), ...(hasTransfer ? [f(2)] : [])],
    [
      `Markov k=${markov.order} ${markov.smoothing} (train counts)`,
      f(markov.held_out_bits_per_base),
      ...(hasTransfer ? [f(markov.transfer_bits_per_base)] : []),
    ],
    [
      `Markov k=${markov.order} (train+validation counts)`,
      f(markov.refit_train_validation.held_out_bits_per_base),
      ...(hasTransfer ? [f(markov.refit_train_validation.transfer_bits_per_base)] : []),
    ],
    ...held.map((h, i) => {
      const t = transfer?.[i];
      const ctxLabel = (r: ModelRow): string => (r.context_used !== r.context ? `${r.context} (whole: ${r.context_used})` : `${r.context}`);
      return [
        `Reformer, context ${h.context}`,
        f(h.bits_per_base),
        ...(hasTransfer ? [t ? `${f(t.bits_per_base)}${t.context_used !== t.context ? ` @${ctxLabel(t)}` : ''}` : '-'] : []),
      ];
    }),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)];
}

/** `--layers local,lsh,...` (repeats allowed, unlike choiceListFlag's distinct values). */
function layersFlag(value: string): ('local' | 'lsh')[] {
  const list = value.split(',').map((s) => s.trim());
  if (list.some((l) => l !== 'local' && l !== 'lsh')) {
    throw new UsageError(`--layers ${JSON.stringify(value)}: must be a comma-separated list of local and lsh, e.g. local,lsh`);
  }
  return list as ('local' | 'lsh')[];
}

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
    .option('--layers <list>', `attn_layers, comma-separated local / lsh (default ${d.layers.join(',')})`, layersFlag, [...d.layers])
    .option('--chunk <n>', `local and LSH chunk length, a divisor of --seq-len (default ${d.chunk})`, intFlag('--chunk'), d.chunk)
    .option('--num-hashes <n>', `LSH hash rounds (default ${d.numHashes})`, intFlag('--num-hashes'), d.numHashes)
    .option(
      '--seq-len <n>',
      `training window in bases = Π axial_pos_shape, the longest evaluation context (default ${d.seqLen})`,
      intFlag('--seq-len', 2),
      d.seqLen,
    )
    .option('--steps <n>', `training steps, 0 = the Markov baseline only (default ${d.steps})`, intFlag('--steps', 0), d.steps)
    .option(
      '--minutes <m>',
      'also stop training after m minutes (whichever comes first; the cosine schedule still spans --steps)',
      numberFlag('--minutes', 0, 1e6, { exclusiveMin: true, what: 'a number of minutes' }),
    )
    .option('--batch <n>', `windows per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(
      '--lr <x>',
      `peak AdamW learning rate, cosine decay to lr/10 (default ${d.lr})`,
      numberFlag('--lr', 0, 10, { exclusiveMin: true }),
      d.lr,
    )
    .option('--warmup <n>', 'linear warm-up steps (default min(100, steps/10))', intFlag('--warmup', 0))
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
