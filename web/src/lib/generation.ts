/**
 * The page's one generation call: streams sampled tokens with their text and the running throughput.
 *
 * It wraps `generateTokens` (src/train/generate.ts), which uses the model's cache by default (one
 * prompt pass, then one cached step per token, HF `past_buckets_states`). Everything else on the page
 * (the worker, the UI, the browser test, the throughput script) goes through it.
 */
import { ByteTokenizer, generateTokens, type ReformerModelWithLMHead } from '../../../src/index.js';

export interface GenerateRequest {
  prompt: string;
  /** Tokens to generate (≥ 1). */
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  seed: number;
}

/** One streamed token. */
export interface StreamedToken {
  readonly id: number;
  /** Text completed by this token (empty in the middle of a multi-byte character). */
  readonly text: string;
  /** Tokens so far. */
  readonly count: number;
  /** Tokens per second since the first token was asked for. */
  readonly tokensPerSecond: number;
}

/**
 * Yields each new token as soon as it is sampled; the caller may stop iterating at any time.
 * @throws ConfigError / ShapeError from `generateTokens` for bad options (before the first token)
 */
export function* streamTokens(lm: ReformerModelWithLMHead, request: GenerateRequest): Generator<StreamedToken, void, void> {
  const tokenizer = new ByteTokenizer();
  const prompt = tokenizer.encode(request.prompt);
  const decoder = tokenizer.streamDecoder();
  const t0 = performance.now();
  let count = 0;
  for (const id of generateTokens(lm, prompt, {
    maxNewTokens: request.maxNewTokens,
    temperature: request.temperature,
    topK: request.topK,
    seed: request.seed,
    suppressIds: [tokenizer.padId],
  })) {
    count++;
    const seconds = Math.max((performance.now() - t0) / 1000, 1e-9);
    yield { id, text: decoder.push(id), count, tokensPerSecond: count / seconds };
  }
  const rest = decoder.flush();
  if (rest) yield { id: -1, text: rest, count, tokensPerSecond: count / Math.max((performance.now() - t0) / 1000, 1e-9) };
}
