// Stream a continuation with the model's cache (README "Streaming generation"; test/api/stream-example.test.ts runs this file).
// Usage: node examples/stream.mjs [run-or-checkpoint-dir]   (default: runs/default, written by `npm start`)
import { ByteTokenizer, lmFromCheckpoint, streamGenerate } from 'reformer-ts';
import { loadCheckpoint, loadWasmBackend } from 'reformer-ts/node';

const { config, weights } = loadCheckpoint(process.argv[2] ?? 'runs/default');
const lm = lmFromCheckpoint(await loadWasmBackend(), { config, safetensors: weights });

// the prompt pass fills the cache once; every new byte is then one cached step (useCache: false re-runs
// the model on the window instead). Text arrives as whole characters; a stop sequence ends it before
// the sequence; the signal aborts (here: after 60 s).
const stream = streamGenerate(lm, new ByteTokenizer(), 'Raskolnikov ', {
  maxNewTokens: 200,
  temperature: 0.8,
  topP: 0.95,
  repetitionPenalty: 1.2,
  seed: 0,
  stopSequences: ['\n\n'],
  signal: AbortSignal.timeout(60_000),
});
for (;;) {
  const { value, done } = await stream.next();
  if (done) {
    console.error(`\n${value.ids.length} tokens in ${value.seconds.toFixed(2)} s, ${value.tokensPerSecond.toFixed(1)} tokens/s (${value.finishReason})`);
    break;
  }
  process.stdout.write(value.text);
}
