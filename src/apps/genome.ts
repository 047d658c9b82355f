/**
 * The genome task (issue 15): a base-level causal LM on a bacterial chromosome, scored in bits per base
 * on a held-out region against an order-k Markov baseline (apps/genome-markov.ts) and against 2.0 (the
 * uniform distribution over A, C, G, T), then on another genome (transfer), and at several evaluation
 * contexts. Browser-safe: bytes and token arrays in, numbers out (the CLI is src/node/cli/apps/genome.ts).
 *
 * Tokens (`baseTokens`): the FASTA sequence (train/corpus.ts `prepareCorpus`, case folded to upper) as
 * ids A 0, C 1, G 2, T 3 (U = T), N 4 for every other letter (IUPAC ambiguity codes). A 5-id vocabulary
 * instead of the 258 byte ids: the same letters, a 50× smaller LM head. N targets are not scored.
 *
 * Split (`genomeSplit`), of the n bases in file order:
 *   held-out  = the last ⌈heldOutFraction·n⌉ bases            (default 10%: the test region, scored once)
 *   training region = the rest, of which
 *     validation = its last ⌈validationFraction·m⌉ bases     (default 10% of it: choosing Markov's k,
 *                                                              and the model's validation curve)
 *     train      = the first bases                           (both the model and the Markov counts)
 * Contiguous regions, not random windows: nearby bases are correlated (genes, operons, repeats), and a
 * random split would leak them into the test.
 *
 * Evaluation windows (`genomeEvalWindows`) at context C over a region of n bases: windows of C bases with
 * stride C/2; the first window scores its bases 1…C−1, every later one only its last C/2 bases, so each
 * scored base sees between C/2 and C−1 bases before it (the first C/2 of the region fewer), and every base
 * but the region's first is scored exactly once. A tail window flush with the end scores what is left.
 * A region shorter than C is one window of n (its context is then n, e.g. lambda's 48,502 < 64K).
 */
import type { ReformerConfigInput } from '../config/fields.js';
import { ConfigError, FormatError, NumericalError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import { bytesArg, int32Arg, intArg, modelArg } from '../util/args.js';
import { smallModelConfig } from './small-model.js';

/** Token id → letter. */
export const GENOME_BASES = ['A', 'C', 'G', 'T', 'N'] as const;
/** Vocabulary of the genome LM (A, C, G, T, N). */
export const GENOME_VOCAB = GENOME_BASES.length;
/** The id of N (any letter other than A, C, G, T, U). */
export const BASE_N = 4;

/**
 * Base tokens of a FASTA sequence.
 * @param sequence `[n]` sequence bytes (FASTA headers and line breaks removed, e.g. `prepareCorpus(...).bytes`).
 * @returns `[n]` ids 0…4 (A, C, G, T/U, N for any other letter; either case).
 * @throws ShapeError unless a Uint8Array; FormatError for a byte that is not a letter (gaps `-`, `.`, stops `*`),
 *   naming its position.
 */
export function baseTokens(sequence: Uint8Array): Int32Array {
  bytesArg('baseTokens', 'sequence', sequence);
  const ids = new Int32Array(sequence.length);
  for (let i = 0; i < sequence.length; i++) {
    const b = sequence[i]! & 0xdf; // upper case
    if (b === 0x41) ids[i] = 0;
    else if (b === 0x43) ids[i] = 1;
    else if (b === 0x47) ids[i] = 2;
    else if (b === 0x54 || b === 0x55) ids[i] = 3;
    else if (b >= 0x41 && b <= 0x5a) ids[i] = BASE_N;
    else {
      throw new FormatError(
        `base ${i}: ${JSON.stringify(String.fromCharCode(sequence[i]!))} is not a nucleotide letter (gaps and stops are not genome bases; write unknown bases as N)`,
      );
    }
  }
  return ids;
}

/** A half-open range of base positions [start, end). */
export interface BaseRange {
  readonly start: number;
  readonly end: number;
}

/** The three contiguous regions (see the file header). */
export interface GenomeSplit {
  readonly train: BaseRange;
  readonly validation: BaseRange;
  readonly heldOut: BaseRange;
}

/**
 * The train / validation / held-out split of n bases (see the file header).
 * @param heldOutFraction of n, in (0, 1) (default 0.1); @param validationFraction of the training region, in [0, 1) (default 0.1).
 * @throws ConfigError naming the fraction out of range, or when a region would be shorter than `minBases`.
 */
export function genomeSplit(n: number, heldOutFraction = 0.1, validationFraction = 0.1, minBases = 2): GenomeSplit {
  intArg('genomeSplit', 'bases', n, 0);
  if (!(heldOutFraction > 0 && heldOutFraction < 1)) {
    throw new ConfigError('held_out_fraction', `must be in (0, 1), got ${heldOutFraction}`);
  }
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new ConfigError('validation_fraction', `must be in [0, 1), got ${validationFraction}`);
  }
  const held = Math.ceil(heldOutFraction * n);
  const m = n - held;
  const val = Math.ceil(validationFraction * m);
  const split = { train: { start: 0, end: m - val }, validation: { start: m - val, end: m }, heldOut: { start: m, end: n } };
  for (const [name, r] of Object.entries(split)) {
    if (r.end - r.start < minBases && !(name === 'validation' && validationFraction === 0)) {
      throw new ConfigError(
        'bases',
        `${n} bases split ${heldOutFraction} held out / ${validationFraction} validation leave ${r.end - r.start} for ${name}, fewer than ${minBases}; use a longer genome`,
      );
    }
  }
  return split;
}

/** One evaluation window: `length` bases from `start`, scoring window positions ≥ `firstCounted`. */
export interface GenomeWindow {
  readonly start: number;
  readonly length: number;
  readonly firstCounted: number;
}

/**
 * The windows of context C over n bases (see the file header): every position 1…n−1 is counted once.
 * @throws ConfigError for C < 2 or n < 2.
 */
export function genomeEvalWindows(n: number, context: number): GenomeWindow[] {
  intArg('genomeEvalWindows', 'bases', n, 2);
  intArg('genomeEvalWindows', 'context', context, 2);
  if (n <= context) return [{ start: 0, length: n, firstCounted: 1 }];
  const stride = Math.floor(context / 2);
  const windows: GenomeWindow[] = [{ start: 0, length: context, firstCounted: 1 }];
  let scored = context; // positions < scored are counted
  let start = stride;
  while (start + context <= n) {
    windows.push({ start, length: context, firstCounted: scored - start });
    scored = start + context;
    start += stride;
  }
  if (scored < n) windows.push({ start: n - context, length: context, firstCounted: scored - (n - context) });
  return windows;
}

export interface GenomeEvalOptions {
  /** Window length C (bases), ≥ 2. */
  context: number;
  /** Bases per forward pass: windows are batched up to this many (default 65536, at least one window). */
  tokensPerForward?: number;
  /** Called after each forward pass with bases scored so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface GenomeEvalResult {
  readonly bitsPerBase: number;
  /** Bases scored (positions 1…n−1 that are not N). */
  readonly targets: number;
  readonly windows: number;
  /** The window length used: min(context, n). */
  readonly context: number;
}

/**
 * Bits per base of a region under a causal LM on base tokens (`model.loss` in evaluation mode, labels −100
 * on positions a window does not count and on N targets), windows as in the file header.
 * @param region `[n]` base tokens (n ≥ 2).
 * @throws ShapeError unless an Int32Array; ConfigError for a bad context; NumericalError for a non-finite loss.
 */
export function evaluateGenome(model: CausalLanguageModel, region: Int32Array, options: GenomeEvalOptions): GenomeEvalResult {
  modelArg('evaluateGenome', model, ['loss']);
  int32Arg('evaluateGenome', 'region', region);
  const windows = genomeEvalWindows(region.length, options.context);
  const L = windows[0]!.length;
  const perForward = Math.max(1, Math.floor((options.tokensPerForward ?? 65536) / L));
  const total = windows.reduce((s, w) => s + w.length - w.firstCounted, 0);
  let nats = 0;
  let targets = 0;
  let done = 0;
  for (let w0 = 0; w0 < windows.length; w0 += perForward) {
    const group = windows.slice(w0, w0 + perForward);
    const inputIds = new Int32Array(group.length * L);
    const labels = new Int32Array(group.length * L);
    group.forEach((w, b) => {
      const ids = region.subarray(w.start, w.start + L);
      inputIds.set(ids, b * L);
      for (let p = 0; p < L; p++) labels[b * L + p] = p < w.firstCounted || ids[p] === BASE_N ? -100 : ids[p]!;
      done += L - w.firstCounted;
    });
    const batch: TokenBatch = { inputIds, batch: group.length, seqLen: L, attentionMask: null, labels };
    const r = model.backend.scope(() => model.loss(batch));
    if (r.tokens > 0) {
      if (!Number.isFinite(r.loss)) {
        throw new NumericalError(`genome evaluation, context ${L}, windows ${w0 + 1}…${w0 + group.length}: the loss is ${r.loss}`);
      }
      nats += r.loss * r.tokens;
      targets += r.tokens;
    }
    options.onProgress?.(done, total);
  }
  return { bitsPerBase: nats / targets / Math.LN2, targets, windows: windows.length, context: L };
}

/** The genome LM's shape (the CLI's flags). */
export interface GenomeModelSpec {
  /** d_model (even: the two axial halves). */
  readonly hidden: number;
  readonly heads: number;
  readonly feedForward: number;
  /** e.g. ['local', 'lsh']. */
  readonly layers: readonly ('local' | 'lsh')[];
  /** Both local_attn_chunk_length and lsh_attn_chunk_length. */
  readonly chunk: number;
  /** Training window = Π axial_pos_shape (HF trains on exactly that length); evaluation takes ≤ it. */
  readonly seqLen: number;
  readonly numHashes: number;
}

/** Two factors of n, the first the largest power of two ≤ √n that divides it (65536 → [256, 256]). */
export function axialFactors(n: number): [number, number] {
  intArg('axialFactors', 'seq_len', n, 1);
  let a = 1;
  while (n % (a * 2) === 0 && a * 2 * (a * 2) <= n) a *= 2;
  return [a, n / a];
}

/**
 * The HF `ReformerConfig` fields of the genome LM: a causal (decoder) Reformer over the 5 base ids with
 * local and LSH layers (one chunk back, none ahead), axial position embeddings covering `seqLen`, no
 * dropout, `num_buckets` by HF's rule from the training length.
 * @throws ConfigError naming the field (hidden odd, chunk not dividing seqLen, ...).
 */
export function genomeModelConfig(spec: GenomeModelSpec): ReformerConfigInput {
  for (const [k, v] of Object.entries({
    hidden: spec.hidden,
    heads: spec.heads,
    feedForward: spec.feedForward,
    chunk: spec.chunk,
    seqLen: spec.seqLen,
    numHashes: spec.numHashes,
  })) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(k, `must be a positive integer, got ${v}`);
  }
  if (spec.hidden % 2 !== 0) throw new ConfigError('hidden', `must be even (axial embeddings split it in two), got ${spec.hidden}`);
  if (spec.hidden % spec.heads !== 0) throw new ConfigError('heads', `${spec.heads} does not divide hidden ${spec.hidden}`);
  if (spec.seqLen % spec.chunk !== 0) throw new ConfigError('chunk', `${spec.chunk} does not divide the training length ${spec.seqLen}`);
  if (spec.layers.length === 0 || spec.layers.some((l) => l !== 'local' && l !== 'lsh')) {
    throw new ConfigError('layers', `must be a non-empty list of local / lsh, got ${JSON.stringify(spec.layers)}`);
  }
  return smallModelConfig({
    vocabSize: GENOME_VOCAB,
    padTokenId: BASE_N, // only pads an evaluation window that is not a multiple of the chunk (causal: never read)
    hidden: spec.hidden,
    heads: spec.heads,
    feedForward: spec.feedForward,
    attnLayers: spec.layers,
    localChunk: spec.chunk,
    lshChunk: spec.chunk,
    numHashes: spec.numHashes,
    numBuckets: null,
    maxPositions: spec.seqLen,
    axialShape: axialFactors(spec.seqLen),
    axialNormStd: 0.02,
    initializerRange: 0.02,
    unchunked: true,
  });
}
