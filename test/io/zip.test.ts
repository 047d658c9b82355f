/** The stored-only ZIP reader (src/io/pytorch/zip.ts): CRC-32 against known values, entries, refusals. */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { crc32, readZip } from '../../src/io/pytorch/zip.js';
import { zipStored } from '../helpers/torch-writer.js';
import { expectTyped } from '../robustness/helpers.js';

describe('crc32', () => {
  it('is the ZIP checksum (check value of "123456789", and node:zlib on random lengths)', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    for (const n of [1, 7, 8, 9, 63, 64, 1000, 4097]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      expect(crc32(b), `length ${n}`).toBe(zlibCrc32(b));
    }
  });
});

describe('readZip', () => {
  it('returns every entry as a view of the archive', () => {
    const a = new TextEncoder().encode('hello');
    const z = zipStored([
      ['x/a', a],
      ['x/b', new Uint8Array(0)],
    ]);
    const e = readZip(z);
    expect([...e.keys()]).toEqual(['x/a', 'x/b']);
    expect(new TextDecoder().decode(e.get('x/a')!.data)).toBe('hello');
    expect(e.get('x/a')!.data.buffer).toBe(z.buffer);
  });

  it('refuses a truncated archive, a compressed entry and a duplicate name', () => {
    const z = zipStored([['a', new Uint8Array(10)]]);
    expectTyped(() => readZip(z.subarray(0, z.length - 1), { where: 'f.bin' }), FormatError, /^f\.bin: no end-of-central-directory record/);
    const deflated = z.slice();
    const cd = deflated.length - 22 - 46 - 1; // the central header of the only entry
    new DataView(deflated.buffer).setUint16(cd + 10, 8, true);
    expectTyped(() => readZip(deflated), FormatError, /entry "a" is compressed \(method 8\)/);
    expectTyped(
      () =>
        readZip(
          zipStored([
            ['a', new Uint8Array(1)],
            ['a', new Uint8Array(1)],
          ]),
        ),
      FormatError,
      /entry "a" appears twice/,
    );
  });
});
