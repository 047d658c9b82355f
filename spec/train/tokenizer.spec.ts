/** Laws of the byte-level tokenizer (HF google/reformer-enwik8: id = byte + 2, 0 = padding). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';

const tok = new ByteTokenizer();

describe('ByteTokenizer', () => {
  it('decodeBytes(encode(bytes)) == bytes for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(tok.decodeBytes(tok.encode(bytes))).toEqual(bytes);
      }),
    );
  });

  it('decode(encode(text)) == text for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (text) => {
        expect(tok.decode(tok.encode(text))).toBe(text);
      }),
    );
  });

  it('ids are byte + 2, inside [2, 258)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const ids = tok.encode(bytes);
        ids.forEach((id, i) => {
          expect(id).toBe(bytes[i]! + 2);
        });
      }),
    );
    expect(Array.from(tok.encode('Hi'))).toEqual([72 + 2, 105 + 2]);
    expect(tok.vocabSize).toBe(258);
  });

  it('special ids (< 2) decode to nothing, wherever they are', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, positions) => {
        const ids = Array.from(tok.encode(bytes));
        for (const p of positions) ids.splice(p % (ids.length + 1), 0, p % 2);
        expect(tok.decodeBytes(ids)).toEqual(bytes);
      }),
    );
  });

  it('the stream decoder yields the same text as decode, for any split of a string into tokens', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        const d = tok.streamDecoder();
        let out = '';
        for (const id of tok.encode(text)) out += d.push(id);
        out += d.flush();
        expect(out).toBe(text);
      }),
    );
  });

  it('invalid UTF-8 decodes with U+FFFD and out-of-vocabulary ids throw ShapeError', () => {
    expect(tok.decode([0xff + 2, 0x41 + 2])).toBe('\uFFFDA');
    expect(() => tok.decode([258])).toThrow(ShapeError);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary \[0, 258\)/);
  });
});
