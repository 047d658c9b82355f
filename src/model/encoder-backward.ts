/**
 * The encoder's backward below the final LayerNorm (`ReformerModel.backward` and `trainRows`; the
 * LayerNorm's own backward is in output-rows.ts): the layers last to first, then the embeddings.
 *
 *   layers:     dY1, dY2 → dX1, dX2           reversible.ts `reversibleBackward` (paper Sec. 3: recompute
 *                                               X2 = Y2 − G(Y1), X1 = Y1 − F(X2); or the stored-activation one)
 *   X1 = X2 = emb                          ⇒  dEmb = dX1 + dX2
 *   emb = Dropout(W_word[ids]) + P(pos)    ⇒  d(position tables), d(W_word) (HF ReformerEmbeddings)
 *
 * Axes: B batch, Lp the length the layers ran on, D = hidden_size, rows = B·Lp. Parameter gradients
 * accumulate. dY1, dY2 and dEmb may be host-resident (encoder-streams.ts): the embedding backward then
 * runs on an arena copy of dEmb.
 */
import type { Float } from '../backend/backend.js';
import { onBackend, streamAdd } from '../backend/host-streams.js';
import { applyDropout } from '../nn/dropout.js';
import { wordEmbeddingBackward } from '../nn/embeddings.js';
import { positionBackward, type EncoderParts } from './embedding-stage.js';
import type { EncoderRun } from './encoder-types.js';
import { reversibleBackward, type ReversibleBlock } from './reversible.js';

/**
 * Backward of the layers and the embeddings of a training `run`, from dy1, dy2 [rows, D] (the gradients
 * at the last layer's outputs Y1, Y2; overwritten: they end as dX1, dX2). Parameter gradients ACCUMULATE
 * into `m.params`; dEmb [rows, D] receives d(loss)/d(embedding output) (HF `grad:embedding_output`,
 * = dX1 + dX2). The reversible backward consumes the run's outputs (record.y1, record.y2).
 */
export function encoderBackward(
  m: EncoderParts,
  blocks: readonly ReversibleBlock[],
  run: EncoderRun,
  dy1: Float,
  dy2: Float,
  dEmb: Float,
): void {
  const { be, cfg, params: P, prefix } = m;
  const D = cfg.hidden_size;
  const rows = run.batch * run.paddedLen;
  const n = rows * D;
  const drop = cfg.hidden_dropout_prob;
  // layers, last to first: dy1 → dX1, dy2 → dX2
  reversibleBackward(be, blocks, run.record, dy1, dy2);
  const embeddingBackward = (de: Float): void => {
    // X1 = X2 = emb  ⇒  demb = dX1 + dX2
    streamAdd(be, de, dy1, dy2, n);
    // emb = Dropout(W_word[ids]) + P(pos)
    positionBackward(m, run.positions, rows, run.paddedLen, run.batch, de, run.seeds.position, drop);
    be.scope(() => {
      let g = de;
      if (run.seeds.word !== null) {
        g = be.floats(n);
        g.set(de.subarray(0, n));
        applyDropout(g, rows, D, drop, run.seeds.word);
      }
      wordEmbeddingBackward(be, P.grad(`${prefix}embeddings.word_embeddings.weight`), D, run.ids, rows, g);
    });
  };
  if (onBackend(be, dEmb)) {
    embeddingBackward(dEmb);
    return;
  }
  // host-resident dEmbedding: the embedding backward runs on an arena copy
  be.scope(() => {
    const de = be.floats(n);
    embeddingBackward(de);
    dEmb.set(de);
  });
}
