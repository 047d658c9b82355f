/**
 * The applications' config builders on top of `smallModelConfig` (src/apps/small-model.ts) give the same
 * config objects as before it (the literals of commit 7b7c2d9, written here as functions of the spec):
 * at each command's CLI defaults and a few other settings, field by field (`toStrictEqual`: no key
 * added or lost), and the genome's in the same key order too (its results.json prints the object).
 */
import { describe, expect, it } from 'vitest';
import { duplicationConfig, type DuplicationModelSpec, hashesOf } from '../../src/apps/duplication-models.js';
import { duplicationSeqLen } from '../../src/apps/duplication.js';
import { pixelClassifierConfig, pixelLmConfig, type PixelModelSpec } from '../../src/apps/fashion-mnist-models.js';
import { FASHION_CLASSES, PIXEL_AXIAL_SHAPE, PIXEL_SEQ_LEN, PIXEL_VOCAB_SIZE } from '../../src/apps/fashion-mnist.js';
import { axialShape, forecastConfig, type ForecastModelSpec } from '../../src/apps/forecast-model.js';
import { axialFactors, BASE_N, GENOME_VOCAB, genomeModelConfig, type GenomeModelSpec } from '../../src/apps/genome.js';
import { FASHION_MNIST_DEFAULTS } from '../../src/node/cli/apps/fashion-mnist.js';
import { FORECAST_DEFAULTS } from '../../src/node/cli/apps/forecast.js';
import { SERIES_DEFAULTS } from '../../src/node/cli/apps/forecast-series.js';
import { GENOME_DEFAULTS } from '../../src/node/cli/apps/genome.js';
import { DUPLICATION_DEFAULTS } from '../../src/node/cli/task.js';

// ---- the builders as they were (7b7c2d9), the reference ----

function duplicationBefore(s: DuplicationModelSpec, train: string, evaluation?: string): Record<string, unknown> {
  const L = duplicationSeqLen(s.wordLength);
  const kind = train === 'local' ? 'local' : 'lsh';
  const full = (evaluation ?? train) === 'full';
  return {
    vocab_size: s.vocabSize,
    pad_token_id: 0,
    eos_token_id: null,
    is_decoder: true,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    attention_head_size: s.hidden / s.heads,
    feed_forward_size: s.feedForward,
    hidden_act: 'gelu_new',
    attn_layers: Array.from({ length: s.layers }, () => kind),
    lsh_attn_chunk_length: full ? L : s.lshChunk,
    local_attn_chunk_length: full ? L : s.localChunk,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    local_num_chunks_before: 1,
    local_num_chunks_after: 0,
    num_hashes: hashesOf(train as 'lsh-1'),
    num_buckets: null,
    axial_pos_embds: false,
    max_position_embeddings: L,
    hidden_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    tie_word_embeddings: false,
  };
}

function forecastBefore(s: ForecastModelSpec): Record<string, unknown> {
  return {
    vocab_size: s.quantizer.bins,
    pad_token_id: 0,
    eos_token_id: null,
    is_decoder: true,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    attention_head_size: s.hidden / s.heads,
    feed_forward_size: s.feedForward,
    hidden_act: 'gelu_new',
    attn_layers: [...s.layers],
    lsh_attn_chunk_length: s.chunk,
    local_attn_chunk_length: s.chunk,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    local_num_chunks_before: 1,
    local_num_chunks_after: 0,
    num_hashes: s.hashes,
    num_buckets: (2 * s.window) / s.chunk,
    axial_pos_embds: true,
    axial_pos_shape: axialShape(s.window),
    axial_pos_embds_dim: [s.hidden / 2, s.hidden / 2],
    axial_norm_std: 0.02,
    max_position_embeddings: s.window,
    hidden_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: 0,
    chunk_size_lm_head: 0,
    tie_word_embeddings: false,
  };
}

function genomeBefore(spec: GenomeModelSpec): Record<string, unknown> {
  return {
    vocab_size: GENOME_VOCAB,
    pad_token_id: BASE_N,
    eos_token_id: null,
    is_decoder: true,
    hidden_size: spec.hidden,
    num_attention_heads: spec.heads,
    attention_head_size: spec.hidden / spec.heads,
    feed_forward_size: spec.feedForward,
    attn_layers: [...spec.layers],
    local_attn_chunk_length: spec.chunk,
    lsh_attn_chunk_length: spec.chunk,
    local_num_chunks_before: 1,
    local_num_chunks_after: 0,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    num_hashes: spec.numHashes,
    num_buckets: null,
    axial_pos_embds: true,
    axial_pos_shape: axialFactors(spec.seqLen),
    axial_pos_embds_dim: [spec.hidden / 2, spec.hidden / 2],
    max_position_embeddings: spec.seqLen,
    axial_norm_std: 0.02,
    initializer_range: 0.02,
    hidden_act: 'gelu_new',
    hidden_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: 0,
    chunk_size_lm_head: 0,
    tie_word_embeddings: false,
  };
}

function pixelBaseBefore(s: PixelModelSpec): Record<string, unknown> {
  return {
    vocab_size: PIXEL_VOCAB_SIZE,
    pad_token_id: 0,
    eos_token_id: null,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    attention_head_size: s.hidden / s.heads,
    feed_forward_size: s.feedForward,
    hidden_act: 'gelu_new',
    attn_layers: [...s.attnLayers],
    local_attn_chunk_length: s.chunk,
    lsh_attn_chunk_length: s.chunk,
    lsh_num_chunks_before: 1,
    local_num_chunks_before: 1,
    num_hashes: s.numHashes,
    num_buckets: null,
    axial_pos_embds: true,
    axial_pos_shape: [...PIXEL_AXIAL_SHAPE],
    axial_pos_embds_dim: [s.hidden / 2, s.hidden / 2],
    axial_norm_std: 0.02,
    max_position_embeddings: PIXEL_SEQ_LEN,
    hidden_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: 0,
    chunk_size_lm_head: 0,
    tie_word_embeddings: false,
  };
}

// ---- the specs: each command's defaults, then other settings ----

const dd = DUPLICATION_DEFAULTS;
const duplicationSpec: DuplicationModelSpec = {
  wordLength: dd.wordLength,
  vocabSize: dd.vocab,
  hidden: dd.hidden,
  heads: dd.heads,
  layers: dd.layers,
  feedForward: dd.ff,
  lshChunk: dd.lshChunk,
  localChunk: dd.localChunk,
};

const fd = FORECAST_DEFAULTS;
const forecastSpecs: ForecastModelSpec[] = (['co2', 'wti'] as const).map((name) => ({
  window: fd.window,
  context: fd.context,
  quantizer: { bins: SERIES_DEFAULTS[name].bins, low: SERIES_DEFAULTS[name].low, high: SERIES_DEFAULTS[name].high },
  hidden: fd.hidden,
  heads: fd.heads,
  feedForward: fd.ff,
  layers: fd.layers,
  chunk: fd.chunk,
  hashes: fd.hashes,
}));

const gd = GENOME_DEFAULTS;
const genomeSpec: GenomeModelSpec = {
  hidden: gd.hidden,
  heads: gd.heads,
  feedForward: gd.ff,
  layers: gd.layers,
  chunk: gd.chunk,
  seqLen: gd.seqLen,
  numHashes: gd.numHashes,
};

const md = FASHION_MNIST_DEFAULTS;
const pixelSpec: PixelModelSpec = {
  hidden: md.hidden,
  heads: md.heads,
  attnLayers: md.layers,
  feedForward: md.ff,
  chunk: md.chunk,
  numHashes: md.numHashes,
};

describe('the applications’ configs equal those of before smallModelConfig', () => {
  it('duplication: every training attention, as trained and at each evaluation it has weights for', () => {
    for (const s of [duplicationSpec, { ...duplicationSpec, layers: 2, hidden: 32, lshChunk: 8, localChunk: 32 }]) {
      for (const train of ['full', 'lsh-1', 'lsh-2', 'lsh-4', 'local'] as const) {
        expect(duplicationConfig(s, train)).toStrictEqual(duplicationBefore(s, train));
        expect(duplicationConfig(s, train, 'full')).toStrictEqual(duplicationBefore(s, train, 'full'));
      }
      expect(duplicationConfig(s, 'lsh-4', 'lsh-8')).toStrictEqual(duplicationBefore(s, 'lsh-4', 'lsh-8'));
      expect(duplicationConfig(s, 'local', 'local')).toStrictEqual(duplicationBefore(s, 'local', 'local'));
    }
  });

  it('forecast: both series at the defaults, and another window / layers / hashes', () => {
    const other: ForecastModelSpec = {
      ...forecastSpecs[0]!,
      window: 256,
      context: 128,
      layers: ['lsh', 'local', 'lsh'],
      chunk: 32,
      hashes: 2,
    };
    for (const s of [...forecastSpecs, other]) expect(forecastConfig(s)).toStrictEqual(forecastBefore(s));
  });

  it('genome: the defaults and a short window, in the same key order (results.json prints the config)', () => {
    const short: GenomeModelSpec = { ...genomeSpec, hidden: 16, layers: ['local', 'lsh', 'lsh'], chunk: 32, seqLen: 512, numHashes: 2 };
    for (const s of [genomeSpec, short]) {
      expect(genomeModelConfig(s)).toStrictEqual(genomeBefore(s));
      expect(JSON.stringify(genomeModelConfig(s))).toBe(JSON.stringify(genomeBefore(s)));
    }
  });

  it('fashion-mnist: the pixel LM and the classifier at the defaults and with other layers', () => {
    const id2label = Object.fromEntries(FASHION_CLASSES.map((n, i) => [String(i), n]));
    const label2id = Object.fromEntries(FASHION_CLASSES.map((n, i) => [n, i]));
    for (const s of [pixelSpec, { ...pixelSpec, attnLayers: ['lsh', 'lsh'] as const, hidden: 32, chunk: 58, numHashes: 2 }]) {
      expect(pixelLmConfig(s)).toStrictEqual({
        ...pixelBaseBefore(s),
        is_decoder: true,
        lsh_num_chunks_after: 0,
        local_num_chunks_after: 0,
        architectures: ['ReformerModelWithLMHead'],
      });
      expect(pixelClassifierConfig(s)).toStrictEqual({
        ...pixelBaseBefore(s),
        is_decoder: false,
        lsh_num_chunks_after: 1,
        local_num_chunks_after: 1,
        id2label,
        label2id,
        problem_type: 'single_label_classification',
        architectures: ['ReformerForSequenceClassification'],
      });
    }
  });
});
