/**
 * Passkey retrieval (Mohtashami & Jaggi 2023, "Landmark Attention", Sec. 4.2; used since as the standard
 * long-context retrieval probe): a short numeric key is planted at a random depth of filler text and
 * asked for at the end. A causal model can only answer if its attention reaches back to the key.
 *
 * Byte-level tokens (ids 0 … 255, UTF-8 bytes). One sequence of length L:
 *
 *   [filler A] " The pass key is " K ". Remember it. " K " is the pass key. " [filler B] " What is the pass key? The pass key is " K
 *   └─ depth · |filler| bytes ┘                                                                                                   └ the last n positions ┘
 *
 * with K = k₁…k_n. The planted line and the question are the ones of Mohtashami & Jaggi (their App. B
 * prompt: "The pass key is 12345. Remember it. 12345 is the pass key. … What is the pass key? The pass
 * key is"), less their opening instruction.
 *
 * The filler is a contiguous run of the corpus (the novel) from a random offset, |filler| = L − |planted|
 * − |question| − n bytes, cut into A and B at ⌊depth · |filler|⌋ (moved forward to the next UTF-8
 * character boundary, so no character is split), depth uniform in [0, 1]. The key is n digits, each
 * uniform in 0 … 9 (leading zeros allowed): 10ⁿ keys, chance 10⁻ⁿ for the whole key, 1/10 per digit.
 *
 * Scoring: only the n answer digits at the end count (labels −100 elsewhere; HF's shift: logits[t]
 * predicts token t + 1). `exactMatch` is the share of sequences with every answer digit the argmax
 * prediction; this equals greedy decoding's exact match (while every teacher-forced argmax is right, the
 * greedy prefix equals the true one; the first wrong argmax is greedy's first wrong digit), so one forward
 * per sequence scores it. `digitAccuracy` is the teacher-forced per-digit share.
 *
 * Browser-safe: takes the corpus as bytes; seeded by `Rng` (xoshiro128**).
 */
import type { Float } from '../backend/backend.js';
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import { callLogits, numHashesCall } from '../train/generate.js';
import { bytesArg, intArg, modelArg, optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { scoreSpan } from './span-score.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bytes before the planted key (a space first, so it never glues onto a filler word). */
export const PASSKEY_PLANTED_PREFIX = utf8(' The pass key is ');
/** Bytes between the planted key's two copies. */
export const PASSKEY_PLANTED_MIDDLE = utf8('. Remember it. ');
/** Bytes after the planted key's second copy. */
export const PASSKEY_PLANTED_SUFFIX = utf8(' is the pass key. ');
/** The question; the answer digits follow it and end the sequence. */
export const PASSKEY_QUESTION = utf8(' What is the pass key? The pass key is ');
/** Byte of the digit 0 ('0' = 48); digit d is token 48 + d. */
export const DIGIT_ZERO = 48;
/** Byte-level vocabulary. */
export const PASSKEY_VOCAB = 256;

/** The task's size: sequence length and key digits. */
export interface PasskeySpec {
  /** L, tokens per sequence (bytes); at least the fixed text, n digits twice and one filler byte. */
  readonly seqLen: number;
  /** n, digits of the key (1 … 9). */
  readonly digits: number;
}

/** Fixed (non-filler) tokens of a sequence: planted line (the key twice), question and answer. */
export function passkeyFixedTokens(digits: number): number {
  return (
    PASSKEY_PLANTED_PREFIX.length + PASSKEY_PLANTED_MIDDLE.length + PASSKEY_PLANTED_SUFFIX.length + PASSKEY_QUESTION.length + 3 * digits
  );
}

/** Filler bytes per sequence, L − `passkeyFixedTokens(n)`. */
export function passkeyFillerLength(spec: PasskeySpec): number {
  return spec.seqLen - passkeyFixedTokens(spec.digits);
}

/** @throws ConfigError('digits' / 'seq_len') naming the field and the allowed values. */
export function checkPasskeySpec(spec: PasskeySpec): void {
  optionsArg('checkPasskeySpec', spec, '{ seqLen: 1024, digits: 5 }', false);
  if (!Number.isSafeInteger(spec.digits) || spec.digits < 1 || spec.digits > 9) {
    throw new ConfigError('digits', `must be an integer in 1 … 9 (key digits), got ${spec.digits}`);
  }
  const fixed = passkeyFixedTokens(spec.digits);
  if (!Number.isSafeInteger(spec.seqLen) || spec.seqLen <= fixed) {
    throw new ConfigError(
      'seq_len',
      `must be an integer > ${fixed} (the planted line, the question and ${spec.digits} digits twice take ${fixed} tokens), got ${spec.seqLen}`,
    );
  }
}

/** Where the key went in one generated sequence. */
export interface PasskeyPlacement {
  /** The key's digits, 0 … 9 each. */
  readonly key: readonly number[];
  /** Position of the first planted digit (of the first copy). */
  readonly keyPosition: number;
  /** The requested depth in [0, 1]: share of the filler before the planted line (before the boundary fix). */
  readonly depth: number;
  /** Positions from the first planted digit to the first answer digit (what attention must reach). */
  readonly distance: number;
}

/** Options of `writePasskeySequence`: fix the depth, key or filler offset instead of drawing them. */
export interface PasskeyDraw {
  readonly depth?: number;
  readonly key?: readonly number[];
  readonly fillerOffset?: number;
}

/**
 * One passkey sequence into `out` at `offset` (`out` must hold L tokens from there). Draws, in order:
 * the filler offset (`rng.int(|corpus| − |filler| + 1)`), the depth (`rng.uniform()`), the n digits
 * (`rng.int(10)` each); a value given in `draw` skips its draw.
 * @param corpus the filler text as bytes, at least |filler| = `passkeyFillerLength(spec)` long
 * @throws ConfigError for a bad spec, a corpus shorter than the filler, a depth outside [0, 1] or a
 *   key that is not n digits; ShapeError if `out` is too short.
 */
export function writePasskeySequence(
  rng: Rng,
  corpus: Uint8Array,
  spec: PasskeySpec,
  out: Int32Array,
  offset = 0,
  draw: PasskeyDraw = {},
): PasskeyPlacement {
  checkPasskeySpec(spec);
  bytesArg('writePasskeySequence', 'corpus', corpus);
  const L = spec.seqLen;
  const n = spec.digits;
  const F = passkeyFillerLength(spec);
  if (corpus.length < F) {
    throw new ConfigError('corpus', `has ${corpus.length} bytes, fewer than the ${F} filler bytes a sequence of ${L} needs`);
  }
  if (!(out instanceof Int32Array) || out.length < offset + L) {
    throw new ShapeError(`writePasskeySequence: out must be an Int32Array with ${L} tokens from offset ${offset}, got ${out?.length}`);
  }
  const start = draw.fillerOffset ?? rng.int(corpus.length - F + 1);
  if (!Number.isSafeInteger(start) || start < 0 || start + F > corpus.length) {
    throw new ConfigError('filler_offset', `must be an integer in 0 … ${corpus.length - F}, got ${start}`);
  }
  const depth = draw.depth ?? rng.uniform();
  if (!(depth >= 0 && depth <= 1)) throw new ConfigError('depth', `must be in [0, 1], got ${depth}`);
  const key = draw.key ?? Array.from({ length: n }, () => rng.int(10));
  if (key.length !== n || !key.every((d) => Number.isInteger(d) && d >= 0 && d <= 9)) {
    throw new ConfigError('key', `must be ${n} digits 0 … 9, got [${key.join(', ')}]`);
  }
  const filler = corpus.subarray(start, start + F);
  let cut = Math.floor(depth * F);
  while (cut < F && (filler[cut]! & 0xc0) === 0x80) cut++; // not inside a UTF-8 character
  let p = offset;
  const put = (bytes: ArrayLike<number>): void => {
    for (let i = 0; i < bytes.length; i++) out[p++] = bytes[i]!;
  };
  const digits = key.map((d) => DIGIT_ZERO + d);
  put(filler.subarray(0, cut));
  put(PASSKEY_PLANTED_PREFIX);
  const keyPosition = p - offset;
  put(digits);
  put(PASSKEY_PLANTED_MIDDLE);
  put(digits);
  put(PASSKEY_PLANTED_SUFFIX);
  put(filler.subarray(cut));
  put(PASSKEY_QUESTION);
  put(digits);
  return { key, keyPosition, depth, distance: L - n - keyPosition };
}

/**
 * `[batch, L]` labels: the input ids at the last n positions (the answer digits), −100 elsewhere.
 * @throws ShapeError if `inputIds` is not `batch` whole sequences.
 */
export function passkeyLabels(inputIds: Int32Array, batch: number, spec: PasskeySpec): Int32Array {
  const L = spec.seqLen;
  if (!(inputIds instanceof Int32Array) || inputIds.length !== batch * L) {
    throw new ShapeError(`passkeyLabels: inputIds must be an Int32Array of ${batch}×${L} ids, got ${inputIds?.length} ids`);
  }
  const labels = new Int32Array(inputIds.length).fill(-100);
  for (let b = 0; b < batch; b++) {
    const end = (b + 1) * L;
    labels.set(inputIds.subarray(end - spec.digits, end), end - spec.digits);
  }
  return labels;
}

/** `count` fresh sequences from `rng` as a batch with `passkeyLabels`, and where each key went. */
export function passkeyBatch(
  rng: Rng,
  corpus: Uint8Array,
  spec: PasskeySpec,
  count: number,
): { batch: TokenBatch; placements: PasskeyPlacement[] } {
  checkPasskeySpec(spec);
  intArg('passkeyBatch', 'count', count, 1);
  const L = spec.seqLen;
  const inputIds = new Int32Array(count * L);
  const placements: PasskeyPlacement[] = [];
  for (let b = 0; b < count; b++) placements.push(writePasskeySequence(rng, corpus, spec, inputIds, b * L));
  return {
    batch: { inputIds, batch: count, seqLen: L, attentionMask: null, labels: passkeyLabels(inputIds, count, spec) },
    placements,
  };
}

/** Counts of scored sequences (sums, so batches add up). */
export interface PasskeyTally {
  sequences: number;
  /** Sequences with every answer digit right (= greedy exact match, see the file header). */
  exact: number;
  /** Answer digits scored (n per sequence) and right (argmax, teacher-forced). */
  digits: number;
  digitsCorrect: number;
  /** Σ −log p(answer digit), nats (float64 log-softmax). */
  nats: number;
  /** Sequences whose key lies within `near` positions of the answer, and how many of those were exact. */
  nearSequences: number;
  nearExact: number;
}

/** An empty tally. */
export function emptyPasskeyTally(): PasskeyTally {
  return { sequences: 0, exact: 0, digits: 0, digitsCorrect: 0, nats: 0, nearSequences: 0, nearExact: 0 };
}

/**
 * Adds the scores of the answer digits of `inputIds` under `logits` to `tally`: target position p
 * (the last n) is predicted by logits row p − 1; ties of the argmax go to the lowest id.
 * @param logits `[batch, L, vocab]`
 * @param inputIds `[batch, L]` passkey sequences
 * @param distances per sequence, `PasskeyPlacement.distance`; with `near`, sequences at distance ≤ near are also counted apart
 * @throws ShapeError if the sizes disagree.
 */
export function scorePasskey(
  logits: ArrayLike<number>,
  inputIds: Int32Array,
  batch: number,
  spec: PasskeySpec,
  vocab: number,
  tally: PasskeyTally = emptyPasskeyTally(),
  near?: { distances: readonly number[]; within: number },
): PasskeyTally {
  const L = spec.seqLen;
  if (inputIds.length !== batch * L || logits.length !== batch * L * vocab) {
    throw new ShapeError(
      `scorePasskey: expected ${batch}×${L} ids and ${batch}×${L}×${vocab} logits, got ${inputIds.length} ids and ${logits.length} logits`,
    );
  }
  if (near && near.distances.length !== batch) {
    throw new ShapeError(`scorePasskey: near.distances must have ${batch} entries, got ${near.distances.length}`);
  }
  for (let b = 0; b < batch; b++) {
    const { nats, targets, correct, allRight } = scoreSpan(logits, inputIds, b, L, L - spec.digits, vocab, tally.nats);
    tally.nats = nats;
    tally.digits += targets;
    tally.digitsCorrect += correct;
    tally.sequences++;
    if (allRight) tally.exact++;
    if (near && near.distances[b]! <= near.within) {
      tally.nearSequences++;
      if (allRight) tally.nearExact++;
    }
  }
  return tally;
}

/** Options of `evaluatePasskey`. */
export interface PasskeyEvalOptions {
  /** Sequences to score. Default 64. */
  readonly sequences?: number;
  /** Sequences per forward. Default 1. */
  readonly batch?: number;
  /** Seed of the evaluation sequences (the same set for every model). Default 12345. */
  readonly seed?: number;
  /** Hash rounds of every LSH layer for this evaluation (HF's per-call `num_hashes`). */
  readonly numHashes?: number;
  /** Also count the sequences whose key lies within this many positions of the answer (a window's reach). */
  readonly nearWithin?: number;
  /** Called after each forward with sequences done and total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Result of `evaluatePasskey`. */
export interface PasskeyResult {
  /** Share of sequences whose whole key comes out of greedy decoding, in [0, 1]. */
  readonly exactMatch: number;
  /** Share of answer digits predicted right (teacher-forced argmax). */
  readonly digitAccuracy: number;
  /** Mean −log p over the answer digits, nats. */
  readonly loss: number;
  readonly sequences: number;
  /** 10⁻ⁿ: a uniform guess of the whole key. */
  readonly chance: number;
  /** With `nearWithin`: the sequences whose key was that close, and their exact match (null if none). */
  readonly near: { readonly within: number; readonly sequences: number; readonly exactMatch: number | null } | null;
}

/**
 * Exact match and per-digit accuracy of `model` on fresh passkey sequences over `corpus` (evaluation
 * mode: `model.logits`, no dropout), scored on the answer digits only (see the file header).
 * @throws ConfigError for bad options or spec, a model with fewer than 256 token ids or a numHashes
 *   that does not fit (`numHashesCall`); NumericalError if the loss is not finite.
 */
export function evaluatePasskey(
  model: CausalLanguageModel,
  corpus: Uint8Array,
  spec: PasskeySpec,
  options: PasskeyEvalOptions = {},
): PasskeyResult {
  modelArg('evaluatePasskey', model, ['logits']);
  checkPasskeySpec(spec);
  const o = optionsArg<PasskeyEvalOptions>('evaluatePasskey', options, '{ sequences: 64, batch: 1 }');
  const total = o.sequences ?? 64;
  const per = o.batch ?? 1;
  intArg('evaluatePasskey', 'sequences', total, 1);
  intArg('evaluatePasskey', 'batch', per, 1);
  if (o.nearWithin !== undefined) intArg('evaluatePasskey', 'nearWithin', o.nearWithin, 0);
  if (model.vocabSize < PASSKEY_VOCAB) {
    throw new ConfigError('vocab_size', `the model has ${model.vocabSize} token ids; byte-level passkey sequences need ${PASSKEY_VOCAB}`);
  }
  const call = numHashesCall(model, o.numHashes, 'evaluatePasskey: numHashes');
  const rng = new Rng(o.seed ?? 12345);
  const tally = emptyPasskeyTally();
  for (let done = 0; done < total; ) {
    const n = Math.min(per, total - done);
    const { batch, placements } = passkeyBatch(rng, corpus, spec, n);
    const near = o.nearWithin === undefined ? undefined : { distances: placements.map((x) => x.distance), within: o.nearWithin };
    model.backend.scope(() => {
      const logits: Float = callLogits(model, batch, call);
      scorePasskey(logits, batch.inputIds, n, spec, model.vocabSize, tally, near);
    });
    done += n;
    o.onProgress?.(done, total);
  }
  const loss = tally.nats / tally.digits;
  if (!Number.isFinite(loss)) throw new NumericalError(`evaluatePasskey: the loss is ${loss} over ${tally.digits} digits`);
  return {
    exactMatch: tally.exact / tally.sequences,
    digitAccuracy: tally.digitsCorrect / tally.digits,
    loss,
    sequences: tally.sequences,
    chance: 10 ** -spec.digits,
    near:
      o.nearWithin === undefined
        ? null
        : {
            within: o.nearWithin,
            sequences: tally.nearSequences,
            exactMatch: tally.nearSequences > 0 ? tally.nearExact / tally.nearSequences : null,
          },
  };
}
