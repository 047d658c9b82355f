/**
 * Evaluation: bits per byte of a whole token stream, with full-length context windows.
 *
 * Windows. The model sees windows of exactly `seqLen` tokens. Window i starts at i·(seqLen − 1), so
 * consecutive windows share one token: the last token of a window, scored there, is the first
 * (context-only) token of the next. Each window scores its seqLen − 1 targets (logits[t] predicts token
 * t + 1), so the targets of the windows do not overlap and every token except the first of the stream is
 * scored exactly once.
 *
 * Tail. When the remaining targets do not fill a window, one more window is placed flush with the end
 * of the stream (start = tokens − seqLen), still full length, and only its targets that no earlier
 * window scored are counted (the others get label −100). So nothing is dropped, nothing is padded, and
 * nothing is counted twice: `targets = tokens − 1`.
 *
 * Window length. `seqLen` defaults to the longest input the model takes (`modelMaxContext`: a
 * `ReformerModelWithLMHead` reports it), or the whole stream when that is shorter, so a text longer
 * than the model's window is scored in windows, as `reformer eval` does. A model that does not report
 * its longest input needs `seqLen`; a `seqLen` longer than what the model takes is a ConfigError.
 *
 * Per-target report (`byTarget`): the loss of every target token is also summed by token id (from the
 * logits, in float64), e.g. to see which letters of a DNA file cost the most bits.
 *
 * Units. `loss` is the mean negative log-likelihood in nats per target token; bits per token =
 * loss / ln 2. For the byte-level tokenizer (one token = one byte) that is bits per byte; for another
 * tokenizer pass its `bytesPerToken`.
 */
import { ConfigError, NumericalError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import { intArg, int32Arg, modelArg, optionsArg } from '../util/args.js';
import { callLogits, callLoss, modelMaxContext, numHashesCall, type ModelCallOptions } from './generate.js';

export interface EvaluateOptions {
  /**
   * Window length in tokens (≥ 2). Default: the longest input the model takes (`modelMaxContext`), or
   * the stream's length when that is shorter; required for a model that does not report it.
   */
  seqLen?: number;
  /** Windows per forward pass. Default 1. */
  batch?: number;
  /**
   * Score only the first `maxWindows` windows (the tail window counts as one): a cheaper estimate for
   * periodic validation during training. Default: the whole stream.
   */
  maxWindows?: number;
  /** Bytes of text per token. Default 1 (byte tokenizer). */
  bytesPerToken?: number;
  /** Hash rounds of every LSH layer instead of the config's `num_hashes` (HF's per-call value; `ReformerModelWithLMHead` only). */
  numHashes?: number;
  /** Also sum the loss by target token id (`EvaluateResult.byTarget`); uses `model.logits`. Default false. */
  byTarget?: boolean;
  /** Called after each forward pass with windows done and total. */
  onProgress?: (done: number, total: number) => void;
}

/** Loss of the targets with one token id (`EvaluateResult.byTarget`). */
export interface TargetLoss {
  /** Targets with this id scored. */
  readonly count: number;
  /** Sum of their negative log-likelihoods, nats. */
  readonly nats: number;
}

export interface EvaluateResult {
  /** Mean negative log-likelihood, nats per target token. */
  readonly loss: number;
  /** loss / ln 2 / bytesPerToken: bits per byte. */
  readonly bitsPerByte: number;
  /** Target tokens scored (tokens − 1 for a whole stream). */
  readonly targets: number;
  /** Windows run (including the tail window). */
  readonly windows: number;
  /** Window length used, tokens. */
  readonly seqLen: number;
  /** With `byTarget`: the loss per target token id (ids that occur as targets only); else null. */
  readonly byTarget: ReadonlyMap<number, TargetLoss> | null;
}

/** One evaluation window: start offset in the stream, and the first window position whose target counts. */
interface Window {
  readonly start: number;
  /** Targets at window positions < firstCounted are masked (label −100). */
  readonly firstCounted: number;
}

/** The windows covering `tokens` (see the file header); at most `maxWindows` of them, the tail window included. */
export function evaluationWindows(tokens: number, seqLen: number, maxWindows = Infinity): Window[] {
  intArg('evaluationWindows', 'tokens', tokens, 0);
  intArg('evaluationWindows', 'seq_len', seqLen, 2);
  const stride = seqLen - 1;
  const full = Math.floor((tokens - 1) / stride);
  const windows: Window[] = [];
  for (let i = 0; i < Math.min(full, maxWindows); i++) windows.push({ start: i * stride, firstCounted: 1 });
  const scored = full * stride; // targets 1 .. scored are covered
  if (windows.length === full && windows.length < maxWindows && scored < tokens - 1) {
    const start = tokens - seqLen;
    // window position j predicts the token at start + j; it counts if start + j > scored
    windows.push({ start, firstCounted: scored + 1 - start });
  }
  return windows;
}

/** The resolved options of `evaluate` (checked in the order a caller should hear about problems). */
function resolveEvaluate(
  model: CausalLanguageModel,
  tokens: Int32Array,
  options: EvaluateOptions | undefined,
): { seqLen: number; batch: number; maxWindows: number; call: ModelCallOptions; o: EvaluateOptions } {
  modelArg('evaluate', model, ['loss']);
  int32Arg('evaluate', 'tokens', tokens);
  const o = optionsArg<EvaluateOptions>('evaluate', options, '{ seqLen: 1024, batch: 1 }');
  const batch = o.batch ?? 1;
  if (!Number.isSafeInteger(batch) || batch <= 0) throw new ConfigError('batch', `must be a positive integer, got ${batch}`);
  const maxWindows = o.maxWindows ?? Infinity;
  if (maxWindows !== Infinity && (!Number.isSafeInteger(maxWindows) || maxWindows <= 0)) {
    throw new ConfigError('max_windows', `must be a positive integer, got ${maxWindows}`);
  }
  if (o.bytesPerToken !== undefined && !(typeof o.bytesPerToken === 'number' && o.bytesPerToken > 0 && Number.isFinite(o.bytesPerToken))) {
    throw new ConfigError('bytes_per_token', `must be a positive number, got ${o.bytesPerToken}`);
  }
  if (o.byTarget && typeof (model as { logits?: unknown }).logits !== 'function') {
    throw new ConfigError('by_target', 'evaluate: byTarget needs a model with logits()');
  }
  const call = numHashesCall(model, o.numHashes, 'evaluate: numHashes');
  const max = modelMaxContext(model);
  if (tokens.length < 2) {
    throw new ConfigError('tokens', `evaluate needs at least 2 tokens (every token after the first is predicted), got ${tokens.length}`);
  }
  let seqLen: number;
  if (o.seqLen === undefined) {
    if (max === null) {
      throw new ConfigError(
        'seq_len',
        'is required for this model: it does not report the longest input it takes (only a ReformerModelWithLMHead does); pass seqLen, e.g. the length it was trained on',
      );
    }
    seqLen = Math.min(max, tokens.length);
  } else {
    seqLen = o.seqLen;
    if (!Number.isSafeInteger(seqLen) || seqLen < 2)
      throw new ConfigError('seq_len', `evaluation needs windows of at least 2 tokens, got ${seqLen}`);
    if (max !== null && seqLen > max) {
      throw new ConfigError(
        'seq_len',
        `${seqLen} is longer than the ${max} tokens this model takes; leave seqLen out to score the stream in windows of ${Math.min(max, tokens.length)}`,
      );
    }
    if (tokens.length < seqLen) {
      throw new ConfigError(
        'seq_len',
        `the stream has ${tokens.length} tokens, fewer than one window of ${seqLen}; lower seq_len (or leave it out) or use more data`,
      );
    }
  }
  return { seqLen, batch, maxWindows, call, o };
}

/**
 * Bits per byte of `tokens` under `model` in evaluation mode (`model.loss`, no gradients; with
 * `byTarget`, `model.logits`).
 * @param tokens `[tokens]` token ids of the whole stream (at least 2).
 * @param options all optional for a `ReformerModelWithLMHead` (see `EvaluateOptions`).
 * @throws ConfigError('model' / 'options') for arguments of the wrong kind, ShapeError for tokens that
 *   are not an Int32Array; ConfigError if seqLen < 2, is longer than the model takes, or is required
 *   and missing, batch or maxWindows is not a positive integer, the stream is shorter than the window
 *   or than 2 tokens, or numHashes does not fit the model; NumericalError if a window's loss is not
 *   finite (naming the windows, and what the model reports as not finite, e.g. a damaged weight).
 */
export function evaluate(model: CausalLanguageModel, tokens: Int32Array, options?: EvaluateOptions): EvaluateResult {
  const { seqLen, batch: batchSize, maxWindows, call, o } = resolveEvaluate(model, tokens, options);
  const windows = evaluationWindows(tokens.length, seqLen, maxWindows);
  const byTarget = o.byTarget ? new Map<number, { count: number; nats: number }>() : null;
  let nats = 0;
  let targets = 0;
  for (let w0 = 0; w0 < windows.length; w0 += batchSize) {
    const group = windows.slice(w0, w0 + batchSize);
    const inputIds = new Int32Array(group.length * seqLen);
    let labels: Int32Array | null = null;
    group.forEach((w, b) => {
      inputIds.set(tokens.subarray(w.start, w.start + seqLen), b * seqLen);
    });
    if (group.some((w) => w.firstCounted > 1)) {
      labels = inputIds.slice();
      group.forEach((w, b) => {
        labels!.fill(-100, b * seqLen, b * seqLen + w.firstCounted);
      });
    }
    const batch: TokenBatch = { inputIds, batch: group.length, seqLen, attentionMask: null, labels };
    try {
      if (byTarget) {
        const r = model.backend.scope(() => scoreFromLogits(model, batch, group, call, byTarget));
        if (r.targets > 0 && !Number.isFinite(r.nats)) throw new NumericalError(`the loss is ${r.nats / r.targets}`);
        nats += r.nats;
        targets += r.targets;
      } else {
        const r = model.backend.scope(() => callLoss(model, batch, call));
        if (r.tokens > 0 && !Number.isFinite(r.loss)) throw new NumericalError(`the loss is ${r.loss}`);
        if (r.tokens > 0) {
          nats += r.loss * r.tokens;
          targets += r.tokens;
        }
      }
    } catch (e) {
      if (e instanceof NumericalError) {
        const a = group[0]!.start;
        const b = group[group.length - 1]!.start + seqLen - 1;
        throw new NumericalError(
          `evaluation, windows ${w0 + 1}…${w0 + group.length} of ${windows.length} (tokens ${a}…${b}): ${e.message}`,
        );
      }
      throw e;
    }
    o.onProgress?.(Math.min(w0 + batchSize, windows.length), windows.length);
  }
  const loss = nats / targets;
  return { loss, bitsPerByte: loss / Math.LN2 / (o.bytesPerToken ?? 1), targets, windows: windows.length, seqLen, byTarget };
}

/** −log p of every counted target of `batch` from the logits (float64), summed overall and by target id. */
function scoreFromLogits(
  model: CausalLanguageModel,
  batch: TokenBatch,
  group: readonly Window[],
  call: ModelCallOptions,
  byTarget: Map<number, { count: number; nats: number }>,
): { nats: number; targets: number } {
  const V = model.vocabSize;
  const L = batch.seqLen;
  const logits = callLogits(model, batch, call);
  let nats = 0;
  let targets = 0;
  group.forEach((w, b) => {
    for (let p = Math.max(1, w.firstCounted); p < L; p++) {
      const target = batch.inputIds[b * L + p]!;
      const row = (b * L + p - 1) * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) max = Math.max(max, logits[row + j]!);
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j]! - max);
      const nll = max + Math.log(sum) - logits[row + target]!;
      nats += nll;
      targets++;
      const t = byTarget.get(target);
      if (t) {
        t.count++;
        t.nats += nll;
      } else byTarget.set(target, { count: 1, nats: nll });
    }
  });
  return { nats, targets };
}
