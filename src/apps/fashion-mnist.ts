/**
 * Images as pixel sequences: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747) read as
 * 784-token sequences of intensity ids, for a causal pixel LM (generation, bits per dimension) and for
 * the sequence-classification head (10 classes). Browser-safe: IDX parsing takes bytes (gunzip is the
 * Node adapter's), the baselines take arrays.
 *
 * Sequence layout (both tasks), `PIXEL_SEQ_LEN` = 812 = 29 rows × 28 columns:
 *
 *   row 0        28 × START_ID (256)          the start row: the LM's context before pixel (0, 0),
 *                                             the classifier's pooled position 0 (HF pools position 0)
 *   rows 1 … 28  pixel (r, c) at 28·(r+1) + c  intensity 0 … 255 = its own token id
 *
 * So `axial_pos_shape` [29, 28] factors a position into (image row + 1, column): the axial embedding is
 * the image's own 2-D grid, and a chunk length of 28 (one image row) divides the length, so local/LSH
 * chunks are image rows. Vocabulary 257 (ids 0 … 255 and START_ID). As an LM (HF's shift: logits[t]
 * predicts token t + 1) the 784 targets are positions 28 … 811, predicted by logits 27 … 810; the start
 * row is −100 (not scored). Bits per dimension = mean −log₂ p over the 784 pixels of each image (the
 * softmax runs over all 257 ids; the start id never occurs as a target and only costs the model mass).
 *
 * Baseline: the per-position marginal, p(v | position i) = (n_i(v) + α) / (N + 256·α) from the N
 * training images (add-α / Lidstone smoothing), α chosen on a validation split of the training images.
 */
import { ConfigError, FormatError, ShapeError } from '../errors.js';
import type { TokenBatch } from '../model/language-model.js';
import type { BatchSource, SamplerState } from '../train/data.js';
import { ExampleSampler } from '../train/tasks/task-trainer.js';
import { bytesArg, intArg, optionsArg } from '../util/args.js';

/** Image side (Fashion-MNIST: 28). */
export const IMAGE_SIDE = 28;
/** Pixels per image (dimensions for bits per dimension). */
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
/** Intensity levels = pixel token ids 0 … 255. */
export const INTENSITY_LEVELS = 256;
/** The start / pooled token of the start row. */
export const START_ID = 256;
/** Token ids of a pixel-sequence model (256 intensities + START_ID). */
export const PIXEL_VOCAB_SIZE = 257;
/** Start row + 28 pixel rows. */
export const PIXEL_SEQ_LEN = IMAGE_PIXELS + IMAGE_SIDE;
/** HF `axial_pos_shape` of the layout: (image row + 1, column). */
export const PIXEL_AXIAL_SHAPE: readonly [number, number] = [IMAGE_SIDE + 1, IMAGE_SIDE];
/** The ten classes (the dataset's README), by label id. */
export const FASHION_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Images of an IDX3 file: `pixels` [count, rows, cols] row-major, 0 = background, 255 = max intensity. */
export interface IdxImages {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly pixels: Uint8Array;
}

const IDX_UBYTE = 0x08;

/**
 * Parses an (uncompressed) IDX file of unsigned bytes (LeCun's MNIST format: a big-endian header
 * `0x00 0x00 0x08 ndims`, then ndims uint32 sizes, then the data).
 * @returns the sizes and a view of the data bytes (no copy).
 * @throws FormatError for a bad magic, a type other than ubyte, or too few / too many data bytes.
 */
export function parseIdx(bytes: Uint8Array, where = 'IDX'): { dims: number[]; data: Uint8Array } {
  bytesArg('parseIdx', 'bytes', bytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(`${where}: not an IDX file (the first two bytes must be 0, got ${bytes.length} bytes)`);
  }
  if (bytes[2] !== IDX_UBYTE) {
    throw new FormatError(`${where}: IDX type 0x${bytes[2]!.toString(16).padStart(2, '0')} is not supported (only 0x08, unsigned bytes)`);
  }
  const nd = bytes[3]!;
  const head = 4 + 4 * nd;
  if (nd === 0 || bytes.length < head) throw new FormatError(`${where}: truncated IDX header (${nd} dimensions, ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - head !== size) {
    throw new FormatError(`${where}: the header says ${dims.join('×')} = ${size} bytes of data, the file holds ${bytes.length - head}`);
  }
  return { dims, data: bytes.subarray(head) };
}

/** An IDX3 image file (magic 0x00000803). @throws FormatError if it is not one. */
export function parseIdxImages(bytes: Uint8Array, where = 'IDX images'): IdxImages {
  const { dims, data } = parseIdx(bytes, where);
  if (dims.length !== 3) throw new FormatError(`${where}: an image file has 3 dimensions (count, rows, cols), got ${dims.length}`);
  return { count: dims[0]!, rows: dims[1]!, cols: dims[2]!, pixels: data };
}

/** An IDX1 label file (magic 0x00000801). @throws FormatError if it is not one. */
export function parseIdxLabels(bytes: Uint8Array, where = 'IDX labels'): Uint8Array {
  const { dims, data } = parseIdx(bytes, where);
  if (dims.length !== 1) throw new FormatError(`${where}: a label file has 1 dimension, got ${dims.length}`);
  return data;
}

/** @throws ShapeError unless `images` holds 28×28 images. */
function check28(images: IdxImages, where: string): void {
  if (images.rows !== IMAGE_SIDE || images.cols !== IMAGE_SIDE || images.pixels.length !== images.count * IMAGE_PIXELS) {
    throw new ShapeError(
      `${where}: expected 28×28 images, got ${images.count} of ${images.rows}×${images.cols} (${images.pixels.length} bytes)`,
    );
  }
}

/** The pixel sequence of image `index` (see the file header): [PIXEL_SEQ_LEN] ids. */
export function pixelSequence(images: IdxImages, index: number): Int32Array {
  check28(images, 'pixelSequence');
  intArg('pixelSequence', 'index', index, 0);
  if (index >= images.count) throw new ConfigError('index', `image ${index} does not exist (${images.count} images)`);
  const out = new Int32Array(PIXEL_SEQ_LEN).fill(START_ID, 0, IMAGE_SIDE);
  out.set(images.pixels.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS), IMAGE_SIDE);
  return out;
}

/**
 * A causal-LM batch of images `indices`: inputIds [n, PIXEL_SEQ_LEN], labels the same with the start
 * row −100 (only the 784 pixels are targets).
 */
export function pixelLmBatch(images: IdxImages, indices: readonly number[]): TokenBatch {
  const L = PIXEL_SEQ_LEN;
  const inputIds = new Int32Array(indices.length * L);
  indices.forEach((i, b) => {
    inputIds.set(pixelSequence(images, i), b * L);
  });
  const labels = inputIds.slice();
  for (let b = 0; b < indices.length; b++) labels.fill(-100, b * L, b * L + IMAGE_SIDE);
  return { inputIds, batch: indices.length, seqLen: L, attentionMask: null, labels };
}

/**
 * The LM trainer's batches (`Trainer`'s `batches`): every epoch visits the images once in a seeded
 * shuffled order (`ExampleSampler`, Fisher–Yates); resumable by replay.
 */
export class PixelSequenceBatches implements BatchSource {
  readonly batch: number;
  readonly seqLen = PIXEL_SEQ_LEN;
  private readonly images: IdxImages;
  private readonly sampler: ExampleSampler;

  /** @throws ShapeError unless 28×28 images; ConfigError for a bad batch or seed. */
  constructor(images: IdxImages, options: { batch: number; seed: number }) {
    check28(images, 'PixelSequenceBatches');
    optionsArg('PixelSequenceBatches', options, '{ batch: 8, seed: 1 }', false);
    intArg('PixelSequenceBatches', 'batch', options.batch, 1);
    if (!Number.isSafeInteger(options.seed)) throw new ConfigError('seed', `must be an integer, got ${options.seed}`);
    this.images = images;
    this.batch = options.batch;
    this.sampler = new ExampleSampler(images.count, options.batch, options.seed);
  }

  next(): TokenBatch {
    return pixelLmBatch(this.images, this.sampler.next());
  }

  state(): SamplerState {
    return this.sampler.state();
  }

  restore(state: SamplerState): void {
    this.sampler.restore(state);
  }
}

/** Images `from … to − 1` of `images` (a view, no copy). */
export function sliceImages(images: IdxImages, from: number, to: number): IdxImages {
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 <= from && from <= to && to <= images.count)) {
    throw new ConfigError('range', `images ${from} … ${to} do not fit in ${images.count}`);
  }
  const n = images.rows * images.cols;
  return { count: to - from, rows: images.rows, cols: images.cols, pixels: images.pixels.subarray(from * n, to * n) };
}

// ------------------------------------------------------------------ the per-position marginal baseline

/** Intensity counts per position: `counts[i·256 + v]` = training images with value v at pixel i. */
export interface PixelCounts {
  readonly images: number;
  readonly counts: Float64Array;
}

/** Counts of every intensity at every pixel position over `images`. */
export function pixelCounts(images: IdxImages): PixelCounts {
  check28(images, 'pixelCounts');
  const counts = new Float64Array(IMAGE_PIXELS * INTENSITY_LEVELS);
  const { pixels } = images;
  for (let n = 0; n < images.count; n++) {
    const o = n * IMAGE_PIXELS;
    for (let i = 0; i < IMAGE_PIXELS; i++) counts[i * INTENSITY_LEVELS + pixels[o + i]!]!++;
  }
  return { images: images.count, counts };
}

/**
 * Bits per dimension of `images` under the add-α per-position marginal of `counts`:
 * mean over images and pixels of −log₂ (n_i(v) + α) / (N + 256·α).
 * @throws ConfigError unless α > 0 (α = 0 gives unseen values probability 0: infinite bits).
 */
export function marginalBitsPerDim(counts: PixelCounts, images: IdxImages, alpha: number): number {
  check28(images, 'marginalBitsPerDim');
  if (!(alpha > 0 && Number.isFinite(alpha))) throw new ConfigError('alpha', `must be a finite number > 0, got ${alpha}`);
  if (images.count === 0) throw new ConfigError('images', 'no image to score');
  const logZ = Math.log2(counts.images + INTENSITY_LEVELS * alpha);
  let bits = 0;
  const { pixels } = images;
  for (let n = 0; n < images.count; n++) {
    const o = n * IMAGE_PIXELS;
    for (let i = 0; i < IMAGE_PIXELS; i++) bits += logZ - Math.log2(counts.counts[i * INTENSITY_LEVELS + pixels[o + i]!]! + alpha);
  }
  return bits / (images.count * IMAGE_PIXELS);
}

/** The α grid of `fitMarginalBaseline` (log-spaced, 1e-4 … 10). */
export const MARGINAL_ALPHAS: readonly number[] = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];

/** Result of `fitMarginalBaseline`. */
export interface MarginalBaseline {
  /** The α with the fewest validation bits. */
  readonly alpha: number;
  /** Validation bits per dimension of every α tried (fit on the training part). */
  readonly validation: ReadonlyArray<{ alpha: number; bitsPerDim: number }>;
  /** Counts over all of `train` (training part + validation part), for scoring the test images. */
  readonly counts: PixelCounts;
}

/**
 * Chooses α honestly: fits the counts on the first `train.count − validationImages` training images,
 * scores the last `validationImages` for every α of `alphas`, keeps the best, and refits the counts on all
 * training images (score the test images with `marginalBitsPerDim(result.counts, test, result.alpha)`).
 * @throws ConfigError unless 1 ≤ validationImages < train.count, or `alphas` is empty.
 */
export function fitMarginalBaseline(
  train: IdxImages,
  validationImages: number,
  alphas: readonly number[] = MARGINAL_ALPHAS,
): MarginalBaseline {
  check28(train, 'fitMarginalBaseline');
  intArg('fitMarginalBaseline', 'validation_images', validationImages, 1);
  if (validationImages >= train.count) {
    throw new ConfigError('validation_images', `must be fewer than the ${train.count} training images, got ${validationImages}`);
  }
  if (alphas.length === 0) throw new ConfigError('alphas', 'needs at least one α');
  const cut = train.count - validationImages;
  const fit = pixelCounts(sliceImages(train, 0, cut));
  const val = sliceImages(train, cut, train.count);
  const validation = alphas.map((alpha) => ({ alpha, bitsPerDim: marginalBitsPerDim(fit, val, alpha) }));
  const best = validation.reduce((a, b) => (b.bitsPerDim < a.bitsPerDim ? b : a));
  return { alpha: best.alpha, validation, counts: pixelCounts(train) };
}

// ------------------------------------------------------------------ picture grids

/**
 * Tiles 28×28 images (each `IMAGE_PIXELS` intensities) into one gray image, `columns` per row, with
 * `gap` pixels of `background` between and around them.
 * @returns { width, height, gray } with gray [height, width] row-major bytes.
 */
export function imageGrid(
  images: readonly ArrayLike<number>[],
  columns: number,
  gap = 2,
  background = 128,
): { width: number; height: number; gray: Uint8Array } {
  intArg('imageGrid', 'columns', columns, 1);
  intArg('imageGrid', 'gap', gap, 0);
  if (images.length === 0) throw new ConfigError('images', 'no image to tile');
  const rows = Math.ceil(images.length / columns);
  const cols = Math.min(columns, images.length);
  const width = cols * IMAGE_SIDE + (cols + 1) * gap;
  const height = rows * IMAGE_SIDE + (rows + 1) * gap;
  const gray = new Uint8Array(width * height).fill(background);
  images.forEach((img, k) => {
    if (img.length !== IMAGE_PIXELS) throw new ShapeError(`imageGrid: image ${k} has ${img.length} pixels, expected ${IMAGE_PIXELS}`);
    const x0 = gap + (k % columns) * (IMAGE_SIDE + gap);
    const y0 = gap + Math.floor(k / columns) * (IMAGE_SIDE + gap);
    for (let r = 0; r < IMAGE_SIDE; r++) {
      for (let c = 0; c < IMAGE_SIDE; c++) gray[(y0 + r) * width + x0 + c] = img[r * IMAGE_SIDE + c]!;
    }
  });
  return { width, height, gray };
}
