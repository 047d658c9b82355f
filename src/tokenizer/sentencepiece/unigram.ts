/**
 * The unigram segmentation of sentencepiece (`unigram_model.cc`, `EncodeOptimized`): the best-scoring
 * split of the normalized bytes into vocabulary pieces, by Viterbi over start positions.
 *
 * - Candidates: pieces of type NORMAL, USER_DEFINED and UNUSED (UNUSED never chosen) matched as byte
 *   strings; walk the start positions s by whole characters (the lead byte's length); for each piece
 *   matching at s (shortest first), `cand = best[s] + score` in float32, taken by `best[s + len]` if
 *   strictly greater (so the earliest candidate wins ties). USER_DEFINED pieces score
 *   `len · max_score − 0.1` (computed in double, as the C++ does), so they are always chosen.
 * - If no piece of exactly one character starts at s, `<unk>` covers that character with score
 *   `min(NORMAL scores) − 10`.
 * - Backtrack from the end. Consecutive unknowns are merged by the tokenizer (tokenizer.ts).
 */
import { oneCharLen } from './normalizer.js';
import { type Piece, PieceType } from './model-proto.js';

/** sentencepiece's kUnkPenalty. */
export const UNK_PENALTY = 10;
/** FLT_MIN: sentencepiece's initial max_score (the smallest positive normal float). */
const FLT_MIN = 1.1754943508222875e-38;

interface TrieNode {
  readonly next: Map<number, TrieNode>;
  id: number;
}

/** A byte trie of piece strings → piece id. */
export class PieceTrie {
  private readonly root: TrieNode = { next: new Map(), id: -1 };

  /** Adds `bytes` → `id`; returns false if the key was already there. */
  insert(bytes: Uint8Array, id: number): boolean {
    let node = this.root;
    for (const c of bytes) {
      let n = node.next.get(c);
      if (!n) {
        n = { next: new Map(), id: -1 };
        node.next.set(c, n);
      }
      node = n;
    }
    if (node.id >= 0) return false;
    node.id = id;
    return true;
  }

  /** Calls `onMatch(end, id)` for every key that is a prefix of `b[at..]`, shortest first. */
  prefixes(b: Uint8Array, at: number, onMatch: (end: number, id: number) => void): void {
    let node: TrieNode | undefined = this.root;
    for (let i = at; i < b.length; i++) {
      node = node.next.get(b[i]!);
      if (!node) return;
      if (node.id >= 0) onMatch(i + 1, node.id);
    }
  }

  /** Length of the longest key starting at `at` (0 if none). */
  longest(b: Uint8Array, at: number): number {
    let best = 0;
    this.prefixes(b, at, (end) => {
      best = end - at;
    });
    return best;
  }
}

/** One token of a segmentation: bytes [start, end) of the normalized text and the piece id. */
export interface Span {
  readonly start: number;
  readonly end: number;
  readonly id: number;
}

export class UnigramModel {
  readonly trie = new PieceTrie();
  private readonly scores: Float32Array;
  private readonly types: Uint8Array;
  private readonly unkScore: number;
  private readonly maxScore: number;

  /** @param duplicate called with a piece string that occurs twice among the matched types. */
  constructor(
    pieces: readonly Piece[],
    readonly unkId: number,
    duplicate: (piece: string) => never,
  ) {
    this.scores = Float32Array.from(pieces, (p) => p.score);
    this.types = Uint8Array.from(pieces, (p) => p.type);
    let min = Infinity;
    let max = FLT_MIN;
    const enc = new TextEncoder();
    pieces.forEach((p, id) => {
      if (p.type === PieceType.NORMAL) {
        min = Math.min(min, this.scores[id]!);
        max = Math.max(max, this.scores[id]!);
      }
      if (p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED) {
        if (!this.trie.insert(enc.encode(p.piece), id)) duplicate(p.piece);
      }
    });
    this.unkScore = Math.fround((min === Infinity ? 0 : min) - UNK_PENALTY);
    this.maxScore = max;
  }

  /** The best segmentation of `text` (normalized UTF-8 bytes). */
  encode(text: Uint8Array): Span[] {
    const size = text.length;
    const best = new Float32Array(size + 1);
    const from = new Int32Array(size + 1).fill(-1);
    const ids = new Int32Array(size + 1).fill(-1);
    let s = 0;
    while (s < size) {
      const here = best[s]!;
      const mblen = Math.min(oneCharLen(text[s]!), size - s);
      let single = false;
      this.trie.prefixes(text, s, (end, id) => {
        const type = this.types[id]!;
        if (type === PieceType.UNUSED) return;
        const len = end - s;
        const cand =
          type === PieceType.USER_DEFINED
            ? Math.fround(len * this.maxScore) - 0.1 + here // double, as in the C++
            : Math.fround(this.scores[id]! + here);
        if (from[end] === -1 || cand > best[end]!) {
          best[end] = cand;
          from[end] = s;
          ids[end] = id;
        }
        if (len === mblen) single = true;
      });
      if (!single) {
        const end = s + mblen;
        const cand = Math.fround(this.unkScore + here);
        if (from[end] === -1 || cand > best[end]!) {
          best[end] = cand;
          from[end] = s;
          ids[end] = this.unkId;
        }
      }
      s += mblen;
    }
    const spans: Span[] = [];
    for (let end = size; end > 0; end = from[end]!) spans.push({ start: from[end]!, end, id: ids[end]! });
    return spans.reverse();
  }
}
