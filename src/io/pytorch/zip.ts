/**
 * A reader of the ZIP archives `torch.save` writes (PyTorch ≥ 1.6, `_use_new_zipfile_serialization`):
 * PKWARE APPNOTE.TXT 6.3, restricted to what torch produces and reads: **stored** entries (method 0, no
 * compression, no encryption), one disk, optionally ZIP64 (archives or entries ≥ 4 GiB).
 *
 * Entries are zero-copy views into the input (`Uint8Array.subarray`). Every number read from the file
 * (entry count, directory offset and size, local header offsets, name and extra lengths, sizes) is
 * checked against the input's bounds before use, and the loop over the central directory is bounded
 * by its size, so nothing is allocated from an untrusted count; the only allocations are the entry
 * names and the map. CRC-32 of each entry is verified (default), so a flipped bit in a tensor shows up
 * as a FormatError instead of a silently different weight.
 *
 * Why not a ZIP library: fflate (the obvious choice) copies every stored entry (a second copy of a
 * multi-GB checkpoint), does not check that an entry lies inside the file (a truncated archive yields
 * short data), and loops over the entry count the file claims; wrapping it safely would re-implement
 * these checks. A stored-only reader is this file.
 */
import { FormatError } from '../../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;

/** One archive member: its name and its bytes (a view into the archive). */
export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

export interface ReadZipOptions {
  /** Verify each entry's CRC-32 (default true). */
  readonly verifyCrc?: boolean;
  /** Prefix of error messages (default `zip`). */
  readonly where?: string;
}

/** True if `bytes` starts like a ZIP archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * The entries of a ZIP archive by name, in central-directory order.
 * @throws FormatError: no end-of-central-directory record, a record or entry outside the file,
 *   a compressed or encrypted entry, a duplicate name, a CRC mismatch, a multi-disk archive.
 */
export function readZip(bytes: Uint8Array, options: ReadZipOptions = {}): Map<string, ZipEntry> {
  const where = options.where ?? 'zip';
  const fail = (msg: string): never => {
    throw new FormatError(`${where}: ${msg}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  const u16 = (at: number): number => dv.getUint16(at, true);
  const u32 = (at: number): number => dv.getUint32(at, true);
  const u64 = (at: number, what: string): number => {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is beyond any file size`);
    return Number(v);
  };

  // ---- end of central directory: the last signature within the final 22 + 65535 bytes
  if (n < EOCD_SIZE) fail(`${n} bytes is too short for a ZIP archive (no end-of-central-directory record)`);
  let eocd = -1;
  for (let at = n - EOCD_SIZE; at >= Math.max(0, n - EOCD_SIZE - MAX_COMMENT); at--) {
    if (u32(at) === SIG_EOCD && at + EOCD_SIZE + u16(at + 20) === n) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (truncated file, or not a ZIP archive)');
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) {
    if (u16(eocd + 4) !== 0xffff) fail('multi-disk archives are not supported');
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let cdLimit = eocd; // the central directory ends before the EOCD (or the ZIP64 records)
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== SIG_EOCD64_LOCATOR) fail('ZIP64 values without a ZIP64 end-of-central-directory locator');
    const at = u64(loc + 8, 'ZIP64 end-of-central-directory offset');
    if (at + 56 > loc || u32(at) !== SIG_EOCD64) fail(`no ZIP64 end-of-central-directory record at offset ${at}`);
    count = u64(at + 32, 'ZIP64 entry count');
    cdSize = u64(at + 40, 'ZIP64 central directory size');
    cdOffset = u64(at + 48, 'ZIP64 central directory offset');
    cdLimit = at;
  }
  if (cdOffset + cdSize > cdLimit) {
    fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end at ${cdLimit} (truncated or corrupted file)`);
  }
  if (count * CENTRAL_SIZE > cdSize) fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);

  // ---- central directory
  const names = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  let at = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > cdEnd || u32(at) !== SIG_CENTRAL) fail(`central directory entry ${i} at offset ${at} is damaged`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    let csize = u32(at + 20);
    let usize = u32(at + 24);
    const nameLen = u16(at + 28);
    const extraLen = u16(at + 30);
    const commentLen = u16(at + 32);
    let local = u32(at + 42);
    const next = at + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLen));
    // ZIP64 extended information: the 8-byte values of the fields that hold 0xFFFFFFFF, in this order
    if (usize === 0xffffffff || csize === 0xffffffff || local === 0xffffffff) {
      let x = at + CENTRAL_SIZE + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = u16(x);
        const len = u16(x + 2);
        if (x + 4 + len > xEnd) break;
        if (id === 0x0001) {
          let p = x + 4;
          const take = (what: string): number => {
            if (p + 8 > x + 4 + len) fail(`entry "${name}": ZIP64 extra field too short for the ${what}`);
            const v = u64(p, `entry "${name}" ${what}`);
            p += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = take('uncompressed size');
          if (csize === 0xffffffff) csize = take('compressed size');
          if (local === 0xffffffff) local = take('local header offset');
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) fail(`entry "${name}": 32-bit fields say ZIP64 but there is no ZIP64 extra field`);
    }
    if (flags & 0x1) fail(`entry "${name}" is encrypted`);
    if (method !== 0) {
      fail(
        `entry "${name}" is compressed (method ${method}); torch.save stores entries uncompressed: ` +
          're-save the checkpoint with torch.save instead of re-zipping it',
      );
    }
    if (csize !== usize) fail(`entry "${name}" is stored but its sizes differ (${csize} vs ${usize})`);
    // the data begins after the LOCAL header, whose extra field differs from the central one (torch pads it)
    if (local + LOCAL_SIZE > cdOffset || u32(local) !== SIG_LOCAL) fail(`entry "${name}": no local file header at offset ${local}`);
    const begin = local + LOCAL_SIZE + u16(local + 26) + u16(local + 28);
    if (begin + csize > cdOffset) {
      fail(`entry "${name}": its ${csize} bytes at offset ${begin} run past the central directory at ${cdOffset} (truncated file?)`);
    }
    if (entries.has(name)) fail(`entry "${name}" appears twice`);
    const data = bytes.subarray(begin, begin + csize);
    if ((options.verifyCrc ?? true) && crc32(data) !== crc) {
      fail(`entry "${name}": CRC-32 mismatch (the file is corrupted)`);
    }
    entries.set(name, { name, data });
    at = next;
  }
  return entries;
}

/** CRC-32 tables for slicing by 8 (table k: the CRC of a byte followed by k zero bytes), built once at load. */
const CRC_TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++)
    for (let k = 1; k < 8; k++) t[k * 256 + i] = (t[(k - 1) * 256 + i]! >>> 8) ^ t[t[(k - 1) * 256 + i]! & 0xff]!;
  return t;
})();

/** CRC-32 (ISO-HDLC, the ZIP checksum) of `data`, 8 bytes per step. */
export function crc32(data: Uint8Array): number {
  const t = CRC_TABLES;
  let c = 0xffffffff;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (; i < n8; i += 8) {
    const a = c ^ dv.getUint32(i, true);
    const b = dv.getUint32(i + 4, true);
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + (b & 0xff)]! ^
      t[512 + ((b >>> 8) & 0xff)]! ^
      t[256 + ((b >>> 16) & 0xff)]! ^
      t[b >>> 24]!;
  }
  for (; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
