/** Corpus preparation: UTF-8 text, FASTA (single and multi-record), gzip, and rejection of unusable data. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { firstInvalidUtf8, gunzip, isGzip, parseFasta, prepareCorpus } from '../../src/train/corpus.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
/** The project's shared real data sets (outside the repository; absent on a clean clone). */
const SHARED = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');
const HAS_SHARED = existsSync(join(SHARED, 'lambda-phage', 'lambda_virus.fa'));

describe('text', () => {
  it('keeps UTF-8 text byte for byte', () => {
    const text = 'Raskolnikov \u201cwalked\u201d\n\tslowly \u2014 ï é\r\n';
    const c = prepareCorpus(enc(text));
    expect(c.format).toBe('text');
    expect(dec(c.bytes)).toBe(text);
  });

  it('rejects empty data', () => {
    expect(() => prepareCorpus(new Uint8Array(0), { name: 'x.txt' })).toThrow(/x\.txt: is empty \(0 bytes\)/);
  });

  it('rejects binary data, saying what was found', () => {
    const bin = new Uint8Array(1000);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 37) % 256;
    expect(() => prepareCorpus(bin, { name: 'blob' })).toThrow(FormatError);
    expect(() => prepareCorpus(bin, { name: 'blob' })).toThrow(/looks like binary data.*NUL byte.*first at byte 0: 0x00/);
    // a single NUL in otherwise fine text is enough
    const t = enc('hello world, this is text');
    t[5] = 0;
    expect(() => prepareCorpus(t)).toThrow(/1 NUL byte and 0 other control bytes in 25 bytes \(first at byte 5/);
    // many control characters
    const ctl = enc('a\x01b\x02c\x03d');
    expect(() => prepareCorpus(ctl)).toThrow(/3 other control bytes/);
  });

  it('rejects gzip bytes with a hint and invalid UTF-8 with the offset', () => {
    expect(() => prepareCorpus(gzipSync(enc('hi')))).toThrow(/gzip-compressed.*decompress it first/);
    const latin1 = Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café" in Latin-1
    expect(() => prepareCorpus(latin1, { name: 'l1.txt' })).toThrow(/l1\.txt: invalid UTF-8 at byte 3 \(0xe9\)/);
  });

  it('firstInvalidUtf8 agrees with a fatal TextDecoder on random bytes', () => {
    for (let seed = 0; seed < 200; seed++) {
      const bytes = Uint8Array.from({ length: 12 }, (_, i) => (seed * 131 + i * 71 + ((seed * i) % 7) * 29) % 256);
      let valid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        valid = false;
      }
      expect(firstInvalidUtf8(bytes) < 0).toBe(valid);
    }
    expect(firstInvalidUtf8(enc('\u{1F600}\u00e9\u20ac'))).toBe(-1);
    expect(firstInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(0); // surrogate
    expect(firstInvalidUtf8(Uint8Array.from([0x41, 0xc0, 0x80]))).toBe(1); // overlong
    expect(firstInvalidUtf8(Uint8Array.from([0x41, 0xe2, 0x82]))).toBe(1); // truncated
  });
});

describe('FASTA', () => {
  it('strips headers, comments and line breaks, keeps bases (case kept), concatenates records', () => {
    const fasta = '>seq1 first\nACGT\nacgn\r\n;comment\n\n>seq2\nTT-A*\n  GG\n';
    const { sequence, records } = parseFasta(enc(fasta));
    expect(dec(sequence)).toBe('ACGTacgnTT-A*GG');
    expect(records).toBe(2);
    const c = prepareCorpus(enc(fasta));
    expect(c.format).toBe('fasta');
    expect(c.summary).toBe('fasta, 2 records, 15 bases (4 lowercase; 1 ambiguity code)');
    expect(c.letters).toEqual({ byLetter: { '*': 1, '-': 1, A: 2, C: 1, G: 3, T: 3, a: 1, c: 1, g: 1, n: 1 }, lowercase: 4, ambiguous: 1 });
  });

  it('soft-masking and IUPAC codes: case upper folds lowercase; ambiguous n writes every code as N, drop removes them', () => {
    const fasta = enc('>chr1\nACGTacgtNNRYkm\n>chr2\nttUuBDHV-S\n');
    const seq = (o: Parameters<typeof prepareCorpus>[1]): string => dec(prepareCorpus(fasta, o).bytes);
    expect(seq({})).toBe('ACGTacgtNNRYkmttUuBDHV-S');
    expect(seq({ fasta: { case: 'upper' } })).toBe('ACGTACGTNNRYKMTTUUBDHV-S');
    expect(seq({ fasta: { ambiguous: 'n' } })).toBe('ACGTacgtNNNNnnttUuNNNN-N');
    expect(seq({ fasta: { ambiguous: 'drop' } })).toBe('ACGTacgtttUu-');
    expect(seq({ fasta: { case: 'upper', ambiguous: 'n' } })).toBe('ACGTACGTNNNNNNTTUUNNNN-N');
    const c = prepareCorpus(fasta, { fasta: { case: 'upper', ambiguous: 'n' } });
    expect(c.summary).toBe(
      'fasta, 2 records, 24 bases (9 lowercase folded to uppercase; 9 ambiguity codes written as N; 11 ambiguity codes)',
    );
    expect(c.letters!.lowercase).toBe(0);
    expect(c.letters!.byLetter).toEqual({ '-': 1, A: 2, C: 2, G: 2, N: 11, T: 4, U: 2 });
    // text is never touched
    expect(dec(prepareCorpus(enc('acgt NRY'), { format: 'text', fasta: { case: 'upper', ambiguous: 'drop' } }).bytes)).toBe('acgt NRY');
  });

  it('unknown FASTA options or values are ConfigErrors naming the allowed ones', () => {
    const fasta = enc('>x\nACGT\n');
    expect(() => prepareCorpus(fasta, { fasta: { case: 'lower' as never } })).toThrow(
      'fasta: case must be one of keep, upper, got string "lower"',
    );
    expect(() => prepareCorpus(fasta, { fasta: { ambiguous: 'N' as never } })).toThrow(
      'fasta: ambiguous must be one of keep, n, drop, got string "N"',
    );
    expect(() => prepareCorpus(fasta, { fasta: { softmask: 'upper' } as never })).toThrow(
      'fasta: "softmask" is not a FASTA option (its options: case, ambiguous)',
    );
    expect(() => prepareCorpus(enc('>x\nNNNN\n'), { fasta: { ambiguous: 'drop' } })).toThrow(
      /no sequence letters are left after dropping the ambiguity codes/,
    );
  });

  it.skipIf(!HAS_SHARED)('parses the real lambda phage genome to its 48,502 bases (needs ../shared/data)', () => {
    const c = prepareCorpus(new Uint8Array(readFileSync(join(SHARED, 'lambda-phage', 'lambda_virus.fa'))), { name: 'lambda' });
    expect(c.bytes.length).toBe(48502);
    expect(dec(c.bytes.subarray(0, 20))).toBe('GGGCGGCGACCTCGCGGGTT');
    expect(new Set(c.bytes)).toEqual(new Set(enc('ACGT')));
  });

  it('rejects FASTA without sequence, with data before the header, or with non-sequence characters', () => {
    expect(() => prepareCorpus(enc('>only a header\n\n'))).toThrow(/1 header line but no sequence letters/);
    expect(() => prepareCorpus(enc('ACGT\n>h\nAC\n'), { format: 'fasta' })).toThrow(/line 1 comes before the first '>' header/);
    expect(() => prepareCorpus(enc('>h\nACGT\nAC1T\n'))).toThrow(/FASTA line 3 holds '1' \(0x31\)/);
  });
});

describe('gzip', () => {
  it('a gzipped multi-record FASTA decompresses (DecompressionStream) and parses', async () => {
    const records = Array.from({ length: 5 }, (_, r) => `>chr${r} test\n${'ACGTTGCA'.repeat(20 + r).replace(/(.{60})/g, '$1\n')}\n`).join(
      '',
    );
    const c = prepareCorpus(await gunzip(gzipSync(enc(records))));
    expect(c.records).toBe(5);
    expect(c.bytes.length).toBe(8 * (20 + 21 + 22 + 23 + 24));
  });

  it('gunzip (DecompressionStream) restores the bytes; isGzip sees the magic number', async () => {
    const text = 'Crime and Punishment\n'.repeat(100);
    const gz = gzipSync(enc(text));
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(enc(text))).toBe(false);
    expect(dec(await gunzip(gz))).toBe(text);
  });

  it.skipIf(!HAS_SHARED)('decompresses the real E. coli FASTA.gz to 4,639,675 bases (needs ../shared/data)', async () => {
    const gz = new Uint8Array(readFileSync(join(SHARED, 'ecoli-k12-mg1655', 'MG1655-K12.fasta.gz')));
    const c = prepareCorpus(await gunzip(gz));
    expect(c.bytes.length).toBe(4_639_675);
    expect(c.records).toBe(1);
  });

  it('corrupt gzip is a FormatError', async () => {
    const gz = gzipSync(enc('hello hello hello'));
    gz[gz.length - 6] = gz[gz.length - 6]! ^ 0xff; // break the CRC
    await expect(gunzip(gz, 'bad.gz')).rejects.toThrow(/bad\.gz: not valid gzip data/);
  });
});
