/**
 * `reformer task passkey`: passkey retrieval at growing length (issue 15; apps/passkey.ts). For each
 * attention (`--train`: full, lsh, local) it trains a fresh byte-level model on rows of `--train-length`
 * tokens holding passkey sequences of `--min-length` … `--train-length` tokens whose filler comes from the
 * first 90% of the novel (apps/passkey-train.ts), saves it in `<out>/<attention>/`, then evaluates it at
 * every `--lengths` value (the full model up to `--full-max-length`) on held-out sequences (filler from
 * the last 10%), the position table repeated to the longer length (apps/passkey-models.ts).
 * `<out>/results.json` is rewritten atomically after each evaluation; progress goes to stderr, the table
 * (exact match and per-digit accuracy per length and attention, chance) to stdout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import {
  checkPasskeyModelSpec,
  copyWithTiledPositions,
  localReach,
  PASSKEY_ATTENTIONS,
  type PasskeyAttention,
  type PasskeyModelSpec,
  passkeyAttnLayers,
  passkeyConfig,
  passkeyLocalChunk,
  PASSKEY_EVAL_POSITIONS,
  type PasskeyEvalPositions,
  passkeyFillerRows,
} from '../../../apps/passkey-models.js';
import { checkPasskeySpec, evaluatePasskey, type PasskeyResult, passkeyFillerLength } from '../../../apps/passkey.js';
import { passkeyTable } from '../../../apps/passkey-table.js';
import { checkMinLength, PASSKEY_LOSS_ON, PasskeyBatches, type PasskeyLossOn } from '../../../apps/passkey-train.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { UsageError } from '../../../errors.js';
import { lmCheckpointToBytes } from '../../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { Trainer } from '../../../train/trainer.js';
import { writeFileAtomic } from '../../atomic.js';
import { saveCheckpoint } from '../../checkpoint.js';
import { checkOutputDir, displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress, TrainingProgress } from '../../progress.js';
import { ReformerLM } from '../../reformer-engine.js';
import type { BackendKind, CliContext } from '../context.js';
import { choiceFlag, choiceListFlag, intFlag, intListFlag, nonEmptyFlag, numberFlag } from '../parse.js';

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
  hidden: 64,
  heads: 2,
  layers: 3,
  ff: 128,
  lshChunk: 32,
  localChunk: 8,
  localModelChunk: 64,
  hashes: 2,
  evalHashes: 4,
  axialCols: 64,
  train: [...PASSKEY_ATTENTIONS],
  steps: 1500,
  batch: 32,
  lossOn: 'answer' as PasskeyLossOn,
  lr: 3e-3,
  evalSequences: [64, 64, 64, 32, 16],
  seed: 1,
  out: 'runs/passkey',
} as const;

/** Share of the corpus (its end) kept for evaluation filler. */
export const PASSKEY_HELD_OUT = 0.1;
/** Seed offset of the evaluation sequences: the same set for both models, apart from training's. */
const EVAL_SEED_OFFSET = 1_000_003;

type LengthRecord = PasskeyResult & { seconds: number; num_buckets: unknown };
interface ModelRecord {
  attention: PasskeyAttention;
  attn_layers: string[];
  lsh_attn_chunk_length: number | 'sequence length';
  local_attn_chunk_length: number;
  parameters: number;
  steps: number;
  stopped_by: string;
  train_seconds: number;
  final_train_loss: number | null;
  checkpoint: string;
  eval: Record<string, LengthRecord>;
  /** Lengths not evaluated, with the reason. */
  skipped: Record<string, string>;
}

/** Runs the experiment; returns the exit code. @throws ConfigError / UsageError for bad flags (exit 2). */
export async function taskPasskeyCommand(flags: PasskeyFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  const spec: PasskeyModelSpec = {
    hidden: flags.hidden,
    heads: flags.heads,
    layers: flags.layers,
    feedForward: flags.ff,
    lshChunk: flags.lshChunk,
    localChunk: flags.localChunk,
    localModelChunk: flags.localModelChunk,
    numHashes: flags.hashes,
    axialCols: flags.axialCols,
  };
  const T = flags.trainLength;
  const minLength = flags.minLength ?? T;
  checkPasskeySpec({ seqLen: T, digits: flags.digits });
  checkMinLength(minLength, { seqLen: T, digits: flags.digits });
  for (const a of flags.train) checkPasskeyModelSpec(spec, T, a);
  for (const L of flags.lengths) {
    if (L % T !== 0)
      throw new UsageError(`--lengths ${L}: must be a multiple of --train-length ${T} (the position table repeats with period ${T})`);
    for (const a of flags.train) checkPasskeyModelSpec(spec, L, a);
  }
  if (flags.evalSequences.length !== 1 && flags.evalSequences.length !== flags.lengths.length) {
    throw new UsageError(
      `--eval-sequences: give one count or one per length (${flags.lengths.length}), got ${flags.evalSequences.length} values`,
    );
  }
  const period = flags.evalPositions === 'filler' ? passkeyFillerRows(minLength, flags.digits, flags.axialCols) : T / flags.axialCols;
  const evalCount = (i: number): number => flags.evalSequences[flags.evalSequences.length === 1 ? 0 : i]!;
  checkOutputDir(flags.out, '--out');
  const textPath = flags.text ?? join(ctx.packageRoot, 'data', 'crime-and-punishment.txt');
  const text = new Uint8Array(readFileSync(textPath));
  const split = Math.floor(text.length * (1 - PASSKEY_HELD_OUT));
  const trainText = text.subarray(0, split);
  const evalText = text.subarray(split);
  const longest = Math.max(T, ...flags.lengths);
  const needed = passkeyFillerLength({ seqLen: longest, digits: flags.digits });
  if (evalText.length < needed) {
    throw new UsageError(
      `--text ${textPath}: its last ${PASSKEY_HELD_OUT * 100}% holds ${evalText.length} bytes, fewer than the ${needed} filler bytes of a ${longest}-token sequence`,
    );
  }
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  const reach = localReach(spec);
  note(
    `passkey: ${flags.digits} digits, train at ${T} tokens, evaluate at ${flags.lengths.join(', ')}; ${spec.layers} layers, d_model ${spec.hidden}, ` +
      `${spec.heads} heads, LSH chunk ${spec.lshChunk} (${spec.numHashes} rounds, ${flags.evalHashes} in evaluation), local chunk ${spec.localChunk}, ` +
      `local model's chunk ${flags.localModelChunk} (it reaches ≤ ${reach} back); ${flags.steps} steps × ${flags.batch} sequences of ${minLength} … ${T} tokens per model ` +
      `(loss on ${flags.lossOn}); filler ${displayPath(textPath)} (train ${trainText.length} B, held out ${evalText.length} B)`,
  );
  const resultsPath = join(flags.out, 'results.json');
  const warmup = flags.warmup ?? Math.min(100, Math.floor(flags.steps / 10));
  const records: ModelRecord[] = [];
  const write = (): void =>
    writeFileAtomic(
      resultsPath,
      `${JSON.stringify(
        {
          format: 'reformer-ts.passkey-results',
          version: 1,
          task: {
            digits: flags.digits,
            chance_exact: 10 ** -flags.digits,
            chance_digit: 0.1,
            train_length: T,
            train_min_length: minLength,
            lengths: flags.lengths,
            scored: 'the answer digits at the end (exact match = greedy decoding of the whole key)',
            filler: displayPath(textPath),
            filler_split: { train_bytes: [0, split], eval_bytes: [split, text.length] },
            local_reach: reach,
          },
          model: {
            hidden_size: spec.hidden,
            num_attention_heads: spec.heads,
            num_layers: spec.layers,
            feed_forward_size: spec.feedForward,
            lsh_attn_chunk_length: spec.lshChunk,
            local_attn_chunk_length: spec.localChunk,
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
            lr: flags.lr,
            warmup: warmup,
            schedule: 'linear warm-up, cosine decay to lr/10',
            seed: flags.seed,
          },
          evaluation: {
            sequences: Object.fromEntries(flags.lengths.map((L, i) => [L, evalCount(i)])),
            seed: flags.seed + EVAL_SEED_OFFSET,
            full_max_length: flags.fullMaxLength,
            positions: flags.evalPositions,
            position_period: period * flags.axialCols,
          },
          backend: backend.constructor.name,
          results: records,
        },
        null,
        2,
      )}\n`,
    );
  for (const attention of flags.train) {
    const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(passkeyConfig(spec, attention, T)), { seed: flags.seed });
    const trainer = new Trainer(
      new ReformerLM(lm),
      { train: new Int32Array(0), validation: new Int32Array(0) },
      {
        batch: flags.batch,
        seqLen: T,
        steps: flags.steps,
        ...(flags.minutes === undefined ? {} : { minutes: flags.minutes }),
        lr: flags.lr,
        warmupSteps: warmup,
        seed: flags.seed,
      },
      new PasskeyBatches(
        trainText,
        { seqLen: T, digits: flags.digits },
        { batch: flags.batch, seed: flags.seed, lossOn: flags.lossOn, minLength },
      ),
    );
    note(
      `train ${attention} [${passkeyAttnLayers(attention, spec.layers).join(', ')}]: ${lm.params.length.toLocaleString('en-US')} parameters`,
    );
    const progress = new TrainingProgress({
      stream: ctx.stderr as NodeJS.WritableStream,
      tty: Boolean(ctx.stderr.isTTY),
      totalSteps: flags.steps,
      startStep: 0,
      logEvery: 25,
      bitsPerByte: false,
    });
    const t0 = performance.now();
    let run: Awaited<ReturnType<Trainer['run']>>;
    try {
      run = await trainer.run({ onStep: (s) => progress.step(s) });
    } finally {
      progress.stop();
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    const files = lmCheckpointToBytes(lm);
    const dir = join(flags.out, attention);
    saveCheckpoint(dir, { config: files.config, weights: files.safetensors, snapshot: run.snapshot });
    const record: ModelRecord = {
      attention,
      attn_layers: passkeyAttnLayers(attention, spec.layers),
      lsh_attn_chunk_length: attention === 'full' ? 'sequence length' : spec.lshChunk,
      local_attn_chunk_length: passkeyLocalChunk(spec, attention),
      parameters: lm.params.length,
      steps: run.step,
      stopped_by: run.stoppedBy,
      train_seconds: round(trainSeconds, 1),
      final_train_loss: run.lastStep ? round(run.lastStep.loss, 4) : null,
      checkpoint: displayPath(dir),
      eval: {},
      skipped: {},
    };
    records.push(record);
    note(`${attention}: ${run.step} steps in ${fmtDuration(trainSeconds)}, final training loss ${record.final_train_loss}`);
    for (const [i, L] of flags.lengths.entries()) {
      if (attention === 'full' && L > flags.fullMaxLength) {
        record.skipped[String(L)] = `full attention costs L²; evaluated up to --full-max-length ${flags.fullMaxLength}`;
        continue;
      }
      const model = new ReformerModelWithLMHead(backend, new ReformerConfig(passkeyConfig(spec, attention, L)), { seed: flags.seed });
      copyWithTiledPositions(lm, model, period);
      const n = evalCount(i);
      const bar = new TaskProgress({ stream: ctx.stderr, label: `eval ${attention} @ ${L}`, unit: 'sequences', total: n });
      const e0 = performance.now();
      try {
        const r = evaluatePasskey(
          model,
          evalText,
          { seqLen: L, digits: flags.digits },
          {
            sequences: n,
            batch: 1,
            seed: flags.seed + EVAL_SEED_OFFSET + L,
            nearWithin: reach,
            ...(attention === 'lsh' ? { numHashes: flags.evalHashes } : {}),
            onProgress: (done) => bar.update(done),
          },
        );
        record.eval[String(L)] = {
          ...r,
          seconds: round((performance.now() - e0) / 1000, 1),
          num_buckets: attention === 'lsh' ? model.resolvedConfig().num_buckets : null,
        };
      } finally {
        bar.stop();
      }
      write();
      const r = record.eval[String(L)]!;
      note(
        `${attention} @ ${L}: exact ${(100 * r.exactMatch).toFixed(1)}%, per digit ${(100 * r.digitAccuracy).toFixed(1)}% (${r.sequences} sequences, ${r.seconds} s)`,
      );
    }
    write();
  }
  for (const line of passkeyTable(records, flags.lengths, flags.digits, reach)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

function round(x: number, digits: number): number {
  const s = 10 ** digits;
  return Math.round(x * s) / s;
}

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
    .option(
      '--minutes <x>',
      'also stop each training after this many minutes (default: steps only)',
      numberFlag('--minutes', 0, 1e6, { exclusiveMin: true }),
    )
    .option('--batch <n>', `sequences per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(
      '--loss-on <what>',
      `training loss over: answer (the answer digits only) or all (every next byte, an LM loss) (default ${d.lossOn})`,
      choiceFlag('--loss-on', PASSKEY_LOSS_ON),
      d.lossOn,
    )
    .option(
      '--lr <x>',
      `peak AdamW learning rate, cosine decay to lr/10 (default ${d.lr})`,
      numberFlag('--lr', 0, 10, { exclusiveMin: true }),
      d.lr,
    )
    .option('--warmup <n>', 'linear warm-up steps (default min(100, steps/10))', intFlag('--warmup', 0))
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
