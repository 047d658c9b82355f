/**
 * `reformer generate`: samples text from a checkpoint, streamed to stdout (the prompt is not echoed),
 * in the checkpoint's tokens (load-model.ts: bytes, or SentencePiece pieces with `spiece.model`; its
 * unknown/padding/begin ids are never sampled, its end-of-text id ends the sample).
 *
 * The prompt fills the model's cache in one pass and each new token is one cached step (HF
 * `past_buckets_states`, train/generate.ts); `--no-cache` (or `--num-hashes`, which the cache does not
 * take) re-runs the model on the last window for every token. After the second token, a run estimated
 * to take more than `LONG_RUN_S` says so on stderr. A prompt longer than the window is cut to its last
 * window tokens (said on stderr). When stdout is not a terminal (a file, a pipe), progress in tokens
 * goes to stderr; the last stderr line reports tokens per second.
 */
import { UsageError } from '../../errors.js';
import { generateText } from '../../train/stream.js';
import { fmtDuration, plural, TaskProgress } from '../progress.js';
import type { BackendKind, CliContext } from './context.js';
import { numHashesFlag } from './inference.js';
import { loadCheckpointModel } from './load-model.js';

export interface GenerateFlags {
  checkpoint: string;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  numHashes?: number;
  /** `--no-cache` sets false: re-run the model on the window for every token. Default true. */
  cache?: boolean;
  threads?: number;
  backend?: BackendKind;
}

/** Seconds: a generation estimated to run longer gets a note after its first token. */
export const LONG_RUN_S = 600;

/**
 * Streams the continuation of the prompt (the prompt itself is not echoed) to stdout, with the model's
 * cache unless `--no-cache`; the last stderr line reports tokens per second.
 */
export async function generateCommand(flags: GenerateFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const { em, tokenizer: tok } = await loadCheckpointModel(flags.checkpoint, undefined, flags.backend ?? 'auto', flags.threads, ctx, info, {
    inferenceFor: 'generate',
  });
  const call = numHashesFlag(em, flags.numHashes);
  const unit = tok.bytesPerToken === 1 ? 'byte' : 'token';
  const prompt = tok.encode(flags.prompt);
  if (prompt.length === 0) {
    throw new UsageError(
      `--prompt ${JSON.stringify(flags.prompt)}: the ${tok.name} tokenizer turns it into no tokens (only whitespace?); give some text`,
    );
  }
  const window = em.fixedLength ? em.seqLen : em.maxContext;
  if (prompt.length > window) {
    info(
      `note: the prompt has ${plural(prompt.length, unit)}, more than the model's window of ${plural(window, unit)}: it sees only the last ${window.toLocaleString('en-US')} (the first ${(prompt.length - window).toLocaleString('en-US')} are left out)`,
    );
  }
  const progress = ctx.stdout.isTTY
    ? null
    : new TaskProgress({ stream: ctx.stderr, label: 'generate', unit: `${unit}s`, total: flags.maxNewTokens });
  let firstAt = 0;
  let r: Awaited<ReturnType<typeof generateText>>;
  try {
    r = await generateText(em.model, tok, prompt, {
      maxNewTokens: flags.maxNewTokens,
      temperature: flags.temperature,
      topK: flags.topK,
      topP: flags.topP,
      seed: flags.seed,
      window,
      padToWindow: em.fixedLength,
      padId: tok.padId,
      useCache: flags.cache !== false,
      ...(call.numHashes !== undefined ? { numHashes: call.numHashes } : {}),
      // end of text (bytes: 1, HF enwik8's; SentencePiece: </s>) ends it; its unknown/padding ids are never sampled
      onToken: (c) => {
        if (c.index === 0) firstAt = performance.now();
        if (c.index === 1) warnIfLong((performance.now() - firstAt) / 1000, flags.maxNewTokens, unit, info);
        if (c.text) ctx.stdout.write(c.text);
        progress?.update(c.index + 1);
      },
    });
  } finally {
    progress?.stop();
  }
  if (ctx.stdout.isTTY) ctx.stdout.write('\n');
  info(
    `generated ${r.ids.length} tokens in ${r.seconds.toFixed(2)} s: ${r.tokensPerSecond.toFixed(1)} tokens/s ` +
      `(first token after ${r.firstTokenSeconds.toFixed(2)} s; ${r.cached ? `cache on${r.slides > 0 ? `, slid ${r.slides}×` : ''}` : 'no cache'})`,
  );
  return 0;
}

/** After the second token took `stepS` seconds: a note when all of them would take more than `LONG_RUN_S`. */
function warnIfLong(stepS: number, maxNewTokens: number, unit: string, info: (l: string) => void): void {
  const estimate = stepS * maxNewTokens;
  if (estimate <= LONG_RUN_S) return;
  info(
    `note: --max-new-tokens ${maxNewTokens.toLocaleString('en-US')}: the second ${unit} took ${stepS >= 1 ? `${stepS.toFixed(2)} s` : `${(stepS * 1000).toFixed(1)} ms`}, ` +
      `so all of them would take about ${fmtDuration(estimate)}; ask for fewer, or stop it with Ctrl-C (what was printed stays)`,
  );
}
