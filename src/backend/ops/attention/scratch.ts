/**
 * Scratch bytes of one chunk-attention kernel call (assembly/attention.ts `chunkAttentionScratchBytes`):
 * the TypeScript twin used where no kernel module is at hand (the memory estimate). Computed in doubles,
 * so sizes past 4 GiB come out as they are. spec/kernels/attention.spec.ts checks that it equals the
 * kernel's own export.
 *
 * Layout per call: S [c, W] and Kᵀ [d, W] f32, three [W] i32 key tables (position, padding, row); the
 * backward adds dP [c, W], Vᵀ [d, W] and the live-score mask [c, W]; W = (before + 1 + after)·c; every
 * part 64-byte aligned.
 */
export function chunkAttentionScratchBytes(d: number, chunkLength: number, before: number, after: number, backward: boolean): number {
  const up = (x: number): number => Math.ceil(x / 64) * 64;
  const w = (before + 1 + after) * chunkLength;
  const lw = up(chunkLength * w * 4);
  const dw = up(d * w * 4);
  const keys = up(w * 4);
  return lw + dw + 3 * keys + (backward ? lw + dw + lw : 0);
}
