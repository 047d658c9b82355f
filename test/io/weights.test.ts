/** Weight files as HF publishes them: sniffing safetensors vs PyTorch, and sharded indexes (src/io/weights.ts). */
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { mergeShards, parseShardIndex, readWeightsFile } from '../../src/io/weights.js';
import { f32Bytes, torchLegacy, torchZip } from '../helpers/torch-writer.js';
import { expectTyped } from '../robustness/helpers.js';

const pt = (name: string, v: number[]) => ({ name, key: name, dtype: 'F32' as const, storage: f32Bytes(v), shape: [v.length] });

describe('readWeightsFile', () => {
  it('reads safetensors, PyTorch zip and PyTorch legacy bytes to the same tensors', () => {
    const st = serializeSafetensors([{ name: 'a', shape: [2], data: Float32Array.from([1, 2]) }]);
    for (const [bytes, format] of [
      [st, 'safetensors'],
      [torchZip([pt('a', [1, 2])]), 'pytorch-zip'],
      [torchLegacy([pt('a', [1, 2])]), 'pytorch-legacy'],
    ] as const) {
      const r = readWeightsFile(bytes, 'w');
      expect(r.format).toBe(format);
      expect(Array.from(r.tensors.float32('a'))).toEqual([1, 2]);
    }
    expectTyped(() => readWeightsFile(new Uint8Array(3), 'dir/model.safetensors'), FormatError, /^dir\/model\.safetensors: safetensors: /);
  });
});

describe('sharded checkpoints (*.index.json)', () => {
  const index = JSON.stringify({
    metadata: { total_size: 20 },
    weight_map: { a: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin', c: 'pytorch_model-00001-of-00002.bin' },
  });
  const shards = () =>
    new Map([
      ['pytorch_model-00001-of-00002.bin', readWeightsFile(torchZip([pt('a', [1]), pt('c', [3, 3])]), 's1').tensors],
      ['pytorch_model-00002-of-00002.bin', readWeightsFile(torchLegacy([pt('b', [2, 2])]), 's2').tensors],
    ]);

  it('merges the shards in weight_map order', () => {
    const idx = parseShardIndex(index, 'i.json');
    expect(idx.shards).toEqual(['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']);
    const merged = mergeShards(idx, shards(), 'i.json');
    expect(merged.names()).toEqual(['a', 'b', 'c']);
    expect(Array.from(merged.float32('b'))).toEqual([2, 2]);
  });

  it('refuses shard names that are paths, a missing tensor, a stale index, bad JSON', () => {
    expectTyped(
      () => parseShardIndex('{"weight_map": {"a": "../../etc/passwd"}}', 'i.json'),
      FormatError,
      /not a file name in the same folder/,
    );
    expectTyped(() => parseShardIndex('{"weight_map": {"a": "sub/x.bin"}}', 'i.json'), FormatError, /not a file name/);
    expectTyped(() => parseShardIndex('{}', 'i.json'), FormatError, /no "weight_map" object/);
    expectTyped(() => parseShardIndex('{', 'i.json'), FormatError, /i\.json: not valid JSON/);
    const missing = parseShardIndex(
      JSON.stringify({ weight_map: { a: 'pytorch_model-00001-of-00002.bin', z: 'pytorch_model-00002-of-00002.bin' } }),
      'i.json',
    );
    expectTyped(
      () => mergeShards(missing, shards(), 'i.json'),
      FormatError,
      /tensor "z" is not in its shard pytorch_model-00002-of-00002\.bin/,
    );
    const stale = parseShardIndex(
      JSON.stringify({ weight_map: { a: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin' } }),
      'i.json',
    );
    expectTyped(() => mergeShards(stale, shards(), 'i.json'), FormatError, /holds "c", which weight_map does not assign to it/);
  });
});
