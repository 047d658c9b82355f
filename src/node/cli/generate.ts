/**
 * `reformer generate`: samples text from a checkpoint, streamed to stdout (the prompt is not echoed),
 * in the checkpoint's tokens (load-model.ts: bytes, or SentencePiece pieces with `spiece.model`; its
 * unknown/padding/begin ids are never sampled, its end-of-text id ends the sample).
 *
 * Each new token re-runs the model on the last window of context (no cache), so the time grows with
 * `--max-new-tokens` times one forward pass: after the first token, a run estimated to take more than
 * `LONG_RUN_S` says so on stderr. A prompt longer than the window is cut to its last window tokens
 * (said on stderr). When stdout is not a terminal (a file, a pipe), progress in tokens goes to stderr.
 */
import { UsageError } from '../../errors.js';
import { generateTokens } from '../../train/generate.js';
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
  threads?: number;
  backend?: BackendKind;
}

/** Seconds: a generation estimated to run longer gets a note after its first token. */
export const LONG_RUN_S = 600;

/** Streams the continuation of the prompt (the prompt itself is not echoed) to stdout. */
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
  const decoder = tok.streamDecoder(prompt);
  const progress = ctx.stdout.isTTY
    ? null
    : new TaskProgress({ stream: ctx.stderr, label: 'generate', unit: `${unit}s`, total: flags.maxNewTokens });
  const t0 = performance.now();
  let n = 0;
  try {
    for (const id of generateTokens(em.model, prompt, {
      maxNewTokens: flags.maxNewTokens,
      temperature: flags.temperature,
      topK: flags.topK,
      topP: flags.topP,
      seed: flags.seed,
      window,
      padToWindow: em.fixedLength,
      padId: tok.padId,
      suppressIds: tok.suppressIds,
      stopAfter: (x) => x === tok.eosId, // bytes: 1 (HF enwik8's end of text); SentencePiece: </s>
      ...(call.numHashes !== undefined ? { numHashes: call.numHashes } : {}),
    })) {
      if (n === 0) warnIfLong((performance.now() - t0) / 1000, flags.maxNewTokens, window, unit, info);
      ctx.stdout.write(decoder.push(id));
      progress?.update(++n);
    }
  } finally {
    progress?.stop();
  }
  ctx.stdout.write(decoder.flush());
  if (ctx.stdout.isTTY) ctx.stdout.write('\n');
  return 0;
}

/** After the first token took `firstS` seconds: a note when all of them would take more than `LONG_RUN_S`. */
function warnIfLong(firstS: number, maxNewTokens: number, window: number, unit: string, info: (l: string) => void): void {
  const estimate = firstS * maxNewTokens;
  if (estimate <= LONG_RUN_S) return;
  info(
    `note: --max-new-tokens ${maxNewTokens.toLocaleString('en-US')}: each ${unit} re-runs the model on up to ${plural(window, unit)} of context (no cache), ` +
      `${firstS.toFixed(2)} s for the first, so all of them would take about ${fmtDuration(estimate)}; ask for fewer, or stop it with Ctrl-C (what was printed stays)`,
  );
}
