/**
 * The run of `reformer task passkey` (passkey.ts has its flags): reads the filler text and splits it
 * (first 90% training, last 10% evaluation), then for each attention of `--train` trains a fresh
 * byte-level model (apps/passkey-models.ts, apps/passkey-train.ts), saves it in `<out>/<attention>/`,
 * and evaluates it at every `--lengths` value (the full model up to `--full-max-length`) on held-out
 * sequences with the position table carried over to the longer length (`--eval-positions`), rewriting
 * `<out>/results.json` after each evaluation (passkey-report.ts has its records and the table).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkPasskeyModelSpec,
  copyWithTiledPositions,
  localReach,
  type PasskeyModelSpec,
  passkeyAttnLayers,
  passkeyConfig,
  passkeyFillerRows,
  passkeyLocalChunk,
} from '../../../apps/passkey-models.js';
import { checkPasskeySpec, evaluatePasskey, passkeyBatch, passkeyFillerLength } from '../../../apps/passkey.js';
import { type PasskeyProbe, probePasskey } from '../../../apps/passkey-probe.js';
import { checkMinLength, PasskeyBatches, type PasskeyCurriculum } from '../../../apps/passkey-train.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { UsageError } from '../../../errors.js';
import { Rng } from '../../../util/rng.js';
import { lmCheckpointToBytes } from '../../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { displayPath } from '../../paths.js';
import { fmtDuration, TaskProgress } from '../../progress.js';
import type { CliContext } from '../context.js';
import { checkTaskOut, round, writeResultsJson } from '../tasks/task-results.js';
import { chunkedShape } from '../tasks/task-shape.js';
import { lmTrainer, trainAndSave, warmupSteps } from '../tasks/task-training.js';
import type { PasskeyFlags } from './passkey.js';
import { type ModelRecord, type PasskeyRunFacts, type ProbeRecord, passkeyResults, passkeyTable } from './passkey-report.js';

/** Share of the corpus (its end) kept for evaluation filler. */
export const PASSKEY_HELD_OUT = 0.1;
/** Seed offset of the evaluation sequences: the same set for every model, apart from training's. */
const EVAL_SEED_OFFSET = 1_000_003;
/** The probe's sequences: how many, and their seed (apart from the evaluation's). */
const PROBE_SEQUENCES = 16;
const PROBE_SEED_OFFSET = 7;
/** A probe spread below this is a dead run (`--stop-if-dead`): the last round's dead models had 2.6·10⁻⁴. */
export const DEAD_SPREAD = 0.01;

function probeRecord(step: number, p: PasskeyProbe): ProbeRecord {
  return {
    step,
    spread: round(p.spread, 5),
    digit_accuracy: round(p.digitAccuracy, 4),
    exact_match: round(p.exactMatch, 4),
    loss: round(p.loss, 4),
  };
}

/** The model shape of the flags. */
function modelSpec(flags: PasskeyFlags): PasskeyModelSpec {
  return {
    ...chunkedShape(flags),
    localModelChunk: flags.localModelChunk,
    numHashes: flags.hashes,
    axialCols: flags.axialCols,
  };
}

/** The curriculum of the flags: shorter keys for the first `--curriculum-steps` steps, or null (none, or no shorter key). */
function passkeyCurriculum(flags: PasskeyFlags): PasskeyCurriculum | null {
  return flags.curriculumSteps > 0 && flags.curriculumDigits < flags.digits
    ? { digits: flags.curriculumDigits, steps: flags.curriculumSteps }
    : null;
}

/** @throws ConfigError / UsageError for flags that do not fit together (exit 2). */
function checkFlags(flags: PasskeyFlags, spec: PasskeyModelSpec, minLength: number): void {
  const T = flags.trainLength;
  checkPasskeySpec({ seqLen: T, digits: flags.digits });
  checkMinLength(minLength, { seqLen: T, digits: flags.digits });
  for (const a of flags.train) checkPasskeyModelSpec(spec, T, a);
  for (const L of flags.lengths) {
    if (L % T !== 0)
      throw new UsageError(`--lengths ${L}: must be a multiple of --train-length ${T} (the position table repeats with period ${T})`);
    for (const a of flags.train) checkPasskeyModelSpec(spec, L, a);
  }
  if (flags.curriculumSteps > 0 && flags.curriculumDigits > flags.digits) {
    throw new UsageError(
      `--curriculum-digits ${flags.curriculumDigits}: must be at most --digits ${flags.digits} (the curriculum trains on shorter keys first)`,
    );
  }
  if (flags.evalSequences.length !== 1 && flags.evalSequences.length !== flags.lengths.length) {
    throw new UsageError(
      `--eval-sequences: give one count or one per length (${flags.lengths.length}), got ${flags.evalSequences.length} values`,
    );
  }
}

/** Runs the experiment; returns the exit code. @throws ConfigError / UsageError for bad flags (exit 2). */
export async function taskPasskeyCommand(flags: PasskeyFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  const spec = modelSpec(flags);
  const T = flags.trainLength;
  const minLength = flags.minLength ?? T;
  checkFlags(flags, spec, minLength);
  const period = flags.evalPositions === 'filler' ? passkeyFillerRows(minLength, flags.digits, flags.axialCols) : T / flags.axialCols;
  const evalCount = (i: number): number => flags.evalSequences[flags.evalSequences.length === 1 ? 0 : i]!;
  checkTaskOut(flags.out);
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
  const curriculum = passkeyCurriculum(flags);
  if (curriculum) {
    note(
      `curriculum: the first ${Math.min(curriculum.steps, flags.steps)} steps on ${curriculum.digits}-digit keys${curriculum.steps >= flags.steps ? ' (all of them: --curriculum-steps ≥ --steps)' : `, then ${flags.digits}-digit keys`}`,
    );
  } else if (flags.curriculumSteps > 0) note(`no curriculum: the key has no more digits (${flags.digits}) than --curriculum-digits`);
  const resultsPath = join(flags.out, 'results.json');
  const warmup = warmupSteps(flags.steps, flags.warmup);
  const facts: PasskeyRunFacts = {
    spec,
    curriculum,
    minLength,
    warmup,
    textPath: displayPath(textPath),
    split,
    total: text.length,
    reach,
    positionPeriod: period * flags.axialCols,
    evalSequences: Object.fromEntries(flags.lengths.map((L, i) => [L, evalCount(i)])),
    evalSeed: flags.seed + EVAL_SEED_OFFSET,
    backend: backend.constructor.name,
  };
  // the probe: fixed held-out sequences at the training length, the model's generator put back afterwards
  // (LSH rotations), so probing changes nothing of the training
  const probeBatch = passkeyBatch(
    new Rng(facts.evalSeed + PROBE_SEED_OFFSET),
    evalText,
    { seqLen: T, digits: flags.digits },
    PROBE_SEQUENCES,
  ).batch;
  const probe = (lm: ReformerModelWithLMHead): PasskeyProbe => {
    const state = lm.reformer.rng.state();
    try {
      return probePasskey(lm, probeBatch, { seqLen: T, digits: flags.digits });
    } finally {
      lm.reformer.rng = Rng.fromState(state);
    }
  };
  const records: ModelRecord[] = [];
  const write = (): void => writeResultsJson(resultsPath, passkeyResults(flags, facts, records));
  for (const attention of flags.train) {
    const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(passkeyConfig(spec, attention, T)), { seed: flags.seed });
    const batches = new PasskeyBatches(
      trainText,
      { seqLen: T, digits: flags.digits },
      {
        batch: flags.batch,
        seed: flags.seed,
        lossOn: flags.lossOn,
        minLength,
        ...(curriculum ? { curriculum } : {}),
      },
    );
    const trainer = lmTrainer(
      lm,
      {
        batch: flags.batch,
        seqLen: T,
        steps: flags.steps,
        ...(flags.minutes === undefined ? {} : { minutes: flags.minutes }),
        lr: flags.lr,
        warmupSteps: warmup,
        seed: flags.seed,
      },
      batches,
    );
    note(
      `train ${attention} [${passkeyAttnLayers(attention, spec.layers).join(', ')}]: ${lm.params.length.toLocaleString('en-US')} parameters`,
    );
    const dir = join(flags.out, attention);
    const probes: ProbeRecord[] = [];
    let dead = false;
    const trained = await trainAndSave(trainer, {
      stream: ctx.stderr,
      totalSteps: flags.steps,
      ...(flags.minutes === undefined ? {} : { minutes: flags.minutes }),
      logEvery: 25,
      bitsPerByte: false,
      checkpoint: { dir, files: () => lmCheckpointToBytes(lm) },
      onStep: (s) => {
        if (flags.probeEvery === 0 || s.step % flags.probeEvery !== 0) return;
        const p = probeRecord(s.step, probe(lm));
        probes.push(p);
        note(
          `probe ${attention} @ step ${s.step}: spread ${p.spread}, per digit ${p.digit_accuracy}, exact ${p.exact_match}, loss ${p.loss}`,
        );
        if (flags.stopIfDead !== undefined && s.step >= flags.stopIfDead && p.spread < DEAD_SPREAD) dead = true;
      },
      shouldStop: () => dead,
    });
    const { run } = trained;
    const record: ModelRecord = {
      attention,
      attn_layers: passkeyAttnLayers(attention, spec.layers),
      lsh_attn_chunk_length: attention === 'full' ? 'sequence length' : spec.lshChunk,
      local_attn_chunk_length: passkeyLocalChunk(spec, attention),
      parameters: lm.params.length,
      steps: run.step,
      stopped_by: run.stoppedBy,
      train_seconds: round(trained.seconds, 1),
      train_meter: trained.meter,
      final_train_loss: run.lastStep ? round(run.lastStep.loss, 4) : null,
      dead,
      probes,
      checkpoint: displayPath(dir),
      eval: {},
      skipped: {},
    };
    records.push(record);
    note(`${attention}: ${run.step} steps in ${fmtDuration(trained.seconds)}, final training loss ${record.final_train_loss}`);
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
