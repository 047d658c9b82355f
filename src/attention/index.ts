/** Attention: exact oracle, LSH and local self-attention, the attention block, the quality report. */
export {
  ATTENTION_BLOCK_ROWS,
  ATTENTION_FIELDS,
  KEY_NORM_EPS,
  MASK_VALUE,
  SELF_MASK_VALUE,
  attentionConfig,
  chunkingFor,
  type AttentionConfig,
  type ChunkSpec,
  type Chunking,
} from './config.js';
export { drawRotations, effectiveBucketCount, hashBuckets, maskHasPadding, rotationShape, type HashParams } from './hashing.js';
export {
  lshAttentionForward,
  lshCaptures,
  lshSpecFromConfig,
  type LshAttentionCache,
  type LshAttentionOptions,
  type LshAttentionSpec,
} from './lsh.js';
export {
  lshSelfAttentionForward,
  type LshSelfAttentionCache,
  type LshSelfAttentionOptions,
  type LshSelfAttentionWeights,
} from './lsh-module.js';
export { lshAttentionBackward, lshSelfAttentionBackward } from './lsh-backward.js';
export { localAttentionBackward, localSelfAttentionBackward } from './local-backward.js';
export {
  localAttentionForward,
  localSelfAttentionForward,
  localSpecFromConfig,
  type LocalAttentionCache,
  type LocalAttentionSpec,
  type LocalSelfAttentionCache,
  type LocalSelfAttentionOptions,
  type LocalSelfAttentionWeights,
} from './local.js';
export {
  attentionBlockAddForward,
  attentionBlockForward,
  attentionBlockParamShapes,
  type AttentionBlockCache,
  type AttentionBlockOptions,
  type AttentionBlockResult,
  type AttentionBlockWeights,
  type AttentionKeep,
  type AttentionKind,
  type LocalAttentionBlockWeights,
  type LshAttentionBlockWeights,
} from './block.js';
export { attentionBlockBackward } from './block-backward.js';
export {
  exactLocalAttention,
  exactSharedQkAttention,
  exactSharedQkProbabilities,
  type LocalOracleParams,
  type OraclePrecision,
  type OracleResult,
  type SharedQkOracleParams,
} from './oracle.js';
export {
  attentionQualityReport,
  lshAttendedKeys,
  lshQueryWindows,
  type AttentionQualityOptions,
  type AttentionQualityRow,
  type LshWindowSource,
} from './quality.js';
