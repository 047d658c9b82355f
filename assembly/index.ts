// Kernel entry points of the WASM backend (loaded by src/backend/wasm). Re-exports only.
// Every entry point takes byte addresses (usize) into the one imported memory plus sizes; none
// allocates or throws. Scratch memory, where needed, is passed in (see the *ScratchBytes functions).
export { gemm, gemmBatched, gemmRows, gemmScratchBytes, gemmReductionStep } from './gemm-entry';
export { lshHash, lshHashScratchBytes } from './hash';
export {
  argsortKeys, argsortCount, argsortOffsets, argsortPlace, invertPermutation, gatherRows, scatterRows, scatterAddRows,
} from './sort';
export { softmaxRows, softmaxRowsBackward } from './softmax';
export {
  layerNormForward, layerNormBackward, layerNormBackwardDx, layerNormBackwardParams, rmsNormForward, rmsNormBackward,
} from './norms';
export { activationForward, activationBackward } from './activations';
export { add, axpy, scale, addRowVector, sumRows, sumRowsStrided, sumSquares, countNonFinite } from './elementwise';
export { chunkAttentionForward, chunkAttentionBackward, chunkAttentionScratchBytes } from './attention';
export { lshRoundCombine } from './rounds';
export { adamw } from './adamw';
export { heapBase } from './memory';
