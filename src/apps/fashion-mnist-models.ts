/**
 * The Reformers of the Fashion-MNIST application (apps/fashion-mnist.ts has the sequence layout): the
 * HF configs of the causal pixel LM (`ReformerModelWithLMHead`) and of the classifier
 * (`ReformerForSequenceClassification`), the bits-per-dimension evaluation, image sampling, and the
 * classification examples.
 *
 * Both use chunks of 28 positions = one image row (a divisor of the 812-token layout): a local layer lets
 * pixel (r, c) see the whole row above and its own row up to c (causal LM; the classifier also sees the
 * row below), an LSH layer reaches any position hashed into the same bucket. Axial position embeddings
 * [29, 28] = (row + 1, column); `axial_norm_std` 0.02 as the CLI presets (HF's 1.0 drowns the tokens in a
 * short run). No dropout (the runs are a few epochs).
 */
import type { ReformerConfigInput } from '../config/fields.js';
import { ConfigError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
import type { ClassificationExample, LabelScheme } from '../train/tasks/classification-data.js';
import { generateTokens } from '../train/generate.js';
import { intArg, modelArg } from '../util/args.js';
import {
  FASHION_CLASSES,
  IMAGE_PIXELS,
  IMAGE_SIDE,
  type IdxImages,
  PIXEL_AXIAL_SHAPE,
  PIXEL_SEQ_LEN,
  PIXEL_VOCAB_SIZE,
  pixelLmBatch,
  pixelSequence,
  START_ID,
} from './fashion-mnist.js';
import { smallModelConfig } from './small-model.js';

/** The model shape of both tasks. */
export interface PixelModelSpec {
  /** d_model (HF hidden_size); even (two axial halves). */
  readonly hidden: number;
  readonly heads: number;
  /** HF attn_layers, e.g. ['local', 'lsh', 'local', 'lsh']. */
  readonly attnLayers: readonly ('local' | 'lsh')[];
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** Local and LSH chunk length, a divisor of 812 (28 = one image row). */
  readonly chunk: number;
  /** LSH hash rounds (training). */
  readonly numHashes: number;
}

/** @throws ConfigError naming the field (positive integers, hidden a multiple of heads and even, chunk | 812). */
export function checkPixelModelSpec(s: PixelModelSpec): void {
  for (const [field, v] of [
    ['hidden_size', s.hidden],
    ['num_attention_heads', s.heads],
    ['feed_forward_size', s.feedForward],
    ['attn_chunk_length', s.chunk],
    ['num_hashes', s.numHashes],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  if (s.hidden % s.heads !== 0 || s.hidden % 2 !== 0) {
    throw new ConfigError('hidden_size', `${s.hidden} must be even and a multiple of num_attention_heads ${s.heads}`);
  }
  if (!Array.isArray(s.attnLayers) || s.attnLayers.length === 0 || !s.attnLayers.every((a) => a === 'local' || a === 'lsh')) {
    throw new ConfigError('attn_layers', `must be a non-empty list of 'local' and 'lsh', got ${JSON.stringify(s.attnLayers)}`);
  }
  if (PIXEL_SEQ_LEN % s.chunk !== 0) {
    throw new ConfigError(
      'attn_chunk_length',
      `${s.chunk} does not divide the sequence length ${PIXEL_SEQ_LEN} = 29·28; use 28, 58, 116, 203, 406 or 812`,
    );
  }
}

function baseConfig(s: PixelModelSpec, causal: boolean): ReformerConfigInput {
  checkPixelModelSpec(s);
  return smallModelConfig({
    vocabSize: PIXEL_VOCAB_SIZE,
    padTokenId: 0, // never used: every sequence is exactly 812 tokens
    causal,
    hidden: s.hidden,
    heads: s.heads,
    feedForward: s.feedForward,
    attnLayers: s.attnLayers,
    localChunk: s.chunk,
    lshChunk: s.chunk,
    numHashes: s.numHashes,
    numBuckets: null, // HF's rule from 2·L/chunk
    maxPositions: PIXEL_SEQ_LEN,
    axialShape: PIXEL_AXIAL_SHAPE,
    axialNormStd: 0.02,
    unchunked: true,
  });
}

/** HF config of the causal pixel LM (`ReformerModelWithLMHead`: is_decoder, no look-ahead). */
export function pixelLmConfig(s: PixelModelSpec): ReformerConfigInput {
  return { ...baseConfig(s, true), architectures: ['ReformerModelWithLMHead'] };
}

/**
 * HF config of the classifier: bidirectional, one chunk ahead as well as one back (the CLI's task
 * models do the same), the ten classes as id2label / label2id, single-label cross-entropy.
 */
export function pixelClassifierConfig(s: PixelModelSpec): ReformerConfigInput {
  const id2label = Object.fromEntries(FASHION_CLASSES.map((n, i) => [String(i), n]));
  const label2id = Object.fromEntries(FASHION_CLASSES.map((n, i) => [n, i]));
  return {
    ...baseConfig(s, false),
    id2label,
    label2id,
    problem_type: 'single_label_classification',
    architectures: ['ReformerForSequenceClassification'],
  };
}

/** The label scheme of the ten classes (single label). */
export const FASHION_LABEL_SCHEME: LabelScheme = Object.freeze({
  problemType: 'single_label_classification',
  names: FASHION_CLASSES,
  ids: Object.freeze(Object.fromEntries(FASHION_CLASSES.map((n, i) => [n, i]))),
});

/** Classification examples (the pixel sequences and their labels); `line` is the 1-based image index. */
export function pixelClassificationExamples(images: IdxImages, labels: Uint8Array): ClassificationExample[] {
  if (labels.length !== images.count) throw new ConfigError('labels', `${labels.length} labels for ${images.count} images`);
  return Array.from({ length: images.count }, (_, i) => {
    const label = labels[i]!;
    if (label >= FASHION_CLASSES.length) throw new ConfigError('labels', `label ${label} of image ${i} is not a class 0 … 9`);
    return { line: i + 1, ids: pixelSequence(images, i), length: PIXEL_SEQ_LEN, label };
  });
}

/** Result of `evaluateBitsPerDim`. */
export interface BitsPerDimResult {
  /** Mean −log₂ p over all pixels of all images. */
  readonly bitsPerDim: number;
  /** The same in nats per pixel. */
  readonly loss: number;
  readonly images: number;
  readonly pixels: number;
}

/**
 * Bits per dimension of a pixel LM on `images` (evaluation mode, no dropout): `model.loss` on the
 * layout's batches, the 784 pixels of each image the targets (see apps/fashion-mnist.ts).
 * @throws ConfigError for a model whose vocabulary is not 257, a bad batch; ShapeError for non-28×28 images.
 */
export function evaluateBitsPerDim(
  model: CausalLanguageModel,
  images: IdxImages,
  options: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): BitsPerDimResult {
  modelArg('evaluateBitsPerDim', model, ['loss']);
  if (model.vocabSize !== PIXEL_VOCAB_SIZE) {
    throw new ConfigError(
      'vocab_size',
      `a pixel LM has ${PIXEL_VOCAB_SIZE} token ids (256 intensities + start), the model has ${model.vocabSize}`,
    );
  }
  const per = options.batch ?? 10;
  intArg('evaluateBitsPerDim', 'batch', per, 1);
  let nats = 0;
  let pixels = 0;
  for (let done = 0; done < images.count; ) {
    const n = Math.min(per, images.count - done);
    const idx = Array.from({ length: n }, (_, i) => done + i);
    const r = model.backend.scope(() => model.loss(pixelLmBatch(images, idx)));
    nats += r.loss * r.tokens;
    pixels += r.tokens;
    done += n;
    options.onProgress?.(done, images.count);
  }
  const loss = nats / pixels;
  return { bitsPerDim: loss / Math.LN2, loss, images: images.count, pixels };
}

/**
 * Samples `count` images from a pixel LM: the start row as the prompt, then 784 tokens by
 * `generateTokens` (cached decoding, HF's `past_buckets_states` rule for LSH layers), START_ID
 * suppressed, image k with sampler seed `seed + k`.
 * @returns count arrays of 784 intensities (row-major).
 */
export function samplePixelImages(
  model: CausalLanguageModel,
  count: number,
  options: { seed: number; temperature?: number; onImage?: (done: number) => void },
): Uint8Array[] {
  intArg('samplePixelImages', 'count', count, 1);
  const prompt = new Array<number>(IMAGE_SIDE).fill(START_ID);
  const out: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const img = new Uint8Array(IMAGE_PIXELS);
    let i = 0;
    for (const id of generateTokens(model, prompt, {
      maxNewTokens: IMAGE_PIXELS,
      temperature: options.temperature ?? 1,
      seed: options.seed + k,
      suppressIds: [START_ID],
    })) {
      img[i++] = id;
    }
    out.push(img);
    options.onImage?.(k + 1);
  }
  return out;
}
