/**
 * The run of `reformer task genome` (genome.ts has its flags): reads the genome(s), splits train /
 * validation / held-out, fits and selects the Markov baseline (apps/genome-markov.ts), trains the
 * base-level LM (or loads `--checkpoint`) and scores it at every evaluation context, then writes
 * `<out>/results.json` (genome-report.ts has its records and the table).
 */
import { join } from 'node:path';
import { baseTokens, type BaseRange, evaluateGenome, genomeModelConfig, genomeSplit, type GenomeModelSpec } from '../../../apps/genome.js';
import { MarkovCounts, MarkovStats, selectMarkov, type MarkovSetting } from '../../../apps/genome-markov.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { UsageError } from '../../../errors.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { Trainer } from '../../../train/trainer.js';
import { checkpointDirFor, loadCheckpoint } from '../../checkpoint.js';
import { readCorpusFile } from '../../corpus-file.js';
import { displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress } from '../../progress.js';
import { ReformerLM } from '../../reformer-engine.js';
import type { CliContext } from '../context.js';
import { checkTaskOut, round, writeResultsJson } from '../tasks/task-results.js';
import { trainAndSave, warmupSteps } from '../tasks/task-training.js';
import type { GenomeFlags } from './genome.js';
import { genomeTable, markovRecord, r4 } from './genome-report.js';

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
  checkTaskOut(flags.out);
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
  const selection = selectMarkov(markovOn(counts, validation, 'markov validation'));
  const { best } = selection;
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
  const markov = markovRecord({
    selection,
    setting,
    held: heldStats,
    transfer: transferStats,
    heldRefit,
    transferRefit,
    seconds: markovSeconds,
  });
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
  writeResultsJson(resultsPath, results);
  for (const line of genomeTable(results.markov, model?.held ?? [], model?.transfer ?? null, transfer !== null)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

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
          seconds_per_step: round(st.elapsedMs / 1000 / Math.max(1, st.step), 2),
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
  const warmup = warmupSteps(flags.steps, flags.warmup);
  const trainer = new Trainer(
    new ReformerLM(lm),
    { train: regions.train, validation: regions.validation },
    {
      batch: flags.batch,
      seqLen: flags.seqLen,
      steps: flags.steps,
      ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
      lr: flags.lr,
      warmupSteps: warmup,
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
  const validations: { step: number; bits_per_base: number }[] = [];
  const ckpt = join(flags.out, 'checkpoint');
  const { run, seconds: trainSeconds } = await trainAndSave(trainer, {
    stream: ctx.stderr,
    totalSteps: flags.steps,
    ...(flags.minutes !== undefined ? { minutes: flags.minutes } : {}),
    logEvery: 10,
    onValidation: (v, progress) => {
      progress.validation(v);
      validations.push({ step: v.step, bits_per_base: r4(v.bitsPerByte) });
    },
    checkpoint: { dir: ckpt, files: () => lmCheckpointToBytes(lm) },
  });
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
      warmup,
      seed: flags.seed,
      tokens: run.step * flags.batch * flags.seqLen,
      seconds: Math.round(trainSeconds),
      seconds_per_step: round(trainSeconds / Math.max(1, run.step), 2),
      final_train_bits_per_base: run.lastStep ? r4(run.lastStep.bitsPerByte) : null,
      validations,
    },
    held_out: held,
    transfer,
    checkpoint: displayPath(ckpt),
  };
  return { record, held, transfer, backend: backend.constructor.name };
}
