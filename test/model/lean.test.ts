/**
 * The streamed paths at a length where every stream is cut into several blocks (8256 tokens: two
 * LEAN_BLOCK_ROWS blocks and a partial one in the attention, the feed-forward and the output rows), on
 * the WASM backend with freed memory poisoned with NaN (a view used after its scope would poison the
 * result): the evaluation loss and logits equal the cached path, the streamed training step gives
 * the gradients of forward + backward, and the streamed loss needs less memory than the materialised
 * evaluation (and no more than its estimate).
 */
import { describe, expect, it } from 'vitest';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { estimateMemory } from '../../src/model/memory/estimate.js';
import { lmHeadForward, lmHeadLoss } from '../../src/nn/lm-head.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../../spec/helpers/close.js';

const be = loadWasmBackendSync({ threads: 1, poisonFreed: true });
const L = 8256; // 64·129
const config = new ReformerConfig({
  vocab_size: 32,
  hidden_size: 16,
  num_attention_heads: 2,
  attention_head_size: 8,
  feed_forward_size: 32,
  attn_layers: ['local', 'lsh', 'lsh'],
  lsh_attn_chunk_length: 32,
  local_attn_chunk_length: 64,
  lsh_num_chunks_before: 1,
  local_num_chunks_before: 1,
  num_hashes: 3,
  num_buckets: 64,
  is_decoder: true,
  axial_pos_embds: true,
  axial_pos_shape: [64, 129],
  axial_pos_embds_dim: [8, 8],
  max_position_embeddings: L,
  hidden_dropout_prob: 0,
  local_attention_probs_dropout_prob: 0,
  initializer_range: 0.2,
});
const rng = new Rng(3);
const ids = new Int32Array(L).map(() => rng.int(32));
const batch = { inputIds: ids, batch: 1, seqLen: L };
/** f32, summed in different orders over thousands of rows. */
const TOL = { atol: 2e-5, rtol: 2e-4 } as const;

describe(`streamed model paths at ${L} tokens (WASM, poisoned freed memory)`, () => {
  it('evaluation loss and logits == LM head on the cached (training-mode, dropout 0) forward', () => {
    be.scope(() => {
      const lean = new ReformerModelWithLMHead(be, config, { seed: 5 });
      const cached = new ReformerModelWithLMHead(be, config, { seed: 5 });
      const enc = cached.reformer.forward({ ...batch, training: true });
      const P = cached.parameters;
      const w = { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') };
      const want = lmHeadLoss(be, w, enc.output, 1, L, 32, 32, ids, 0, null);
      const got = lean.loss(batch);
      expect(got.tokens).toBe(L - 1);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * want.loss);
      const wantLogits = be.floats(L * 32);
      lmHeadForward(be, w, enc.output, L, 32, 32, 0, wantLogits);
      expectClose(new ReformerModelWithLMHead(be, config, { seed: 5 }).logits(batch), wantLogits, TOL, 'logits');
    });
  });

  it('streamed training step == forward + backward (loss, every gradient)', () => {
    be.scope(() => {
      const a = new ReformerModelWithLMHead(be, config, { seed: 6 });
      const b = new ReformerModelWithLMHead(be, config, { seed: 6 });
      const streamed = a.forwardBackward(batch);
      const enc = b.reformer.forward({ ...batch, training: true });
      const P = b.parameters;
      const dOut = be.floats(L * 32);
      const want = lmHeadLoss(
        be,
        { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') },
        enc.output,
        1,
        L,
        32,
        32,
        ids,
        0,
        {
          weight: P.grad('lm_head.decoder.weight'),
          bias: P.grad('lm_head.bias'),
          dh: dOut,
        },
      );
      const dEmb = b.reformer.backward(enc, dOut);
      expect(Math.abs(streamed.loss - want.loss)).toBeLessThan(1e-5 * want.loss);
      expectClose(streamed.dEmbedding, dEmb, { atol: 1e-7, rtol: 2e-3 }, 'dEmbedding');
      const scale = Math.max(...Array.from(b.grads, Math.abs));
      expectClose(a.grads, b.grads, { atol: 2e-4 * scale, rtol: 2e-3 }, 'parameter gradients');
    });
  });

  it('the streamed loss peaks below the materialised forward and within its estimate', () => {
    be.scope(() => {
      const m = new ReformerModelWithLMHead(be, config, { seed: 7 });
      const start = be.arena.liveBytes;
      be.arena.resetPeak();
      be.scope(() => m.loss(batch));
      const streamed = be.arena.peakBytes - start;
      be.arena.resetPeak();
      be.scope(() => m.evaluate(batch)); // materialised output, logits and loss
      const materialised = be.arena.peakBytes - start;
      expect(streamed).toBeLessThan(materialised);
      expect(be.arena.liveBytes - start).toBe(0);
      const est = estimateMemory(config, { batch: 1, seqLen: L, mode: 'forward' });
      expect(streamed).toBeLessThanOrEqual(est.bytes - est.parameterBytes);
    });
  });
});
