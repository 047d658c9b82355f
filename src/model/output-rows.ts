/**
 * The encoder's output stage, block by block of rows: `Dropout(LayerNorm_final(concat[Y1, Y2]))` (HF
 * `ReformerEncoder`'s final layer norm, attention stream first), handed to a consumer, and in training
 * its backward into the gradients at Y1, Y2. Nothing of [rows, 2·hidden] is held. Y1, Y2, dY1, dY2 may be
 * host-resident (backend/host-streams.ts): their rows are copied like the gathers copy them.
 */
import type { Float } from '../backend/backend.js';
import { copyRows } from '../backend/host-streams.js';
import { applyDropout } from '../nn/dropout.js';
import { layerNormBackward, layerNormForward } from '../nn/layer-norm.js';
import type { EncoderRun, OutputSink } from './encoder-types.js';
import type { EncoderParts } from './embedding-stage.js';
import { outputBlockRows } from './lengths.js';

/**
 * out = Dropout(LayerNorm_final(concat[Y1, Y2])) one block of rows at a time (padding rows skipped),
 * handed to `sink`. With `grad` (training backward), the sink's dh is back-propagated through the
 * dropout and the LayerNorm into the rows of dy1, dy2 (the gradients at Y1, Y2; overwritten), and
 * the LayerNorm's γ, β gradients accumulate. The LayerNorm is recomputed from Y1, Y2 (no cache).
 */
export function outputRows(m: EncoderParts, run: EncoderRun, sink: OutputSink, grad: { dy1: Float; dy2: Float } | null): void {
  const { be, cfg, params: P, prefix } = m;
  const D = cfg.hidden_size;
  const D2 = 2 * D;
  const { batch: B, seqLen: L, paddedLen: Lp, record } = run;
  const gamma = P.param(`${prefix}encoder.layer_norm.weight`);
  const beta = P.param(`${prefix}encoder.layer_norm.bias`);
  const drop = run.training ? cfg.hidden_dropout_prob : 0;
  const seed = run.seeds.output;
  const block = Math.min(outputBlockRows(cfg), L);
  be.scope(() => {
    const iota = be.ints(block);
    for (let i = 0; i < block; i++) iota[i] = i;
    for (let b = 0; b < B; b++) {
      for (let t0 = 0; t0 < L; t0 += block) {
        be.scope(() => {
          const n = Math.min(block, L - t0);
          const pr = b * Lp + t0; // first (padded) row of the block
          const idx = iota.subarray(0, n);
          // concat[i] = [Y1[pr + i], Y2[pr + i]]   [n, 2D]
          const concat = be.floats(n * D2);
          copyRows(be, { rows: n, cols: D, index: idx, src: record.y1, srcOffset: pr * D, ldSrc: D, dst: concat, dstOffset: 0, ldDst: D2 });
          copyRows(be, {
            rows: n,
            cols: D,
            index: idx,
            src: record.y2,
            srcOffset: pr * D,
            ldSrc: D,
            dst: concat,
            dstOffset: D,
            ldDst: D2,
          });
          const h = be.floats(n * D2);
          const ln = layerNormForward(be, concat, n, D2, gamma, beta, cfg.layer_norm_eps, h);
          if (seed !== null) applyDropout(h, n, D2, drop, seed, pr);
          const dh = grad ? be.floats(n * D2) : null;
          sink(b * L + t0, n, h, dh);
          if (!grad || !dh) return;
          // out = Dropout(normed)  ⇒  dnormed = mask ⊙ dOut
          if (seed !== null) applyDropout(dh, n, D2, drop, seed, pr);
          // normed = LayerNorm_final(concat)
          const dConcat = be.floats(n * D2);
          layerNormBackward(
            be,
            concat,
            n,
            D2,
            gamma,
            ln,
            dh,
            dConcat,
            P.grad(`${prefix}encoder.layer_norm.weight`),
            P.grad(`${prefix}encoder.layer_norm.bias`),
          );
          // concat = [Y1, Y2]
          copyRows(be, { rows: n, cols: D, index: idx, src: dConcat, srcOffset: 0, ldSrc: D2, dst: grad.dy1, dstOffset: pr * D, ldDst: D });
          copyRows(be, {
            rows: n,
            cols: D,
            index: idx,
            src: dConcat,
            srcOffset: D,
            ldSrc: D2,
            dst: grad.dy2,
            dstOffset: pr * D,
            ldDst: D,
          });
        });
      }
    }
  });
}
