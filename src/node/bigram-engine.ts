/**
 * The bigram baseline (train/bigram.ts) as an engine: `config.json` = {"model_type": "bigram",
 * "vocab_size": 258}, weights `bigram.weight` / `bigram.bias`. Used by the tests of the CLI machinery
 * (training, checkpoints, signals, evaluation, generation) so they run in seconds.
 */
import type { Backend } from '../backend/backend.js';
import { ConfigError } from '../errors.js';
import { BigramLanguageModel } from '../train/bigram.js';
import type { CreateSpec, EngineModel, ModelEngine } from './engine.js';

const DEFAULT_SEQ_LEN = 64;

function wrap(m: BigramLanguageModel, seqLen: number): EngineModel {
  return {
    model: m,
    kind: 'bigram',
    seqLen,
    maxContext: Number.MAX_SAFE_INTEGER,
    fixedLength: false,
    describe: () =>
      `bigram baseline: vocabulary ${m.vocabSize}, ${m.params.length.toLocaleString('en-US')} parameters, windows of ${seqLen}`,
    configJson: () => `${JSON.stringify({ model_type: 'bigram', vocab_size: m.vocabSize, seq_len: seqLen }, null, 2)}\n`,
    weights: () => m.toSafetensors(),
  };
}

export const bigramEngine: ModelEngine = {
  name: 'bigram',
  presets: ['bigram'],
  defaultPreset: 'bigram',
  create(backend: Backend, spec: CreateSpec): EngineModel {
    if (spec.preset !== undefined && spec.preset !== 'bigram')
      throw new ConfigError('preset', `is ${JSON.stringify(spec.preset)}; the bigram engine has only "bigram"`);
    return wrap(new BigramLanguageModel(backend, { vocabSize: 258, seed: spec.seed }), spec.seqLen ?? DEFAULT_SEQ_LEN);
  },
  load(backend: Backend, config: Record<string, unknown>, weights: Uint8Array): EngineModel {
    const v = config.vocab_size;
    if (v !== 258) throw new ConfigError('vocab_size', `bigram checkpoints use the byte vocabulary of 258 ids, got ${JSON.stringify(v)}`);
    const m = new BigramLanguageModel(backend, { vocabSize: 258, seed: 0 });
    m.loadSafetensors(weights);
    const seqLen = typeof config.seq_len === 'number' ? config.seq_len : DEFAULT_SEQ_LEN;
    return wrap(m, seqLen);
  },
};
