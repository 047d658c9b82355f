/**
 * A 64-bit content hash of numeric arrays (two 32-bit FNV-1a lanes with different offsets), as 16 hex
 * digits: the browser tests compare the browser's and Node's results bit for bit by comparing these.
 * Not cryptographic; the bytes hashed are the arrays' little-endian storage (what a Float32Array holds
 * in memory), so two arrays hash equal iff every bit is equal (up to a collision).
 */

/** Hash of the bytes of `arrays` in order (each array's length is mixed in, so [a, b] ≠ [ab]). */
export function hashArrays(arrays: readonly (ArrayBufferView | readonly number[])[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  const mix = (byte: number): void => {
    h1 = Math.imul(h1 ^ byte, 0x01000193);
    h2 = Math.imul(h2 ^ byte, 0x01000193) ^ (h2 >>> 15);
  };
  for (const a of arrays) {
    const view = ArrayBuffer.isView(a) ? a : Float64Array.from(a);
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const n = bytes.length;
    for (let s = 0; s < 32; s += 8) mix((n >>> s) & 0xff);
    for (let i = 0; i < n; i++) mix(bytes[i]!);
  }
  const hex = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
  return hex(h1) + hex(h2);
}
