// Load a checkpoint, compute logits, generate (README "Library"; test/api/readme-example.test.ts runs this file).
// Usage: node examples/library.mjs [run-or-checkpoint-dir]   (default: runs/default, written by `npm start`)
import { ByteTokenizer, evaluate, generateTokens, lmFromCheckpoint, UsageError } from 'reformer-ts';
import { loadCheckpoint, loadWasmBackend } from 'reformer-ts/node';

const dir = process.argv[2] ?? 'runs/default';
let checkpoint;
try {
  checkpoint = loadCheckpoint(dir); // config.json + model.safetensors (HF names)
} catch (e) {
  if (!(e instanceof UsageError)) throw e; // no such folder, not a checkpoint: say what to pass
  console.error(`${e.message}. Usage: node examples/library.mjs [run-or-checkpoint-dir] (default runs/default, which \`npm start\` trains; \`npx reformer train --out <dir>\` writes others)`);
  process.exit(2);
}
const { config, weights } = checkpoint;
const backend = await loadWasmBackend(); // SIMD kernels on all cores; or `new ReferenceBackend()` from 'reformer-ts'
const lm = lmFromCheckpoint(backend, { config, safetensors: weights }); // ReformerModelWithLMHead

// logits: [batch, seqLen, vocab_size]; token ids are UTF-8 bytes + 2 (HF enwik8 convention, 258 ids)
const tok = new ByteTokenizer();
const ids = tok.encode('Raskolnikov ');
const logits = lm.logits({ inputIds: ids, batch: 1, seqLen: ids.length });
const V = lm.config.vocab_size;
const last = logits.subarray((ids.length - 1) * V, ids.length * V);
const best = last.indexOf(Math.max(...last));
console.log(`most likely next byte after "Raskolnikov ": ${JSON.stringify(tok.decode([best]))}`);

// bits per byte of some text (every byte after the first scored once, in windows of the model's longest input)
const text = tok.encode('He was not used to crowds, and, as we said before, he avoided society of every sort.');
console.log(`bits per byte: ${evaluate(lm, text).bitsPerByte.toFixed(3)}`);

// generate: sample 80 bytes (temperature 0.8, top-k 40), never the special ids 0 and 1; the context
// window defaults to the longest input the model takes (other CausalLanguageModels need `window`)
const out = [...generateTokens(lm, ids, { maxNewTokens: 80, temperature: 0.8, topK: 40, seed: 0, suppressIds: [0, 1] })];
console.log(`sample: Raskolnikov ${tok.decode(out)}`);
