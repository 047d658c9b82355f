/**
 * HuggingFace model folders on disk, as `save_pretrained` writes them or the Hub ships them, read as they
 * are: `config.json` plus the weights in the first of these that exists
 *
 *   model.safetensors                   (read as it is)
 *   model.safetensors.index.json        sharded safetensors
 *   pytorch_model.bin                   a PyTorch pickle, zip or legacy format (restricted unpickler,
 *                                       src/io/pytorch/: nothing in the file is executed)
 *   pytorch_model.bin.index.json        sharded PyTorch files
 *
 * and `spiece.model` when the model has a SentencePiece tokenizer. The weights come back as
 * model.safetensors bytes (the PyTorch tensors' raw bytes re-framed, no conversion of values), which
 * every loader takes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import { pathArg } from '../util/args.js';
import { serializeTensorFile, type SafetensorsFile } from '../io/safetensors.js';
import { mergeShards, parseShardIndex, readWeightsFile, type WeightsFormat } from '../io/weights.js';
import { SPIECE_MODEL } from '../tokenizer/index.js';
import { CHECKPOINT_FILES } from '../train/checkpoint.js';

/** Weight files of an HF folder, in the order they are looked for. */
export const HF_WEIGHT_FILES = [
  CHECKPOINT_FILES.weights,
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

export interface HfFolderFiles {
  readonly config: Uint8Array;
  /** model.safetensors bytes (the file itself, or the PyTorch / sharded tensors re-framed). */
  readonly weights: Uint8Array;
  /** spiece.model bytes, or null. */
  readonly tokenizer: Uint8Array | null;
  /** What the weights were read from, for a log line, e.g. `pytorch_model.bin (PyTorch legacy format)`. */
  readonly weightsSource: string;
}

const FORMAT_LABEL: Record<WeightsFormat, string> = {
  safetensors: 'safetensors',
  'pytorch-zip': 'PyTorch zip format',
  'pytorch-legacy': 'PyTorch legacy format',
};

function readRegular(path: string): Uint8Array {
  if (!statSync(path).isFile()) throw new FormatError(`${path}: not a regular file`);
  return new Uint8Array(readFileSync(path));
}

/**
 * Reads an HF folder's config, weights and tokenizer.
 * @throws UsageError: `dir` is not a path string or does not exist; FormatError: no
 *   config.json, no weights file (the message lists the names looked for), a weights file that is not
 *   what its name says, a refused pickle, a sharded index whose shards disagree with it.
 */
export function readHfFolder(dir: string): HfFolderFiles {
  pathArg('readHfFolder', 'dir', dir);
  if (!existsSync(dir)) throw new UsageError(`readHfFolder: ${dir} does not exist; pass a HuggingFace model folder`);
  const configPath = join(dir, CHECKPOINT_FILES.config);
  if (!existsSync(configPath)) throw new FormatError(`${dir}: no ${CHECKPOINT_FILES.config} (not a HuggingFace model folder)`);
  const config = readRegular(configPath);
  const spiece = join(dir, SPIECE_MODEL);
  const tokenizer = existsSync(spiece) ? readRegular(spiece) : null;
  const found = HF_WEIGHT_FILES.find((n) => existsSync(join(dir, n)));
  if (!found) {
    throw new FormatError(
      `${dir}: has config.json but no weights (looked for ${HF_WEIGHT_FILES.join(', ')}; and no manifest.json: not a reformer-ts checkpoint either)`,
    );
  }
  const path = join(dir, found);
  if (found === CHECKPOINT_FILES.weights) return { config, weights: readRegular(path), tokenizer, weightsSource: found };
  if (!found.endsWith('.index.json')) {
    const { tensors, format } = readWeightsFile(readRegular(path), path);
    return {
      config,
      weights: serializeTensorFile(tensors, { format: 'pt' }),
      tokenizer,
      weightsSource: `${found} (${FORMAT_LABEL[format]})`,
    };
  }
  const index = parseShardIndex(readRegular(path), path);
  const shards = new Map<string, SafetensorsFile>();
  const formats = new Set<string>();
  for (const shard of index.shards) {
    const p = join(dir, shard);
    if (!existsSync(p)) throw new FormatError(`${path}: names shard ${shard}, which is not in ${dir}`);
    const { tensors, format } = readWeightsFile(readRegular(p), p);
    shards.set(shard, tensors);
    formats.add(FORMAT_LABEL[format]);
  }
  const merged = mergeShards(index, shards, path);
  return {
    config,
    weights: serializeTensorFile(merged, { format: 'pt' }),
    tokenizer,
    weightsSource: `${found} (${index.shards.length} shards, ${[...formats].join(' and ')})`,
  };
}
