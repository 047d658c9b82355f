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
 * Units. `loss` is the mean negative log-likelihood in nats per target token; bits per token =
 * loss / ln 2. For the byte-level tokenizer (one token = one byte) that is bits per byte; for another
 * tokenizer pass its `bytesPerToken`.
 */
import { ConfigError, NumericalError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';

export interface EvaluateOptions {
  /** Window length in tokens (≥ 2): the model's training length. */
  seqLen: number;
  /** Windows per forward pass. Default 1. */
  batch?: number;
  /**
   * Score only the first `maxWindows` full windows (no tail window): a cheaper estimate for periodic
   * validation during training. Default: the whole stream.
   */
  maxWindows?: number;
  /** Bytes of text per token. Default 1 (byte tokenizer). */
  bytesPerToken?: number;
  /** Called after each forward pass with windows done and total. */
  onProgress?: (done: number, total: number) => void;
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
}

/** One evaluation window: start offset in the stream, and the first window position whose target counts. */
interface Window {
  readonly start: number;
  /** Targets at window positions < firstCounted are masked (label −100). */
  readonly firstCounted: number;
}

/** The windows covering `tokens` (see the file header). */
export function evaluationWindows(tokens: number, seqLen: number, maxWindows = Infinity): Window[] {
  const stride = seqLen - 1;
  const full = Math.floor((tokens - 1) / stride);
  const windows: Window[] = [];
  for (let i = 0; i < Math.min(full, maxWindows); i++) windows.push({ start: i * stride, firstCounted: 1 });
  const scored = full * stride; // targets 1 .. scored are covered
  if (maxWindows >= full && scored < tokens - 1) {
    const start = tokens - seqLen;
    // window position j predicts the token at start + j; it counts if start + j > scored
    windows.push({ start, firstCounted: scored + 1 - start });
  }
  return windows;
}

/**
 * Bits per byte of `tokens` under `model` in evaluation mode (`model.loss`, no gradients).
 * @param tokens `[tokens]` token ids of the whole stream.
 * @throws ConfigError if seqLen < 2, batch or maxWindows is not a positive integer, or the stream is
 *   shorter than one window; NumericalError if a window's loss is not finite (naming the windows, and
 *   what the model reports as not finite, e.g. a damaged weight).
 */
export function evaluate(model: CausalLanguageModel, tokens: Int32Array, options: EvaluateOptions): EvaluateResult {
  const { seqLen } = options;
  const batchSize = options.batch ?? 1;
  if (!Number.isSafeInteger(seqLen) || seqLen < 2)
    throw new ConfigError('seq_len', `evaluation needs windows of at least 2 tokens, got ${seqLen}`);
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) throw new ConfigError('batch', `must be a positive integer, got ${batchSize}`);
  const maxWindows = options.maxWindows ?? Infinity;
  if (maxWindows !== Infinity && (!Number.isSafeInteger(maxWindows) || maxWindows <= 0)) {
    throw new ConfigError('max_windows', `must be a positive integer, got ${maxWindows}`);
  }
  if (tokens.length < seqLen) {
    throw new ConfigError(
      'seq_len',
      `the stream has ${tokens.length} tokens, fewer than one window of ${seqLen}; lower seq_len or use more data`,
    );
  }
  const windows = evaluationWindows(tokens.length, seqLen, maxWindows);
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
    let r: { loss: number; tokens: number };
    try {
      r = model.backend.scope(() => model.loss(batch));
      if (r.tokens > 0 && !Number.isFinite(r.loss)) throw new NumericalError(`the loss is ${r.loss}`);
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
    if (r.tokens > 0) {
      nats += r.loss * r.tokens;
      targets += r.tokens;
    }
    options.onProgress?.(Math.min(w0 + batchSize, windows.length), windows.length);
  }
  const loss = nats / targets;
  return { loss, bitsPerByte: loss / Math.LN2 / (options.bytesPerToken ?? 1), targets, windows: windows.length };
}
