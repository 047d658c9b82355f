/**
 * Weight files as HF publishes them, as bytes → one tensor file (`SafetensorsFile`):
 *
 * - `model.safetensors`, or `pytorch_model.bin` in either PyTorch container (sniffed from the bytes,
 *   `io/pytorch/checkpoint.ts`): `readWeightsFile`;
 * - sharded weights: `model.safetensors.index.json` / `pytorch_model.bin.index.json`
 *   (`{"metadata": {...}, "weight_map": {tensor name: shard file name}}`) and the shards' tensor files:
 *   `parseShardIndex` + `mergeShards`.
 *
 * Browser-safe: the caller reads the files (src/node/checkpoint.ts on disk).
 */
import { FormatError, ShapeError } from '../errors.js';
import { bytesArg, describeValue, stringArg } from '../util/args.js';
import { readPytorchCheckpoint, sniffPytorchFormat } from './pytorch/checkpoint.js';
import { parseSafetensors, SafetensorsFile, type TensorEntry } from './safetensors.js';

/** Which container a weights file is. */
export type WeightsFormat = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy';

/**
 * Reads a weights file of either kind, named `name` in messages.
 * @throws FormatError (see parseSafetensors / readPytorchCheckpoint).
 */
export function readWeightsFile(bytes: Uint8Array, name: string): { tensors: SafetensorsFile; format: WeightsFormat } {
  bytesArg('readWeightsFile', 'bytes', bytes);
  stringArg('readWeightsFile', 'name', name);
  const pt = sniffPytorchFormat(bytes);
  if (pt !== null)
    return { tensors: readPytorchCheckpoint(bytes, { name }).tensors, format: pt === 'zip' ? 'pytorch-zip' : 'pytorch-legacy' };
  try {
    return { tensors: parseSafetensors(bytes), format: 'safetensors' };
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${name}: ${e.message}`);
    throw e;
  }
}

/** A parsed `*.index.json`: tensor name → shard file, and the shard files in first-use order. */
export interface ShardIndex {
  readonly weightMap: ReadonlyMap<string, string>;
  readonly shards: readonly string[];
}

/**
 * Parses a sharded checkpoint's index. Shard names must be plain file names in the same folder.
 * @throws FormatError naming `where`: not JSON, no `weight_map` object, a value that is not a file name.
 */
export function parseShardIndex(bytes: Uint8Array | string, where: string): ShardIndex {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const map = (obj as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new FormatError(`${where}: has no "weight_map" object (tensor name → shard file)`);
  }
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.length === 0 || /[/\\]/.test(file) || file === '.' || file === '..') {
      throw new FormatError(`${where}: weight_map["${tensor}"] is ${JSON.stringify(file)}, not a file name in the same folder`);
    }
    weightMap.set(tensor, file);
    if (!shards.includes(file)) shards.push(file);
  }
  if (weightMap.size === 0) throw new FormatError(`${where}: weight_map is empty`);
  return { weightMap, shards };
}

/**
 * One tensor file of all shards: each tensor of `weight_map` taken from its shard, in the map's order.
 * @throws FormatError naming the tensor: missing from its shard, present in a shard the map does not name
 *   for it (a stale index), or a shard that was not given; ShapeError if `index` is not what
 *   `parseShardIndex` returns or `shards` is not a Map of `SafetensorsFile`s.
 */
export function mergeShards(index: ShardIndex, shards: ReadonlyMap<string, SafetensorsFile>, where: string): SafetensorsFile {
  if (!((index as Partial<ShardIndex> | null)?.weightMap instanceof Map)) {
    throw new ShapeError(`mergeShards: index must be what parseShardIndex(bytes, where) returns, got ${describeValue(index)}`);
  }
  if (!(shards instanceof Map)) {
    throw new ShapeError(`mergeShards: shards must be a Map of shard file name → SafetensorsFile, got ${describeValue(shards)}`);
  }
  for (const [file, shard] of shards) {
    if (!(shard instanceof SafetensorsFile)) {
      throw new ShapeError(`mergeShards: shards.get(${JSON.stringify(file)}) must be a SafetensorsFile, got ${describeValue(shard)}`);
    }
  }
  stringArg('mergeShards', 'where', where);
  const entries = new Map<string, TensorEntry>();
  for (const [tensor, file] of index.weightMap) {
    const shard = shards.get(file);
    if (!shard) throw new FormatError(`${where}: shard ${file} (of tensor "${tensor}") was not read`);
    if (!shard.has(tensor)) throw new FormatError(`${where}: tensor "${tensor}" is not in its shard ${file} (a stale index?)`);
    entries.set(tensor, shard.entry(tensor));
  }
  for (const [file, shard] of shards) {
    for (const name of shard.names()) {
      if (index.weightMap.get(name) !== file) {
        throw new FormatError(`${where}: shard ${file} holds "${name}", which weight_map does not assign to it (a stale index?)`);
      }
    }
  }
  return new SafetensorsFile(entries, { format: 'pt' });
}
