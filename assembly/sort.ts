// LSH sorting and row movement: stable counting sort of bucket ids, permutation inverse, and row
// gather / scatter / scatter-add with v128 copies (semantics: Backend.argsortKeys ... scatterAddRows).

/**
 * Stable counting sort (Cormen et al., "Introduction to Algorithms", 8.2): perm[r] = index of the
 * r-th smallest key, equal keys in index order. keys: [n] i32 in [0, numKeys); perm: [n] i32;
 * counts: scratch of numKeys + 1 i32.
 */
export function argsortKeys(perm: usize, keys: usize, n: i32, numKeys: i32, counts: usize): void {
  memory.fill(counts, 0, (<usize>numKeys + 1) << 2);
  // counts[key + 1] = number of keys equal to key
  for (let i = 0; i < n; i++) {
    const p = counts + ((<usize>load<i32>(keys + (<usize>i << 2)) + 1) << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
  // exclusive prefix sum: counts[key] = first output slot of key
  let run = 0;
  for (let key = 0; key <= numKeys; key++) {
    const p = counts + (<usize>key << 2);
    run += load<i32>(p);
    store<i32>(p, run);
  }
  // place indices in order of appearance
  for (let i = 0; i < n; i++) {
    const p = counts + (<usize>load<i32>(keys + (<usize>i << 2)) << 2);
    const slot = load<i32>(p);
    store<i32>(perm + (<usize>slot << 2), i);
    store<i32>(p, slot + 1);
  }
}

/** inv[perm[i]] = i for i < n (perm a permutation of 0..n-1). */
export function invertPermutation(inv: usize, perm: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<i32>(inv + (<usize>load<i32>(perm + (<usize>i << 2)) << 2), i);
}

// @ts-ignore: decorator
@inline function copyRow(dst: usize, src: usize, cols: i32): void {
  let j = 0;
  for (; j + 8 <= cols; j += 8) {
    const o = <usize>j << 2;
    v128.store(dst + o, v128.load(src + o));
    v128.store(dst + o, v128.load(src + o, 16), 16);
  }
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(dst + o, v128.load(src + o));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(src + o));
  }
}

// @ts-ignore: decorator
@inline function addRow(dst: usize, src: usize, cols: i32): void {
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/** dst[i, :] = src[index[i], :] for i < rows. Row strides ldSrc, ldDst in elements. */
export function gatherRows(rows: i32, cols: i32, index: usize, src: usize, ldSrc: i32, dst: usize, ldDst: i32): void {
  const lsB = <usize>ldSrc << 2;
  const ldB = <usize>ldDst << 2;
  for (let i = 0; i < rows; i++) {
    const s = src + <usize>load<i32>(index + (<usize>i << 2)) * lsB;
    copyRow(dst + <usize>i * ldB, s, cols);
  }
}

/** dst[index[i], :] = src[i, :] for i < rows. */
export function scatterRows(rows: i32, cols: i32, index: usize, src: usize, ldSrc: i32, dst: usize, ldDst: i32): void {
  const lsB = <usize>ldSrc << 2;
  const ldB = <usize>ldDst << 2;
  for (let i = 0; i < rows; i++) {
    const d = dst + <usize>load<i32>(index + (<usize>i << 2)) * ldB;
    copyRow(d, src + <usize>i * lsB, cols);
  }
}

/** dst[index[i], :] += src[i, :] for i < rows, in order of i (repeated indices add up). */
export function scatterAddRows(rows: i32, cols: i32, index: usize, src: usize, ldSrc: i32, dst: usize, ldDst: i32): void {
  const lsB = <usize>ldSrc << 2;
  const ldB = <usize>ldDst << 2;
  for (let i = 0; i < rows; i++) {
    const d = dst + <usize>load<i32>(index + (<usize>i << 2)) * ldB;
    addRow(d, src + <usize>i * lsB, cols);
  }
}

// ------------------------------------------------------------------------ argsortKeys split over threads
// The same stable counting sort in three steps, so that parts of the key array can be counted and
// placed by different threads with the permutation of argsortKeys (it is unique: stable order):
//   1. argsortCount per part p (keys [i0, i1)):   counts[p, key] = occurrences of key in the part
//   2. argsortOffsets once (fixed order):         counts[p, key] = first output slot of (key, part p)
//      = Σ_{key' < key} total[key'] + Σ_{p' < p} counts[p', key]
//   3. argsortPlace per part:                      perm[counts[p, key]++] = i for i in [i0, i1)

/** counts[key] = occurrences of key among keys[0, n) (counts: numKeys i32, overwritten). */
export function argsortCount(keys: usize, n: i32, numKeys: i32, counts: usize): void {
  memory.fill(counts, 0, <usize>numKeys << 2);
  for (let i = 0; i < n; i++) {
    const p = counts + (<usize>load<i32>(keys + (<usize>i << 2)) << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
}

/** counts [parts, numKeys] (from argsortCount) → first output slot of each (part, key), in place. */
export function argsortOffsets(counts: usize, parts: i32, numKeys: i32): void {
  let run = 0;
  for (let key = 0; key < numKeys; key++) {
    for (let p = 0; p < parts; p++) {
      const a = counts + ((<usize>p * <usize>numKeys + <usize>key) << 2);
      const c = load<i32>(a);
      store<i32>(a, run);
      run += c;
    }
  }
}

/** perm[offsets[keys[i]]++] = indexBase + i for i < n (keys and indices of one part; offsets: numKeys i32). */
export function argsortPlace(perm: usize, keys: usize, n: i32, indexBase: i32, offsets: usize): void {
  for (let i = 0; i < n; i++) {
    const p = offsets + (<usize>load<i32>(keys + (<usize>i << 2)) << 2);
    const slot = load<i32>(p);
    store<i32>(perm + (<usize>slot << 2), indexBase + i);
    store<i32>(p, slot + 1);
  }
}
