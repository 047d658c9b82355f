/**
 * `reformer eval`: bits per byte of a checkpoint on a data file, the last stdout line
 * `bits_per_byte: <value>`.
 *
 * Tokens: the checkpoint's tokenizer (SentencePiece from its `spiece.model`, else bytes, load-model.ts).
 * A SentencePiece model is scored per token and converted with the data's measured bytes per token (the
 * `tokenizer:` line), as `reformer train` reports its validation.
 *
 * Split (`--split val|train|all`). A run's checkpoint records its data file (fingerprint of the
 * tokens) and the fraction held out from the end for validation. Scoring that same file whole would mix
 * the bytes the model trained on into the number, so the default is the held-out part (`val`) when the
 * data is the run's own file, and the whole file (`all`) otherwise (other data, an HF folder, no
 * trainer state). `train` and `val` split any file the way training would (the run's fraction, else
 * 5%). The `split:` line says what was scored.
 *
 * FASTA: the run's `--fasta-case` / `--fasta-ambiguous` apply unless given; for a byte-level model the
 * bits per letter are reported (soft-masked lowercase and ambiguity codes cost a model trained on uppercase ACGT 10+ bits
 * each), with a note naming the flag that maps them.
 *
 * Progress (windows) goes to stderr: a bar on a terminal, plain lines in a pipe.
 */
import { UsageError } from '../../errors.js';
import { formatBytes } from '../../model/memory/check.js';
import { estimateMemory } from '../../model/memory/estimate.js';
import { DEFAULT_VALIDATION_FRACTION, validationLength } from '../../train/data.js';
import { evaluate, type EvaluateResult } from '../../train/evaluate.js';
import { ByteTokenizer, bytesPerTokenOf } from '../../train/tokenizer.js';
import { readCorpusFile } from '../corpus-file.js';
import { plural, TaskProgress } from '../progress.js';
import type { BackendKind, CliContext } from './context.js';
import { numHashesFlag } from './inference.js';
import { withRepeatedPositions } from '../reformer-engine.js';
import { loadCheckpointModel } from './load-model.js';
import { fastaOptionsOf, fingerprint, runExtra, type FastaFlags, type TrainExtra } from './run-extra.js';

export const EVAL_SPLITS = ['val', 'train', 'all'] as const;
/** `--extend-positions`: `no` refuses a window longer than the model's positions, `repeat` repeats them (model/extend-positions.ts). */
export const EXTEND_POSITIONS = ['no', 'repeat'] as const;
export type ExtendPositions = (typeof EXTEND_POSITIONS)[number];
export type EvalSplit = (typeof EVAL_SPLITS)[number];

export interface EvalFlags extends FastaFlags {
  checkpoint: string;
  data: string;
  split?: EvalSplit;
  seqLen?: number;
  extendPositions?: ExtendPositions;
  batch?: number;
  numHashes?: number;
  threads?: number;
  backend?: BackendKind;
}

const en = (x: number): string => x.toLocaleString('en-US');

/** The part of `tokens` to score, and the `split:` line that says which it is (`unit`: byte or token). */
function chooseSplit(
  tokens: Int32Array,
  flags: EvalFlags,
  extra: TrainExtra,
  hasState: boolean,
  unit: string,
  info: (l: string) => void,
): { part: Int32Array; split: EvalSplit; line: string } {
  const own = extra.data !== undefined && extra.data.fingerprint === fingerprint(tokens);
  const fraction = extra.validation_fraction ?? DEFAULT_VALIDATION_FRACTION;
  const pct = `${+(fraction * 100).toFixed(4)}%`;
  const split: EvalSplit = flags.split ?? (own && fraction > 0 ? 'val' : 'all');
  if (split === 'all') {
    const why = own
      ? `the whole file, including the ${plural(tokens.length - validationLength(tokens.length, fraction), unit)} the run trained on`
      : !hasState
        ? 'the whole file (the checkpoint records no training data)'
        : `the whole file (not this run's training data${extra.data ? `, ${extra.data.path}` : ''})`;
    return { part: tokens, split, line: `split: all: ${why}` };
  }
  if (fraction === 0) throw new UsageError(`--split ${split}: the run held nothing out (validation fraction 0); use --split all`);
  if (!own) {
    info(
      `note: --split ${split}: ${flags.data} is not this run's training data; splitting it as training would (the last ${pct} is "val")`,
    );
  }
  const nVal = validationLength(tokens.length, fraction);
  const part = split === 'val' ? tokens.subarray(tokens.length - nVal) : tokens.subarray(0, tokens.length - nVal);
  const which = split === 'val' ? `the held-out last ${pct}` : `the first ${+(100 - fraction * 100).toFixed(4)}% (training part)`;
  return { part, split, line: `split: ${split}: ${which} of ${own ? "the run's data" : 'the file'}, ${plural(part.length, unit)}` };
}

/** Bits per byte of the chosen split; last stdout line `bits_per_byte: <value>`. Progress and notes go to stderr. */
export async function evalCommand(flags: EvalFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const out = (l: string): void => void ctx.stdout.write(`${l}\n`);
  const {
    em: loaded,
    ck,
    tokenizer,
  } = await loadCheckpointModel(flags.checkpoint, undefined, flags.backend ?? 'auto', flags.threads, ctx, info, {
    inferenceFor: 'eval',
  });
  let em = loaded;
  if (flags.seqLen !== undefined && flags.seqLen > em.maxContext && flags.extendPositions === 'repeat') {
    em = withRepeatedPositions(em, flags.seqLen);
    info(`positions: repeated with period ${en(loaded.seqLen)} to take windows of ${en(flags.seqLen)} tokens (--extend-positions repeat)`);
  }
  const call = numHashesFlag(em, flags.numHashes);
  const extra = runExtra(ck.snapshot);
  const fasta = fastaOptionsOf(flags, extra.fasta);
  const corpus = readCorpusFile(flags.data, '--data', fasta);
  const tokens = tokenizer.encode(corpus.bytes);
  const unit = tokenizer.bytesPerToken === 1 ? 'byte' : 'token';
  const { part, split, line: splitLine } = chooseSplit(tokens, flags, extra, ck.snapshot !== null, unit, info);
  const what = split === 'all' ? flags.data : `the ${split} part of ${flags.data}`;
  if (part.length < 2) {
    throw new UsageError(
      `--data ${flags.data}: ${plural(part.length, unit)}${split === 'all' ? '' : ` in --split ${split}`}; scoring needs at least 2 (every ${unit} after the first is predicted from the ones before it)`,
    );
  }
  let seqLen = flags.seqLen ?? Math.min(em.seqLen, em.maxContext);
  if (seqLen > em.maxContext) {
    throw new UsageError(
      `--seq-len ${seqLen}: this model takes at most ${em.maxContext} tokens per window; --extend-positions repeat evaluates longer windows with the axial position table repeated (period ${em.seqLen})`,
    );
  }
  if (part.length < seqLen) {
    if (flags.seqLen !== undefined) {
      throw new UsageError(
        `--seq-len ${seqLen}: ${what} has only ${plural(part.length, unit)}, less than one window; pass --seq-len ${part.length} or less`,
      );
    }
    info(
      `note: ${what} has ${plural(part.length, unit)}, less than the model's window of ${en(seqLen)}: scoring it as one window of ${en(part.length)}`,
    );
    seqLen = part.length;
  }
  // SentencePiece: bits per byte from the whole file's bytes per token, as training reports them
  const bytesPerToken = bytesPerTokenOf(tokenizer, corpus.bytes.length, tokens.length);
  out(`model: ${em.describe()}`);
  out(`data: ${flags.data} (${corpus.summary})`);
  if (unit === 'token') {
    out(
      `tokenizer: ${tokenizer.name} (${tokenizer.vocabSize} pieces): ${en(tokens.length)} tokens, ${bytesPerToken.toFixed(3)} bytes per token`,
    );
  }
  out(splitLine);
  if (call.numHashes !== undefined) {
    const trained = (em.model as { config?: { num_hashes?: number } }).config?.num_hashes;
    out(`num_hashes: ${call.numHashes} per LSH layer${trained !== undefined ? ` (the config's: ${trained})` : ''}`);
  }
  const fastaReport = corpus.format === 'fasta' && tokenizer instanceof ByteTokenizer && logitsFit(em, seqLen, flags.batch ?? 1, info); // letters are byte ids
  let progress: TaskProgress | null = null;
  let r: EvaluateResult;
  try {
    r = evaluate(em.model, part, {
      seqLen,
      batch: flags.batch ?? 1,
      bytesPerToken,
      ...(call.numHashes !== undefined ? { numHashes: call.numHashes } : {}),
      byTarget: fastaReport,
      onProgress: (done, total) => {
        progress ??= new TaskProgress({ stream: ctx.stderr, label: 'eval', unit: 'windows', total });
        progress.update(done);
      },
    });
  } finally {
    (progress as TaskProgress | null)?.stop();
  }
  out(`windows: ${plural(r.windows, 'window')} of ${en(seqLen)} tokens; scored ${plural(r.targets, unit)}`);
  if (fastaReport && r.byTarget) reportLetters(r, fasta, out, info);
  out(`loss: ${r.loss.toFixed(6)} nats per ${unit}`);
  out(`bits_per_byte: ${r.bitsPerByte.toFixed(6)}`);
  return 0;
}

/**
 * Whether the per-letter table (which scores from the whole [batch·seqLen, vocab] logits of a window)
 * fits the backend's memory; if not, a note says it is skipped and the bits per byte are computed by the
 * streamed loss alone (the LM head in row blocks, never the whole logits).
 */
export function logitsFit(em: { model: unknown }, seqLen: number, batch: number, info: (l: string) => void): boolean {
  const m = em.model as { config?: unknown; backend?: { maxBufferBytes?: number; threads?: number } };
  const limit = m.backend?.maxBufferBytes;
  if (limit === undefined || !m.config) return true;
  const cfg = m.config as Parameters<typeof estimateMemory>[0];
  const need = estimateMemory(cfg, { batch, seqLen, mode: 'forward', materializeOutput: true, threads: m.backend?.threads ?? 1 }).bytes;
  if (need <= limit) return true;
  info(
    `note: no per-letter table at --seq-len ${en(seqLen)}: it needs each window's whole logits (${formatBytes(need)} with them, over the ${formatBytes(limit)} limit); bits per byte come from the streamed loss`,
  );
  return false;
}

/**
 * FASTA: one line per letter (count, share, bits per letter), most frequent first; a note for
 * lowercase letters and ambiguity codes left as they are, with their cost and the flag that maps them.
 */
function reportLetters(
  r: EvaluateResult,
  fasta: { case?: string; ambiguous?: string },
  out: (l: string) => void,
  info: (l: string) => void,
): void {
  const rows = [...r.byTarget!.entries()]
    .map(([id, t]) => ({ letter: String.fromCharCode(id - ByteTokenizer.OFFSET), ...t }))
    .sort((a, b) => b.count - a.count || a.letter.localeCompare(b.letter));
  out('letter      count   share  bits per letter');
  for (const x of rows) {
    out(
      `${x.letter.padEnd(6)} ${en(x.count).padStart(10)}  ${((100 * x.count) / r.targets).toFixed(1).padStart(5)}%  ${(x.nats / x.count / Math.LN2).toFixed(3)}`,
    );
  }
  const group = (pred: (c: string) => boolean): { count: number; bits: number } => {
    const g = rows.filter((x) => pred(x.letter));
    const count = g.reduce((a, x) => a + x.count, 0);
    return { count, bits: count > 0 ? g.reduce((a, x) => a + x.nats, 0) / count / Math.LN2 : 0 };
  };
  const lower = group((c) => c >= 'a' && c <= 'z');
  const ambiguous = group((c) => /[a-z]/i.test(c) && !/[acgtu]/i.test(c));
  if (lower.count > 0 && fasta.case !== 'upper') {
    info(
      `note: ${en(lower.count)} scored bases are lowercase (soft-masked repeats), ${lower.bits.toFixed(2)} bits each: the model treats them as letters of their own; --fasta-case upper folds them to uppercase (train with the same setting)`,
    );
  }
  if (ambiguous.count > 0 && fasta.ambiguous === 'keep') {
    info(
      `note: ${en(ambiguous.count)} scored bases are IUPAC ambiguity codes (N, R, Y, ...), ${ambiguous.bits.toFixed(2)} bits each; --fasta-ambiguous n writes them all as N, --fasta-ambiguous drop removes them (train with the same setting)`,
    );
  }
}
