/** Attention: exact oracle, LSH and local self-attention, the attention block, the quality report. */
export {
  ATTENTION_DEFAULTS,
  KEY_NORM_EPS,
  MASK_VALUE,
  SELF_MASK_VALUE,
  autoNumBuckets,
  bucketCount,
  bucketFactors,
  checkSequenceLength,
  rotationHalfSize,
  type AttentionConfig,
  type ChunkSpec,
  type NumBuckets,
} from './config.js';
export {
  drawRotations,
  effectiveBucketCount,
  hashBuckets,
  maskHasPadding,
  rotationShape,
  sortBuckets,
  type HashParams,
} from './hashing.js';
export {
  lshAttentionBackward,
  lshAttentionForward,
  lshCaptures,
  lshSelfAttentionBackward,
  lshSelfAttentionForward,
  lshSpecFromConfig,
  type LshAttentionCache,
  type LshAttentionOptions,
  type LshAttentionSpec,
  type LshSelfAttentionCache,
  type LshSelfAttentionOptions,
  type LshSelfAttentionWeights,
} from './lsh.js';
export {
  localAttentionBackward,
  localAttentionForward,
  localSelfAttentionBackward,
  localSelfAttentionForward,
  localSpecFromConfig,
  type LocalAttentionCache,
  type LocalAttentionSpec,
  type LocalSelfAttentionCache,
  type LocalSelfAttentionOptions,
  type LocalSelfAttentionWeights,
} from './local.js';
export {
  attentionBlockBackward,
  attentionBlockForward,
  attentionBlockParamShapes,
  type AttentionBlockCache,
  type AttentionBlockOptions,
  type AttentionBlockWeights,
  type AttentionKind,
  type LocalAttentionBlockWeights,
  type LshAttentionBlockWeights,
} from './block.js';
export {
  exactLocalAttention,
  exactSharedQkAttention,
  exactSharedQkProbabilities,
  type LocalOracleParams,
  type OraclePrecision,
  type OracleResult,
  type SharedQkOracleParams,
} from './oracle.js';
export { attentionBlockAddForward, LEAN_BLOCK_ROWS, type LeanAttentionOptions, type LeanAttentionResult } from './lean.js';
export { attentionQualityReport, type AttentionQualityOptions, type AttentionQualityRow } from './quality.js';
