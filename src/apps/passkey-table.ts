/**
 * The printed table of the passkey experiment (`reformer task passkey`): exact match and per-digit
 * accuracy per evaluation length and attention. Browser-safe (strings only).
 */
import type { PasskeyResult } from './passkey.js';

/** What the table reads of one trained model: its attention and its results per length (absent: not evaluated). */
export interface PasskeyTableRecord {
  readonly attention: string;
  readonly eval: Readonly<Record<string, PasskeyResult | undefined>>;
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`;
}

/**
 * The table: one row per length; per attention the exact match (whole key, greedy) and the per-digit
 * accuracy in percent; the chance levels; and for the local model the share of keys within its reach
 * with the exact match on those.
 */
export function passkeyTable(records: readonly PasskeyTableRecord[], lengths: readonly number[], digits: number, reach: number): string[] {
  const head = ['tokens', `chance (exact / digit)`];
  for (const r of records) head.push(`${r.attention} exact`, `${r.attention} per digit`);
  const local = records.find((r) => r.attention === 'local');
  if (local) head.push(`keys ≤ ${reach} back: share, local exact`);
  const rows = lengths.map((L) => {
    const cells = [String(L), `${(100 * 10 ** -digits).toPrecision(2)}% / 10%`];
    for (const r of records) {
      const e = r.eval[String(L)];
      cells.push(pct(e?.exactMatch), pct(e?.digitAccuracy));
    }
    if (local) {
      const near = local.eval[String(L)]?.near;
      const e = local.eval[String(L)];
      cells.push(near && e ? `${pct(near.sequences / e.sequences)}, ${pct(near.exactMatch)}` : '-');
    }
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)];
}
