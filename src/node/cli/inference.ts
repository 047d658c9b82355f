/** `reformer eval` and `reformer generate`: load a checkpoint, score a file / stream a sample. */
import cliProgress from 'cli-progress';
import { UsageError } from '../../errors.js';
import { evaluate } from '../../train/evaluate.js';
import { generateText } from '../../train/stream.js';
import { bytesPerTokenOf } from '../../train/tokenizer.js';
import { readCorpusFile } from '../corpus-file.js';
import type { BackendKind, CliContext } from './context.js';
import { loadCheckpointModel } from './load-model.js';

export interface EvalFlags {
  checkpoint: string;
  data: string;
  seqLen?: number;
  batch?: number;
  threads?: number;
  backend?: BackendKind;
}

/** Bits per byte of the whole file; last stdout line `bits_per_byte: <value>`. Progress goes to stderr. */
export async function evalCommand(flags: EvalFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const { em, tokenizer } = await loadCheckpointModel(flags.checkpoint, undefined, flags.backend ?? 'auto', flags.threads, ctx, info);
  const corpus = readCorpusFile(flags.data, '--data');
  const tokens = tokenizer.encode(corpus.bytes);
  const unit = tokenizer.bytesPerToken === 1 ? 'byte' : 'token';
  if (tokens.length < 2) {
    throw new UsageError(
      `--data ${flags.data}: ${tokens.length} ${unit}; scoring needs at least 2 (every ${unit} after the first is predicted from the ones before it)`,
    );
  }
  let seqLen = flags.seqLen ?? Math.min(em.seqLen, em.maxContext);
  if (seqLen > em.maxContext) {
    throw new UsageError(`--seq-len ${seqLen}: this model takes at most ${em.maxContext} tokens per window`);
  }
  const out = (l: string): void => void ctx.stdout.write(`${l}\n`);
  if (tokens.length < seqLen) {
    if (flags.seqLen !== undefined) {
      throw new UsageError(
        `--seq-len ${seqLen}: ${flags.data} has only ${tokens.length.toLocaleString('en-US')} ${unit}s, less than one window; pass --seq-len ${tokens.length} or less`,
      );
    }
    info(
      `note: ${flags.data} has ${tokens.length.toLocaleString('en-US')} ${unit}s, less than the model's window of ${seqLen.toLocaleString('en-US')}: scoring it as one window of ${tokens.length.toLocaleString('en-US')}`,
    );
    seqLen = tokens.length;
  }
  const bytesPerToken = bytesPerTokenOf(tokenizer, corpus.bytes.length, tokens.length);
  out(`model: ${em.describe()}`);
  out(`data: ${flags.data} (${corpus.summary})`);
  if (unit === 'token') {
    out(
      `tokenizer: ${tokenizer.name} (${tokenizer.vocabSize} pieces): ${tokens.length.toLocaleString('en-US')} tokens, ${bytesPerToken.toFixed(3)} bytes per token`,
    );
  }
  const bar = ctx.stderr.isTTY
    ? new cliProgress.SingleBar(
        { stream: ctx.stderr as NodeJS.WriteStream, format: 'eval {bar} {value}/{total} windows | ETA {eta_formatted}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  const r = evaluate(em.model, tokens, {
    seqLen,
    batch: flags.batch ?? 1,
    bytesPerToken,
    onProgress: (done, total) => {
      if (!bar) return;
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
  });
  bar?.stop();
  out(`windows: ${r.windows} of ${seqLen} tokens; scored ${r.targets} ${unit}s`);
  out(`loss: ${r.loss.toFixed(6)} nats per ${unit}`);
  out(`bits_per_byte: ${r.bitsPerByte.toFixed(6)}`);
  return 0;
}

export interface GenerateFlags {
  checkpoint: string;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  /** `--no-cache` sets false: re-run the model on the window for every token. Default true. */
  cache?: boolean;
  threads?: number;
  backend?: BackendKind;
}

/**
 * Streams the continuation of the prompt (the prompt itself is not echoed) to stdout, with the model's
 * cache unless `--no-cache`; the last stderr line reports tokens per second.
 */
export async function generateCommand(flags: GenerateFlags, ctx: CliContext): Promise<number> {
  const info = (l: string): void => void ctx.stderr.write(`${l}\n`);
  const { em, tokenizer: tok } = await loadCheckpointModel(flags.checkpoint, undefined, flags.backend ?? 'auto', flags.threads, ctx, info);
  const prompt = tok.encode(flags.prompt);
  if (prompt.length === 0) {
    throw new UsageError(
      `--prompt ${JSON.stringify(flags.prompt)}: the ${tok.name} tokenizer turns it into no tokens (only whitespace?); give some text`,
    );
  }
  const r = await generateText(em.model, tok, prompt, {
    maxNewTokens: flags.maxNewTokens,
    temperature: flags.temperature,
    topK: flags.topK,
    topP: flags.topP,
    seed: flags.seed,
    window: em.fixedLength ? em.seqLen : em.maxContext,
    padToWindow: em.fixedLength,
    padId: tok.padId,
    useCache: flags.cache !== false,
    onToken: (c) => void (c.text && ctx.stdout.write(c.text)), // end of text (bytes: 1, SentencePiece: </s>) ends it
  });
  if (ctx.stdout.isTTY) ctx.stdout.write('\n');
  info(
    `generated ${r.ids.length} tokens in ${r.seconds.toFixed(2)} s: ${r.tokensPerSecond.toFixed(1)} tokens/s ` +
      `(first token after ${r.firstTokenSeconds.toFixed(2)} s; ${r.cached ? `cache on${r.slides > 0 ? `, slid ${r.slides}×` : ''}` : 'no cache'})`,
  );
  return 0;
}
