/**
 * Streaming text generation, the way JS APIs stream: an async iterator of chunks (`streamGenerate`)
 * or a promise with a per-token callback (`generateText`), over `generateTokens` (generate.ts: the
 * cached path by default).
 *
 *   for await (const chunk of streamGenerate(model, tokenizer, 'Raskolnikov ', { maxNewTokens: 200 })) {
 *     process.stdout.write(chunk.text);
 *   }
 *
 * - Text comes from the tokenizer's `streamDecoder`: a character split over several tokens (UTF-8 bytes
 *   of a byte-level model) is released whole, once complete; `chunk.text` may be '' meanwhile.
 * - `stopSequences`: generation ends when the text contains one of them; the text returned stops right
 *   before it (OpenAI's convention). Text that might be the start of a stop sequence is held back until
 *   it is known not to be.
 * - The tokenizer's end-of-text id (`eosId`) ends generation (`stopAtEos`, default true); its own text
 *   is not emitted. The tokenizer's `suppressIds` are never sampled (plus `suppressIds`).
 * - `signal` (AbortSignal): checked before every token; an abort rejects with `signal.reason` (an
 *   `AbortError` DOMException by default), as `fetch` does. The loop yields to the event loop at least
 *   every `yieldEveryMs` so that timers, I/O and abort handlers run during a long generation.
 * Browser-safe: no Node imports.
 */
import { ConfigError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
import { DEFAULT_MAX_NEW_TOKENS, generateTokens, newStats, type GenerateOptions, type GenerationStats } from './generate.js';
import { arrayLikeArg, describeValue, isArrayValue, modelArg, optionsArg } from '../util/args.js';
import { tokenizerArg, type Tokenizer } from './tokenizer.js';

/** Options of `streamGenerate` / `generateText`: those of `generateTokens` plus abort, stop sequences and the callback. */
export interface StreamOptions extends GenerateOptions {
  /** Aborts the generation (checked before every token). */
  readonly signal?: AbortSignal;
  /** Strings that end the generation; the text stops before the first one found. Each non-empty. */
  readonly stopSequences?: readonly string[];
  /** End at the tokenizer's end-of-text id. Default true. */
  readonly stopAtEos?: boolean;
  /** Called with every chunk, in order (the callback streamer of `generateText`). */
  readonly onToken?: (chunk: GenerationChunk) => void;
  /** Yield to the event loop at least this often, in milliseconds. Default 16. */
  readonly yieldEveryMs?: number;
}

/** One generated token and the text it completed. */
export interface GenerationChunk {
  /** The token id. */
  readonly id: number;
  /** 0-based index among the generated tokens. */
  readonly index: number;
  /** Text released with this token ('' while a character or a possible stop sequence is incomplete). */
  readonly text: string;
}

/** Why a generation ended. */
export type FinishReason = 'length' | 'eos' | 'stop';

/** What `streamGenerate` returns when done and `generateText` resolves to. */
export interface GenerationResult {
  /** The generated text (without the prompt, cut before a stop sequence). */
  readonly text: string;
  /** Every generated id (including the end-of-text id or the tokens of a stop sequence). */
  readonly ids: number[];
  readonly finishReason: FinishReason;
  /** Tokens of the prompt the model saw (the last `window` of it). */
  readonly promptTokens: number;
  /** Seconds from the call to the last token. */
  readonly seconds: number;
  /** Seconds until the first token (the prompt pass). */
  readonly firstTokenSeconds: number;
  /** Generated tokens per second of the whole call (prompt pass included). */
  readonly tokensPerSecond: number;
  /** Whether the cached path ran, and how often the cache slid (see generate.ts). */
  readonly cached: boolean;
  readonly slides: number;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** One turn of the event loop (a macrotask: timers, I/O and abort events run). */
function macrotask(): Promise<void> {
  const si = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (si ? si(resolve) : setTimeout(resolve, 0)));
}

/** Holds back text that may still become a stop sequence. */
class StopMatcher {
  private pending = '';
  constructor(private readonly stops: readonly string[]) {}

  /** Adds text; returns what is safe to emit and whether a stop sequence was found (then nothing follows). */
  push(text: string): { emit: string; stopped: boolean } {
    this.pending += text;
    if (this.stops.length === 0) {
      const emit = this.pending;
      this.pending = '';
      return { emit, stopped: false };
    }
    let first = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      const emit = this.pending.slice(0, first);
      this.pending = '';
      return { emit, stopped: true };
    }
    // keep the longest suffix that is a proper prefix of some stop sequence
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > keep; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    const emit = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { emit, stopped: false };
  }

  /** The held-back rest at the end (no stop sequence can complete any more). */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

function checkStreamOptions(o: StreamOptions): void {
  if (o.stopSequences !== undefined) {
    if (!Array.isArray(o.stopSequences) || o.stopSequences.some((s) => typeof s !== 'string' || s === '')) {
      throw new ConfigError('stop_sequences', 'must be an array of non-empty strings, e.g. ["\\n\\n"]');
    }
  }
  if (o.yieldEveryMs !== undefined && !(o.yieldEveryMs >= 0 && Number.isFinite(o.yieldEveryMs))) {
    throw new ConfigError('yield_every_ms', `must be a finite number ≥ 0, got ${o.yieldEveryMs}`);
  }
  if (o.signal !== undefined && (o.signal === null || typeof o.signal.aborted !== 'boolean')) {
    throw new ConfigError('signal', 'must be an AbortSignal (e.g. new AbortController().signal)');
  }
  if (o.onToken !== undefined && typeof o.onToken !== 'function') throw new ConfigError('on_token', 'must be a function (chunk) => void');
}

/**
 * Streams the continuation of `prompt` (text, encoded with `tokenizer`, or token ids) as chunks; the
 * iterator's return value is the `GenerationResult`. Options are those of `generateTokens` plus the
 * streaming ones (see the file header); they are all checked here, before the first chunk is asked for.
 * @throws ConfigError / ShapeError as `generateTokens`, and for bad streaming options, a missing model or
 *   tokenizer, a prompt that is neither text nor token ids; while running, the abort reason, or a model
 *   error (ResourceError, ...).
 */
export function streamGenerate(
  model: CausalLanguageModel,
  tokenizer: Tokenizer,
  prompt: string | ArrayLike<number>,
  options: StreamOptions = {},
): AsyncGenerator<GenerationChunk, GenerationResult, undefined> {
  modelArg('streamGenerate', model, ['logits']);
  tokenizerArg('streamGenerate', tokenizer, ['encode', 'decode', 'streamDecoder', 'eosId', 'suppressIds']);
  if (!isArrayValue(tokenizer.suppressIds)) {
    throw new ConfigError(
      'tokenizer',
      `streamGenerate: tokenizer.suppressIds must be an array of ids, got ${describeValue(tokenizer.suppressIds)}`,
    );
  }
  if (typeof prompt !== 'string') arrayLikeArg('streamGenerate', 'prompt', prompt, 'the prompt as text or token ids (an Int32Array)');
  optionsArg('streamGenerate', options, '{ maxNewTokens: 40, temperature: 0.8, stopSequences: ["\\n\\n"] }');
  checkStreamOptions(options);
  options.signal?.throwIfAborted();
  const start = now();
  const ids = typeof prompt === 'string' ? tokenizer.encode(prompt) : prompt;
  const eos = options.stopAtEos !== false ? tokenizer.eosId : null;
  const suppress = [...new Set([...tokenizer.suppressIds, ...(options.suppressIds ?? [])])];
  const stats: GenerationStats = newStats();
  // the stream decides after each token whether it was the last; the generator asks right after
  const decision = { last: false };
  const tokens = generateTokens(model, ids, { ...options, suppressIds: suppress, stopAfter: () => decision.last }, stats);
  return run(tokenizer, ids, tokens, eos, options, stats, start, decision);
}

async function* run(
  tokenizer: Tokenizer,
  promptIds: ArrayLike<number>,
  tokens: Generator<number, void, void>,
  eos: number | null,
  options: StreamOptions,
  stats: GenerationStats,
  start: number,
  decision: { last: boolean },
): AsyncGenerator<GenerationChunk, GenerationResult, undefined> {
  const decoder = tokenizer.streamDecoder(promptIds);
  const stops = new StopMatcher(options.stopSequences ?? []);
  const every = options.yieldEveryMs ?? 16;
  const maxNew = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const out: number[] = [];
  let text = '';
  let finish: FinishReason = 'length';
  let lastYield = now();
  try {
    while (out.length < maxNew) {
      options.signal?.throwIfAborted();
      const next = tokens.next();
      if (next.done) break;
      const id = next.value;
      out.push(id);
      const isEos = id === eos;
      const userStop = !isEos && (options.stopAfter?.(id) ?? false);
      let piece = isEos ? '' : decoder.push(id);
      let last = isEos || userStop || out.length >= maxNew;
      if (last) piece += decoder.flush();
      const r = stops.push(piece);
      let emit = r.emit;
      if (r.stopped) {
        finish = 'stop';
        last = true;
      } else if (last) {
        emit += stops.flush(); // nothing can complete a stop sequence any more
        if (isEos) finish = 'eos';
        else if (userStop) finish = 'stop';
      }
      decision.last = last;
      text += emit;
      const chunk: GenerationChunk = { id, index: out.length - 1, text: emit };
      options.onToken?.(chunk);
      yield chunk;
      if (last) break;
      if (now() - lastYield >= every) {
        await macrotask();
        lastYield = now();
      }
    }
  } finally {
    tokens.return();
  }
  const seconds = (now() - start) / 1000;
  return {
    text,
    ids: out,
    finishReason: finish,
    promptTokens: stats.promptTokens,
    seconds,
    firstTokenSeconds: stats.firstTokenMs / 1000,
    tokensPerSecond: seconds > 0 ? out.length / seconds : 0,
    cached: stats.cached,
    slides: stats.slides,
  };
}

/**
 * Runs `streamGenerate` to the end; `options.onToken` sees every chunk. Resolves to the result.
 * @throws as `streamGenerate` (an abort rejects with `signal.reason`).
 */
export async function generateText(
  model: CausalLanguageModel,
  tokenizer: Tokenizer,
  prompt: string | ArrayLike<number>,
  options: StreamOptions = {},
): Promise<GenerationResult> {
  const it = streamGenerate(model, tokenizer, prompt, options);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
