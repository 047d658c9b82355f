/**
 * Node adapter of the Fashion-MNIST application (apps/fashion-mnist.ts): reads the four gzip-compressed
 * IDX files of a data folder (gunzip by node:zlib) and writes gray PNG pictures (pngjs).
 *
 * Folder layout (shared/data/fashion-mnist-subset/, see its README): `*train*images-idx3-ubyte.gz`,
 * `*train*labels-idx1-ubyte.gz`, `*test*images-idx3-ubyte.gz` (or `t10k`), `*test*labels-idx1-ubyte.gz`;
 * uncompressed files (without `.gz`) are read as they are.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { type IdxImages, parseIdxImages, parseIdxLabels } from '../apps/fashion-mnist.js';
import { FormatError, UsageError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { checkReadableFile } from './corpus-file.js';
import { displayPath } from './paths.js';

/** Images and labels of one split. */
export interface LabelledImages {
  readonly images: IdxImages;
  readonly labels: Uint8Array;
}

/** Bytes of a file, gunzipped when it starts with the gzip magic 1f 8b. @throws FormatError for broken gzip. */
export function readMaybeGzip(path: string, flag: string): Uint8Array {
  checkReadableFile(path, flag);
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return new Uint8Array(gunzipSync(bytes));
    } catch (e) {
      throw new FormatError(`${displayPath(path)}: not valid gzip data (${(e as Error).message})`);
    }
  }
  return bytes;
}

function findFile(dir: string, names: readonly string[], split: RegExp, kind: 'images' | 'labels', flag: string): string {
  const hits = names.filter((n) => split.test(n) && n.includes(kind === 'images' ? 'images-idx3-ubyte' : 'labels-idx1-ubyte'));
  if (hits.length !== 1) {
    throw new UsageError(
      `${flag} ${displayPath(dir)}: expected one ${split.source} ${kind} IDX file (…${kind === 'images' ? 'images-idx3' : 'labels-idx1'}-ubyte[.gz]), found ${hits.length === 0 ? 'none' : hits.join(', ')}`,
    );
  }
  return join(dir, hits[0]!);
}

/**
 * The train and test splits of a Fashion-MNIST folder (see the file header).
 * @throws UsageError if the folder or a file is missing; FormatError for a bad IDX file or counts of
 *   images and labels that differ.
 */
export function readFashionMnist(dir: string, flag = '--data'): { train: LabelledImages; test: LabelledImages } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new UsageError(
      `${flag} ${displayPath(dir)}: not a readable folder; pass the Fashion-MNIST folder (shared/data/fashion-mnist-subset)`,
    );
  }
  const read = (split: RegExp): LabelledImages => {
    const ip = findFile(dir, names, split, 'images', flag);
    const lp = findFile(dir, names, split, 'labels', flag);
    const images = parseIdxImages(readMaybeGzip(ip, flag), displayPath(ip));
    const labels = parseIdxLabels(readMaybeGzip(lp, flag), displayPath(lp));
    if (labels.length !== images.count) {
      throw new FormatError(`${displayPath(lp)}: ${labels.length} labels for the ${images.count} images of ${displayPath(ip)}`);
    }
    return { images, labels };
  };
  return { train: read(/train/), test: read(/test|t10k/) };
}

/**
 * Writes a gray image ([height, width] bytes, 0 = black) as an 8-bit grayscale PNG, atomically, each
 * pixel drawn as a `scale`×`scale` block (nearest neighbour).
 */
export function writeGrayPng(path: string, image: { width: number; height: number; gray: Uint8Array }, scale = 1): void {
  if (!Number.isSafeInteger(scale) || scale < 1) throw new UsageError(`writeGrayPng: scale must be a positive integer, got ${scale}`);
  const W = image.width * scale;
  const H = image.height * scale;
  const gray = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const src = Math.floor(y / scale) * image.width;
    for (let x = 0; x < W; x++) gray[y * W + x] = image.gray[src + Math.floor(x / scale)]!;
  }
  const png = new PNG({ width: W, height: H, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = Buffer.from(gray);
  writeFileAtomic(path, new Uint8Array(PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false })));
}
