/**
 * A bump allocator over one `WebAssembly.Memory`: every buffer of the WASM backend (weights,
 * activations, kernel scratch) is a slice of it, handed out as a typed-array view.
 *
 * - Allocations are 64-byte aligned (cache lines; v128 loads), start above the module's static data
 *   (`heapBase`), and are zeroed.
 * - `mark()` / `release(mark)` give stack discipline for `Backend.scope()`: everything allocated after
 *   the mark is freed at once. With `poisonFreed`, released bytes are filled with NaN (f32 bits
 *   0x7fc00000) so a view used after its scope reads NaN (tests use this to catch such bugs).
 * - Growth. A 32-bit WebAssembly memory addresses at most 4 GiB; a request beyond that throws
 *   `ResourceError` stating the numbers. A *shared* memory (SharedArrayBuffer) grows in place: views
 *   created before a grow stay valid, and every buffer object the memory has had is remembered so that
 *   `owns()` still accepts those views. A *non-shared* memory detaches every view when it grows, so it
 *   grows only while no allocation is live; otherwise `ResourceError` asks for a larger initial
 *   reservation (`initialMemoryBytes`) or a shared memory.
 */
import { ResourceError } from '../../errors.js';

/** Bytes per WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;
/** Pages of a 4 GiB memory: the most a 32-bit WebAssembly memory can have. */
export const WASM_MAX_PAGES = 65536;
/** 4 GiB. */
export const WASM_MAX_BYTES = WASM_PAGE_BYTES * WASM_MAX_PAGES;
/** Alignment of every allocation in bytes. */
export const ARENA_ALIGN = 64;

export interface ArenaOptions {
  /** Fill released memory with NaN to catch use after `scope()` (slower; for tests). Default false. */
  poisonFreed?: boolean;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** True if the memory is shared (its buffer is a SharedArrayBuffer): growth keeps views valid. */
  readonly shared: boolean;
  /** First allocatable byte (64-aligned, above the static data). */
  readonly base: number;
  readonly poisonFreed: boolean;
  private topByte: number;
  /** Bytes at or above this address have never been handed out (still zero, as the engine created them). */
  private highWater: number;
  /** Highest `top` since construction or the last `resetPeak()` (for memory measurements). */
  private peakTop: number;
  private readonly buffers = new Set<ArrayBufferLike>();
  private current: ArrayBufferLike;
  private f32: Float32Array;

  /**
   * @param memory the module's memory (shared or not)
   * @param heapBase first byte after the module's static data (`exports.heapBase()`)
   */
  constructor(memory: WebAssembly.Memory, heapBase: number, options: ArenaOptions = {}) {
    this.memory = memory;
    this.current = memory.buffer;
    this.shared = typeof SharedArrayBuffer !== 'undefined' && this.current instanceof SharedArrayBuffer;
    this.buffers.add(this.current);
    this.f32 = new Float32Array(this.current);
    this.base = alignUp(Math.max(heapBase, ARENA_ALIGN), ARENA_ALIGN);
    this.topByte = this.base;
    this.highWater = this.base;
    this.peakTop = this.base;
    this.poisonFreed = options.poisonFreed ?? false;
  }

  /** Next free byte. */
  get top(): number {
    return this.topByte;
  }

  /** Bytes of live allocations. */
  get liveBytes(): number {
    return this.topByte - this.base;
  }

  /**
   * High-water mark: the most bytes of live allocations (kernel scratch included) since construction
   * or the last `resetPeak()`. Measures the peak memory of a forward or a training step.
   */
  get peakBytes(): number {
    return this.peakTop - this.base;
  }

  /** Starts a new high-water measurement from the current live bytes. */
  resetPeak(): void {
    this.peakTop = this.topByte;
  }

  /** Current size of the memory in bytes. */
  get capacity(): number {
    return this.buffer.byteLength;
  }

  /** The memory's current buffer (remembered for `owns`). */
  get buffer(): ArrayBufferLike {
    const b = this.memory.buffer;
    if (b !== this.current) {
      this.current = b;
      if (!this.shared) this.buffers.clear(); // the old buffer is detached
      this.buffers.add(b);
      this.f32 = new Float32Array(b);
    }
    return b;
  }

  /** True if `arr` is a view of this memory (of any buffer object the memory has had). */
  owns(arr: ArrayBufferView): boolean {
    void this.buffer; // refresh after a grow by someone else
    return this.buffers.has(arr.buffer);
  }

  /** A zeroed f32 view of n elements. */
  floats(n: number): Float32Array {
    const ptr = this.allocZeroed(n * 4, `floats(${n})`);
    return new Float32Array(this.buffer, ptr, n);
  }

  /** A zeroed i32 view of n elements. */
  ints(n: number): Int32Array {
    const ptr = this.allocZeroed(n * 4, `ints(${n})`);
    return new Int32Array(this.buffer, ptr, n);
  }

  /**
   * Reserves `bytes` (64-aligned start) and returns its address; the contents are undefined (kernel
   * scratch). Grows the memory if needed (see the file header for when that throws ResourceError).
   */
  alloc(bytes: number, what = 'scratch'): number {
    const ptr = this.topByte;
    const end = ptr + alignUp(Math.max(bytes, 0), ARENA_ALIGN);
    if (end > this.capacity) this.grow(end, bytes, what);
    this.topByte = end;
    if (end > this.highWater) this.highWater = end;
    if (end > this.peakTop) this.peakTop = end;
    return ptr;
  }

  /** Current top, to pass to `release` later. */
  mark(): number {
    return this.topByte;
  }

  /** Frees everything allocated after `mark` (poisoning it with NaN if `poisonFreed`). */
  release(mark: number): void {
    if (mark < this.base || mark > this.topByte) return;
    if (this.poisonFreed && mark < this.topByte) {
      void this.buffer;
      this.f32.fill(NaN, mark / 4, this.topByte / 4);
    }
    this.topByte = mark;
  }

  /** alloc + zero-fill of the part that may hold old data (below the high-water mark before the call). */
  private allocZeroed(bytes: number, what: string): number {
    const clean = this.highWater;
    const ptr = this.alloc(bytes, what);
    const end = Math.min(ptr + bytes, clean);
    if (end > ptr) {
      void this.buffer;
      this.f32.fill(0, ptr / 4, end / 4);
    }
    return ptr;
  }

  private grow(end: number, bytes: number, what: string): void {
    const cap = this.capacity;
    const live = this.topByte - this.base;
    if (end > WASM_MAX_BYTES) {
      throw new ResourceError(
        `WASM memory: ${what} needs ${bytes} bytes on top of ${this.topByte} bytes in use ` +
          `(${live} bytes of live buffers), ${end} bytes in all, more than the 4 GiB (${WASM_MAX_BYTES} bytes) ` +
          'a 32-bit WebAssembly memory can address; use smaller batches or sequences, or free temporaries with scope()',
      );
    }
    if (!this.shared && live > 0) {
      throw new ResourceError(
        `WASM memory: ${what} needs ${end} bytes but the non-shared memory has ${cap} bytes, and it cannot grow ` +
          `while ${live} bytes of buffers are live (growing would detach every view); create the backend with ` +
          `{ initialMemoryBytes: ${alignUp(end * 2, WASM_PAGE_BYTES)} } or more, or use a shared memory`,
      );
    }
    const curPages = cap / WASM_PAGE_BYTES;
    const needPages = Math.ceil(end / WASM_PAGE_BYTES);
    const wantPages = Math.min(WASM_MAX_PAGES, Math.max(needPages, curPages + Math.ceil(curPages / 2)));
    try {
      this.memory.grow(wantPages - curPages);
    } catch {
      try {
        this.memory.grow(needPages - this.capacity / WASM_PAGE_BYTES);
      } catch (e) {
        throw new ResourceError(
          `WASM memory: could not grow from ${cap} to ${needPages * WASM_PAGE_BYTES} bytes for ${what} ` +
            `(${bytes} bytes; ${live} bytes live): ${(e as Error).message}`,
        );
      }
    }
    void this.buffer;
  }
}
