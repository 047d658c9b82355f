/**
 * HF's published weight files as bytes: PyTorch `pytorch_model.bin` (zip and legacy `torch.save`
 * formats, read by a restricted unpickler), sharded `*.index.json` checkpoints, and the safetensors
 * writer of a tensor file (what `reformer convert` writes).
 */
export {
  readPytorchCheckpoint,
  type PytorchCheckpoint,
  type PytorchFormat,
  type ReadPytorchOptions,
} from './checkpoint.js';
export { mergeShards, parseShardIndex, readWeightsFile, type ShardIndex, type WeightsFormat } from '../weights.js';
