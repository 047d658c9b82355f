/**
 * Laws of the checkpoint format:
 * - config.json round trip: `fromJSON(toJSONString(c))` has the same fields, and unknown keys survive;
 * - weights round trip: model → bytes → model gives bit-identical parameters and the same outputs,
 *   and bytes → model → bytes is byte-identical;
 * - HF names and shapes: every parameter under its state_dict name, `lm_head.decoder.bias` == `lm_head.bias`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { encoderCheckpointToBytes, encoderFromCheckpoint, lmCheckpointToBytes, lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { arbTinyCase } from './arbitraries.js';
import { runs } from '../helpers/runs.js';

const be = new ReferenceBackend();

const arbExtra = fc.dictionary(
  fc.stringMatching(/^x_[a-z_]{1,8}$/), // not a Reformer field, not __proto__
  fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })),
  { maxKeys: 4 },
);

describe('config.json round trip', () => {
  it('fields identical and unknown keys kept', () => {
    fc.assert(
      fc.property(arbTinyCase(), arbExtra, (c, extra) => {
        const known = new Set(Object.keys(c.config.toJSON()));
        const extras = Object.fromEntries(Object.entries(extra).filter(([k]) => !known.has(k)));
        const withExtra = new ReformerConfig({ ...c.config.toJSON(), ...extras });
        const text = withExtra.toJSONString();
        const back = ReformerConfig.fromJSON(text);
        expect(back.toJSON()).toEqual(withExtra.toJSON());
        expect(back.toJSONString()).toBe(text);
        for (const [k, v] of Object.entries(extras)) expect(back.extra[k]).toEqual(v);
      }),
      { numRuns: runs(50) },
    );
  });
});

describe('checkpoint bytes round trip', () => {
  it('LM: parameters bit-identical, same logits, bytes identical on re-save', () => {
    fc.assert(
      fc.property(arbTinyCase({ causalOnly: true }), (c) => {
        const m = new ReformerModelWithLMHead(be, c.config, { seed: c.seed, reversible: c.seed % 2 === 0 });
        const files = lmCheckpointToBytes(m);
        const st = parseSafetensors(files.safetensors);
        // HF names and shapes, tied bias written twice
        for (const e of m.parameters.entries) expect(st.entry(e.name).shape).toEqual(e.shape);
        expect(st.float32('lm_head.decoder.bias')).toEqual(st.float32('lm_head.bias'));
        expect(st.metadata.format).toBe('pt');
        const back = lmFromCheckpoint(be, files);
        expect(back.options).toEqual(m.options);
        expect(Array.from(back.params)).toEqual(Array.from(m.params));
        const again = lmCheckpointToBytes(back);
        expect(again.safetensors).toEqual(files.safetensors);
        expect(again.config).toEqual(files.config);
        const batch = { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask };
        const rot = c.config.attn_layers.map(() => null);
        // same generator state ⇒ same rotations ⇒ same logits
        expect(Array.from(back.logits(batch, { rotations: rot }))).toEqual(Array.from(m.logits(batch, { rotations: rot })));
      }),
      { numRuns: runs(25) },
    );
  });

  it('encoder (ReformerModel names, no prefix): round trip', () => {
    fc.assert(
      fc.property(arbTinyCase(), (c) => {
        const m = new ReformerModel(be, c.config, { options: { seed: c.seed } });
        const files = encoderCheckpointToBytes(m);
        const names = parseSafetensors(files.safetensors).names();
        expect(names.every((n) => n.startsWith('embeddings.') || n.startsWith('encoder.'))).toBe(true);
        const back = encoderFromCheckpoint(be, files);
        expect(Array.from(back.parameters.params)).toEqual(Array.from(m.parameters.params));
        expect(encoderCheckpointToBytes(back).safetensors).toEqual(files.safetensors);
      }),
      { numRuns: runs(25) },
    );
  });
});
