import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'hf-reformer');

describe('safetensors', () => {
  it('parses every HF fixture and agrees with its JSON description', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors'));
    expect(files.length).toBeGreaterThan(15);
    for (const f of files) {
      const st = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, f))));
      const desc = JSON.parse(readFileSync(join(FIXTURES, f.replace('.safetensors', '.json')), 'utf8'));
      for (const [name, info] of Object.entries(desc.tensors as Record<string, { dtype: string; shape: number[] }>)) {
        const e = st.entry(name);
        expect(e.dtype).toBe(info.dtype);
        expect(e.shape).toEqual(info.shape);
      }
    }
  });

  it('round-trips tensors and metadata', () => {
    const a = new Float32Array([1.5, -2, 3.25, Math.fround(0.1)]);
    const b = new Int32Array([7, -8, 2 ** 31 - 1]);
    const bytes = serializeSafetensors(
      [
        { name: 'a', shape: [2, 2], data: a },
        { name: 'b', shape: [3], data: b, dtype: 'I64' },
      ],
      { format: 'pt' },
    );
    const st = parseSafetensors(bytes);
    expect(st.float32('a', [2, 2])).toEqual(a);
    expect(st.int32('b')).toEqual(b);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect((new DataView(bytes.buffer).getUint32(0, true) + 8) % 8).toBe(0);
  });

  it('rejects a header length larger than the file', () => {
    const bytes = serializeSafetensors([{ name: 'a', shape: [1], data: new Float32Array(1) }]);
    new DataView(bytes.buffer).setUint32(0, 1e6, true);
    expect(() => parseSafetensors(bytes)).toThrow(FormatError);
    expect(() => parseSafetensors(bytes)).toThrow(/header length 1000000 is larger/);
  });
});
