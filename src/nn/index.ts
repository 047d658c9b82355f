/** Layers as explicit forward/backward pairs (backward accumulates): see each file's header. */
export { linearForward, linearBackward } from './linear.js';
export { layerNormForward, layerNormBackward } from './layer-norm.js';
export type { LayerNormCache } from './layer-norm.js';
export { applyDropout, dropoutKeepTable, rowSeed } from './dropout.js';
export {
  wordEmbeddingForward,
  wordEmbeddingBackward,
  axialPositionForward,
  axialPositionBackward,
  plainPositionForward,
  plainPositionBackward,
  checkTokenIds,
  checkAxialPositions,
  checkPlainPositions,
} from './embeddings.js';
export type { AxialSpec, AxialDropout } from './embeddings.js';
export { feedForwardForward, feedForwardBackward, feedForwardAddForward, chunkRanges, FF_LEAN_BLOCK_ROWS } from './feed-forward.js';
export type { FeedForwardSpec, FeedForwardWeights, FeedForwardSeeds, FeedForwardCache } from './feed-forward.js';
export { lmHeadForward, lmHeadLoss, lmHeadLossRows, checkLabels, countTargets, IGNORE_INDEX } from './lm-head.js';
export type { LmHeadWeights, LmHeadGrads } from './lm-head.js';
