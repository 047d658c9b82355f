/** Reference loops of the hashing family (see params.ts). */
import { type LshHashParams, validateLshHash } from './params.js';

export function lshHash(p: LshHashParams): void {
  validateLshHash(p);
  const { x, ldx, rows, dHead, rotations, numHashes, factors, buckets } = p;
  const xOff = p.xOffset ?? 0;
  const rOff = p.rotationsOffset ?? 0;
  const bOff = p.bucketsOffset ?? 0;
  const half = factors.reduce((a, f) => a + f / 2, 0); // rotation_size / 2
  const width = numHashes * half; // columns of rotations viewed as [dHead, numHashes·half]
  const rotated = new Float64Array(half);
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < numHashes; h++) {
      // rotated = x_t · R[:, h, :]
      for (let c = 0; c < half; c++) {
        let acc = 0;
        for (let i = 0; i < dHead; i++) acc += x[xOff + t * ldx + i]! * rotations[rOff + i * width + h * half + c]!;
        rotated[c] = acc;
      }
      // bucket = b1 + f1·b2 + f1·f2·b3 + …, b_k = argmax([s_k, −s_k]) of slice k
      let bucket = 0;
      let radix = 1;
      let start = 0;
      for (const f of factors) {
        const fh = f / 2;
        let best = 0;
        let bestValue = -Infinity;
        for (let idx = 0; idx < f; idx++) {
          const value = idx < fh ? rotated[start + idx]! : -rotated[start + idx - fh]!;
          if (Number.isNaN(value)) {
            best = idx; // NaN is the largest (torch.argmax): the first NaN wins
            break;
          }
          if (value > bestValue) {
            bestValue = value;
            best = idx;
          }
        }
        bucket += radix * best;
        radix *= f;
        start += fh;
      }
      buckets[bOff + h * rows + t] = bucket;
    }
  }
}
