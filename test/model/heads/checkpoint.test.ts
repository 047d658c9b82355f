/**
 * Checkpoints of the task heads. The HF fixtures hold each head's real `state_dict()` (every tensor
 * without a `phase:` prefix, written by transformers itself), so what we save is compared with HF's
 * names and shapes exactly; HF-style folders made of those tensors load here and give HF's logits.
 * Also: the class comes from `architectures` (an unknown one is a clear error), the label fields are
 * written as HF writes them, and a pretrained encoder starts a new head.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../src/backend/reference.js';
import { ReformerConfig } from '../../../src/config/reformer-config.js';
import { ConfigError, FormatError } from '../../../src/errors.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../../src/io/safetensors.js';
import { lmCheckpointToBytes } from '../../../src/model/checkpoint.js';
import { architectureOf, checkpointToBytes, loadPretrainedWeights, modelFromCheckpoint } from '../../../src/model/heads/checkpoint.js';
import { ReformerForMaskedLM } from '../../../src/model/heads/masked-lm.js';
import { ReformerForQuestionAnswering } from '../../../src/model/heads/question-answering.js';
import { ReformerForSequenceClassification } from '../../../src/model/heads/sequence-classification.js';
import { withLabels } from '../../../src/model/heads/task-config.js';
import { ReformerModelWithLMHead } from '../../../src/model/lm-model.js';
import { loadFixture } from '../../../spec/helpers/fixtures.js';

const CASES = {
  head_mlm_lsh_local_b1a1_pad: ReformerForMaskedLM,
  head_seqcls_3labels_pad: ReformerForSequenceClassification,
  head_qa_lsh_local_clamp: ReformerForQuestionAnswering,
} as const;

/** HF's state_dict of a fixture: name → shape (tensors without a `phase:` prefix). */
function hfStateDict(t: SafetensorsFile): Map<string, readonly number[]> {
  return new Map(
    t
      .names()
      .filter((n) => !n.includes(':'))
      .map((n) => [n, t.entry(n).shape]),
  );
}

/** An HF folder's two files made of a fixture's state_dict and its config with `architectures`. */
function hfFolder(name: string, arch: string | null): { config: string; safetensors: Uint8Array } {
  const f = loadFixture(name);
  const tensors = [...hfStateDict(f.tensors)].map(([n, shape]) => ({ name: n, shape, data: f.tensors.float32(n) }));
  const config = { ...f.json.config, ...(arch ? { architectures: [arch] } : {}) };
  return { config: JSON.stringify(config), safetensors: serializeSafetensors(tensors, { format: 'pt' }) };
}

function rotations(name: string, config: ReformerConfig): Array<Float32Array | null> {
  const f = loadFixture(name);
  return config.attn_layers.map((_, i) =>
    f.tensors.has(`cap:eval.layers.${i}.rotations`) ? f.tensors.float32(`cap:eval.layers.${i}.rotations`) : null,
  );
}

describe('task-head checkpoints', () => {
  const be = new ReferenceBackend();

  for (const [name, Cls] of Object.entries(CASES)) {
    it(`${Cls.name}: saved names and shapes are exactly HF's state_dict (${name})`, () => {
      const f = loadFixture(name);
      const model = new Cls(be, ReformerConfig.fromJSON(f.json.config));
      const files = checkpointToBytes(model);
      const saved = parseSafetensors(files.safetensors);
      const ours = new Map(saved.names().map((n) => [n, saved.entry(n).shape]));
      const hf = hfStateDict(f.tensors);
      expect([...ours.keys()].sort()).toEqual([...hf.keys()].sort());
      for (const [n, shape] of hf) expect(ours.get(n), n).toEqual(shape);
      expect(saved.metadata.format).toBe('pt'); // transformers' safetensors loader requires it
      const config = JSON.parse(new TextDecoder().decode(files.config));
      expect(config.architectures).toEqual([Cls.name]);
      expect(config.model_type).toBe('reformer');
    });

    it(`an HF folder of ${Cls.name} loads by its architectures and gives HF's logits`, () => {
      const folder = hfFolder(name, Cls.name);
      const model = modelFromCheckpoint(be, folder);
      expect(model).toBeInstanceOf(Cls);
      const f = loadFixture(name);
      const config = ReformerConfig.fromJSON(f.json.config);
      const [B, L] = f.tensors.entry('in:input_ids').shape as [number, number];
      const batch = {
        inputIds: f.tensors.int32('in:input_ids'),
        batch: B,
        seqLen: L,
        attentionMask: f.tensors.has('in:attention_mask') ? f.tensors.int32('in:attention_mask') : null,
      };
      const call = { rotations: rotations(name, config) };
      let got: ArrayLike<number>;
      let want: Float32Array;
      if (model instanceof ReformerForQuestionAnswering) {
        got = model.logits(batch, call).start;
        want = f.tensors.float32('out:eval.start_logits');
      } else {
        got = (model as ReformerForMaskedLM | ReformerForSequenceClassification).logits(batch, call);
        want = f.tensors.float32('out:eval.logits');
      }
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      expect(err / scale).toBeLessThan(2e-5); // the fixture rule
    });
  }

  it('without architectures the class is read from the tensor names', () => {
    expect(modelFromCheckpoint(be, hfFolder('head_seqcls_3labels_pad', null))).toBeInstanceOf(ReformerForSequenceClassification);
    expect(modelFromCheckpoint(be, hfFolder('head_qa_lsh_local_clamp', null))).toBeInstanceOf(ReformerForQuestionAnswering);
    expect(modelFromCheckpoint(be, hfFolder('head_mlm_lsh_local_b1a1_pad', null))).toBeInstanceOf(ReformerForMaskedLM);
  });

  it('an unknown architecture is one clear error naming the known classes', () => {
    const folder = hfFolder('head_seqcls_3labels_pad', 'ReformerForTokenClassification');
    expect(() => modelFromCheckpoint(be, folder)).toThrow(ConfigError);
    expect(() => modelFromCheckpoint(be, folder)).toThrow(
      /architectures: names "ReformerForTokenClassification", which this library does not build; known: ReformerModel, ReformerModelWithLMHead, ReformerForMaskedLM, ReformerForSequenceClassification, ReformerForQuestionAnswering/,
    );
    expect(() => architectureOf(new ReformerConfig({ architectures: 'Reformer' }), null)).toThrow(/must be a list of HF class names/);
  });

  it('strict loading: a masked-LM folder named as a classifier fails on the tensor names; a 3-label config cannot be QA', () => {
    const folder = hfFolder('head_mlm_lsh_local_b1a1_pad', 'ReformerForSequenceClassification');
    expect(() => modelFromCheckpoint(be, folder)).toThrow(FormatError);
    expect(() => modelFromCheckpoint(be, folder)).toThrow(/classifier.dense.weight.*is missing/);
    expect(() => modelFromCheckpoint(be, hfFolder('head_seqcls_3labels_pad', 'ReformerForQuestionAnswering'))).toThrow(
      /num_labels: is 3, but question answering has exactly two outputs/,
    );
  });

  it('the label fields are written as HF writes them, problem_type as the first labelled call resolved it', () => {
    const f = loadFixture('head_seqcls_3labels_pad');
    // hash_seed: every forward draws the same rotations, so two models' logits can be compared
    const config = withLabels(ReformerConfig.fromJSON(f.json.config).with({ hash_seed: 5 }), ['austen', 'dostoevsky', 'tolstoy']);
    const model = new ReformerForSequenceClassification(be, config);
    expect(model.problemType).toBeNull();
    const L = 32;
    const batch = { inputIds: new Int32Array(2 * L).fill(5), batch: 2, seqLen: L };
    model.evaluate(batch, new Int32Array([0, 2]));
    expect(model.problemType).toBe('single_label_classification');
    const saved = JSON.parse(new TextDecoder().decode(checkpointToBytes(model).config));
    expect(saved.id2label).toEqual({ 0: 'austen', 1: 'dostoevsky', 2: 'tolstoy' });
    expect(saved.label2id).toEqual({ austen: 0, dostoevsky: 1, tolstoy: 2 });
    expect(saved.num_labels).toBe(3); // the fixture's config had num_labels: kept in agreement
    expect(saved.problem_type).toBe('single_label_classification');
    const back = modelFromCheckpoint(be, { config: checkpointToBytes(model).config, safetensors: checkpointToBytes(model).safetensors });
    expect(back).toBeInstanceOf(ReformerForSequenceClassification);
    expect((back as ReformerForSequenceClassification).labels.names).toEqual(['austen', 'dostoevsky', 'tolstoy']);
    expect(Array.from((back as ReformerForSequenceClassification).logits(batch))).toEqual(Array.from(model.logits(batch)));
  });

  it('a pretrained causal LM starts a classifier: its encoder is copied, the head is fresh', () => {
    const f = loadFixture('head_seqcls_3labels_pad');
    const base = ReformerConfig.fromJSON(f.json.config);
    const lm = new ReformerModelWithLMHead(be, base.with({ is_decoder: true, local_num_chunks_after: 0, lsh_num_chunks_after: 0 }), {
      seed: 7,
    });
    const file = parseSafetensors(lmCheckpointToBytes(lm).safetensors);
    const clf = new ReformerForSequenceClassification(be, base, { seed: 3 });
    const before = Float64Array.from(clf.parameters.param('classifier.dense.weight'));
    const fresh = loadPretrainedWeights(clf, file);
    expect(fresh.sort()).toEqual([
      'classifier.dense.bias',
      'classifier.dense.weight',
      'classifier.out_proj.bias',
      'classifier.out_proj.weight',
    ]);
    const w = 'reformer.encoder.layers.1.attention.self_attention.query_key.weight';
    expect(Array.from(clf.parameters.param(w))).toEqual(Array.from(lm.parameters.param(w)));
    expect(Array.from(clf.parameters.param('classifier.dense.weight'))).toEqual(Array.from(before));
    const bad = parseSafetensors(
      serializeSafetensors([{ name: 'reformer.embeddings.word_embeddings.weight', shape: [2, 2], data: new Float32Array(4) }]),
    );
    expect(() => loadPretrainedWeights(clf, bad)).toThrow(/has shape \[2, 2\], the model expects \[48, 32\]/);
  });
});
