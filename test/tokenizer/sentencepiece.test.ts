/**
 * SentencePiece against the `sentencepiece` library (0.1.97): test/fixtures/hf-pretrained/spiece.model (a
 * 320-piece unigram model trained on the novel) and spiece_cases.json — the vocabulary, 257 encode cases
 * (ids, pieces, decode) and 23 decode cases produced by the library. Every case must match exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, ShapeError } from '../../src/errors.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece/tokenizer.js';
import { expectTyped } from '../robustness/helpers.js';
import { PRETRAINED_DIR, readFixture } from '../io/hf-pretrained.js';

interface EncodeCase {
  text: string;
  ids: number[];
  pieces: string[];
  decoded: string;
  roundtrip: boolean;
}
const cases = JSON.parse(readFileSync(join(PRETRAINED_DIR, 'spiece_cases.json'), 'utf8')) as {
  vocab: { id: number; piece: string; score: number; type: string }[];
  encode_cases: EncodeCase[];
  decode_cases: { ids: number[]; decoded: string }[];
  special_ids: { unk: number; bos: number; eos: number; pad: number };
};
const tok = SentencePieceTokenizer.fromModelBytes(readFixture('spiece.model'));
const TYPES = ['', 'normal', 'unknown', 'control', 'user_defined', 'unused', 'byte'];

describe('SentencePiece model file (protobuf ModelProto)', () => {
  it('reads the 320 pieces with their scores and types, and the special ids', () => {
    expect(tok.vocabSize).toBe(320);
    expect(cases.vocab.length).toBe(320);
    for (const v of cases.vocab) {
      const p = tok.proto.pieces[v.id]!;
      expect(p.piece, `piece ${v.id}`).toBe(v.piece);
      expect(p.score, `score ${v.id}`).toBe(Math.fround(v.score));
      expect(TYPES[p.type], `type ${v.id}`).toBe(v.type);
    }
    const t = tok.proto.trainerSpec;
    expect([t.unkId, t.bosId, t.eosId, t.padId]).toEqual([
      cases.special_ids.unk,
      cases.special_ids.bos,
      cases.special_ids.eos,
      cases.special_ids.pad,
    ]);
    expect(t.unkSurface).toBe(' \u2047 ');
    expect(tok.proto.normalizerSpec.name).toBe('nmt_nfkc');
    expect(tok.proto.normalizerSpec.escapeWhitespaces).toBe(true); // absent from the file: the proto2 default
    expect(tok.eosId).toBe(2);
    expect(tok.padId).toBe(0); // no pad piece (pad_id -1): the unknown id
  });
});

describe(`encode: ${cases.encode_cases.length} cases of the sentencepiece library`, () => {
  it('every case gives the library ids and pieces, and decode(ids) gives its decoded text', () => {
    const failures: string[] = [];
    for (const c of cases.encode_cases) {
      const got = tok.encodeWithPieces(c.text);
      const ok =
        JSON.stringify(Array.from(got.ids)) === JSON.stringify(c.ids) &&
        JSON.stringify(got.pieces) === JSON.stringify(c.pieces) &&
        tok.decode(c.ids) === c.decoded;
      if (!ok) failures.push(`${JSON.stringify(c.text)}: ids ${JSON.stringify(Array.from(got.ids))} pieces ${JSON.stringify(got.pieces)}`);
    }
    expect(failures, failures.slice(0, 5).join('\n')).toEqual([]);
    // the cases do exercise unknowns and non-round-trips
    expect(cases.encode_cases.filter((c) => c.ids.includes(0)).length).toBe(61);
    expect(cases.encode_cases.filter((c) => c.roundtrip).length).toBe(169);
  });

  it('the same ids from UTF-8 bytes as from the string', () => {
    for (const c of cases.encode_cases.slice(0, 40)) expect(Array.from(tok.encode(new TextEncoder().encode(c.text)))).toEqual(c.ids);
  });
});

describe(`decode: ${cases.decode_cases.length} cases of the sentencepiece library`, () => {
  it('every id list decodes to the library text', () => {
    for (const c of cases.decode_cases) expect(tok.decode(c.ids), JSON.stringify(c.ids)).toBe(c.decoded);
  });

  it('streaming decode (one id at a time) gives the same text; with a prompt as context, its continuation keeps its space', () => {
    for (const c of [...cases.decode_cases, ...cases.encode_cases.map((e) => ({ ids: e.ids, decoded: e.decoded }))]) {
      const d = tok.streamDecoder();
      let s = '';
      for (const id of c.ids) s += d.push(id);
      expect(s + d.flush()).toBe(c.decoded);
    }
    const prompt = tok.encode('Sonia');
    const next = tok.encode('the');
    const d = tok.streamDecoder(prompt);
    expect(d.push(next[0]!)).toBe(' the'); // "▁the" after visible text
    expect(tok.decode([...prompt, ...next])).toBe('Sonia the');
  });

  it('ids outside the vocabulary are a ShapeError naming the id and its index', () => {
    expectTyped(() => tok.decode([5, 320]), ShapeError, /token id 320 at index 1 is outside the vocabulary \[0, 320\)/);
    expectTyped(() => tok.decode([-1]), ShapeError, /token id -1 at index 0/);
  });
});

describe('malformed .model files', () => {
  const model = readFixture('spiece.model');
  it('truncated, empty, or not a model: FormatError naming the file', () => {
    for (const n of [0, 1, 10, 1000, model.length - 3]) {
      expectTyped(() => SentencePieceTokenizer.fromModelBytes(model.subarray(0, n), 'x/spiece.model'), FormatError, /^x\/spiece\.model: /);
    }
    expectTyped(() => SentencePieceTokenizer.fromModelBytes(new TextEncoder().encode('{"not": "a model"}')), FormatError, /spiece\.model/);
  });
});
