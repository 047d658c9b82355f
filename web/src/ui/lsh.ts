/**
 * Drawing an `LshPicture` (web/src/lib/lsh-view.ts): the bucket strips (one row per hash round, one
 * column per token), the window's tokens coloured by bucket, the sorted order cut into chunks, and a
 * query's exact attention weights with the keys LSH attended outlined.
 */
import type { LshPicture, QueryView } from '../lib/lsh-view.js';
import { bucketColour, el } from './dom.js';

/** Bucket of token t in round n of head h. */
function bucketOf(p: LshPicture, h: number, n: number, t: number): number {
  return p.buckets[(h * p.numHashes + n) * p.seqLen + t]!;
}

function tokenSpan(label: string): HTMLSpanElement {
  if (label === '\n') return el('span', 'nl');
  if (label === '') return el('span', 'cont');
  return el('span', '', label);
}

/** One row of cells per hash round: cell (n, t) is token t's bucket in round n. */
export function drawStrips(target: HTMLElement, p: LshPicture, head: number, round: number): void {
  const rowH = 10;
  const canvas = el('canvas');
  canvas.width = p.seqLen;
  canvas.height = p.numHashes * rowH;
  canvas.style.height = `${p.numHashes * 14}px`;
  const g = canvas.getContext('2d');
  if (g) {
    for (let n = 0; n < p.numHashes; n++) {
      for (let t = 0; t < p.seqLen; t++) {
        g.fillStyle = bucketColour(bucketOf(p, head, n, t), p.numBuckets, n === round ? 1 : 0.75);
        g.fillRect(t, n * rowH, 1, rowH - 1);
      }
    }
  }
  canvas.title = `buckets per token (columns) and hash round (rows), head ${head}`;
  target.replaceChildren(canvas);
}

/** The window's tokens, coloured by their bucket in `round`; clicking one calls `onPick(position)`. */
export function drawTokens(
  target: HTMLElement,
  p: LshPicture,
  head: number,
  round: number,
  selected: number | null,
  onPick: (t: number) => void,
): void {
  const frag = document.createDocumentFragment();
  for (let t = 0; t < p.seqLen; t++) {
    const s = tokenSpan(p.labels[t]!);
    s.style.background = bucketColour(bucketOf(p, head, round, t), p.numBuckets);
    s.title = `position ${t}, bucket ${bucketOf(p, head, round, t)}`;
    if (t === selected) s.classList.add('selected');
    s.onclick = () => onPick(t);
    frag.append(s);
  }
  target.replaceChildren(frag);
}

/** Round `round`'s sorted slots in chunks of `chunkLength`; the query's chunk and its window are marked. */
export function drawChunks(target: HTMLElement, p: LshPicture, head: number, round: number, query: QueryView | null): void {
  const L = p.seqLen;
  const c = p.chunkLength;
  const frag = document.createDocumentFragment();
  const base = head * p.numHashes * L;
  const first = (round * L) / c;
  const q = query?.rounds[round];
  for (let k = 0; k < L / c; k++) {
    const chunk = first + k;
    const row = el('div', 'chunk');
    if (q && q.chunk === chunk) row.classList.add('query');
    else if (q?.window.includes(chunk)) row.classList.add('window');
    const lo = bucketOf(p, head, round, p.sortedPositions[base + chunk * c]!);
    const hi = bucketOf(p, head, round, p.sortedPositions[base + chunk * c + c - 1]!);
    row.append(el('b', '', `chunk ${chunk} · b${lo}${hi !== lo ? `–${hi}` : ''}`));
    const line = el('span');
    for (let s = 0; s < c; s++) {
      const t = p.sortedPositions[base + chunk * c + s]!;
      const label = p.labels[t]!;
      const cell = el('span', '', label === '\n' ? '⏎' : label === '' ? '·' : label);
      cell.style.background = bucketColour(bucketOf(p, head, round, t), p.numBuckets);
      cell.title = `position ${t}`;
      if (query && t === query.position) cell.style.outline = '2px solid #000';
      line.append(cell);
    }
    row.append(line);
    frag.append(row);
  }
  target.replaceChildren(frag);
}

/** The query's exact attention weights (orange intensity) with LSH's attended keys underlined green, heavy keys it missed underlined red. */
export function drawQuery(target: HTMLElement, p: LshPicture, q: QueryView): void {
  let max = 0;
  for (let j = 0; j < p.seqLen; j++) max = Math.max(max, q.exact[j]!);
  const frag = document.createDocumentFragment();
  for (let t = 0; t < p.seqLen; t++) {
    const s = tokenSpan(p.labels[t]!);
    const w = max > 0 ? Math.sqrt(q.exact[t]! / max) : 0;
    s.style.background = `rgba(230, 110, 20, ${w.toFixed(3)})`;
    if (t === q.position) s.classList.add('selected');
    else if (q.attended[t]) s.classList.add('attended');
    else if (q.exact[t]! > 0.1 * max) s.classList.add('missed');
    s.title = `position ${t}: exact weight ${q.exact[t]!.toExponential(2)}${q.attended[t] ? ', attended by LSH' : ''}`;
    frag.append(s);
  }
  target.replaceChildren(frag);
}
