/**
 * What `reformer task genome` reports (genome-run.ts computes it): the Markov baseline's record in
 * results.json (the validation-chosen setting, its bits per base on each region, and every order's
 * validation scores) and the bits-per-base table on stdout.
 */
import type { MarkovSetting, MarkovStats, selectMarkov } from '../../../apps/genome-markov.js';
import { markdownTable, round } from '../tasks/task-results.js';

/** Bits per base as results.json keeps them: 4 decimals. */
export const r4 = (x: number): number => round(x, 4);

/** The model's bits per base at one evaluation context (a row of `held_out` / `transfer` in results.json). */
export type ModelRow = { context: number; context_used: number; bits_per_base: number };

/** The Markov baseline's figures, as `markovRecord` takes them from genome-run.ts. */
export interface MarkovFigures {
  /** `selectMarkov` on the validation region's statistics. */
  readonly selection: ReturnType<typeof selectMarkov>;
  /** The chosen order, smoothing and strength. */
  readonly setting: MarkovSetting;
  /** Statistics of the train-region counts on the held-out region and on the transfer genome (or null). */
  readonly held: MarkovStats;
  readonly transfer: MarkovStats | null;
  /** Bits per base of the same setting with train + validation counts. */
  readonly heldRefit: number;
  readonly transferRefit: number | null;
  readonly seconds: number;
}

/** results.json's `markov`: the chosen setting, its bits per base, the refit, and each order's validation scores. */
export function markovRecord(m: MarkovFigures) {
  const { perOrder, best } = m.selection;
  const { setting, held, transfer } = m;
  return {
    selected_on: 'validation',
    order: setting.order,
    smoothing: setting.smoothing,
    strength: setting.strength,
    validation_bits_per_base: r4(best.bitsPerBase),
    held_out_bits_per_base: r4(held.bitsPerBase(setting)),
    held_out_targets: held.targets,
    transfer_bits_per_base: transfer ? r4(transfer.bitsPerBase(setting)) : null,
    refit_train_validation: {
      held_out_bits_per_base: r4(m.heldRefit),
      transfer_bits_per_base: m.transferRefit === null ? null : r4(m.transferRefit),
    },
    per_order: perOrder.map((o) => {
      const s = (
        o.addAlpha.bitsPerBase <= o.interpolated.bitsPerBase
          ? { order: o.order, smoothing: 'add-alpha', strength: o.addAlpha.alpha }
          : { order: o.order, smoothing: 'interpolated', strength: o.interpolated.beta }
      ) as MarkovSetting;
      return {
        order: o.order,
        validation: {
          add_alpha: { alpha: o.addAlpha.alpha, bits_per_base: r4(o.addAlpha.bitsPerBase) },
          interpolated: { beta: o.interpolated.beta, bits_per_base: r4(o.interpolated.bitsPerBase) },
        },
        // for information only (not used to choose): the validation-best strength of this order on the test regions
        held_out_bits_per_base: r4(held.bitsPerBase(s)),
        transfer_bits_per_base: transfer ? r4(transfer.bitsPerBase(s)) : null,
      };
    }),
    seconds: round(m.seconds, 1),
  };
}

/** The bits-per-base table: uniform, validated Markov (and its refit), the model at each context; held-out and transfer columns. */
export function genomeTable(
  markov: {
    order: number;
    smoothing: string;
    held_out_bits_per_base: number;
    transfer_bits_per_base: number | null;
    refit_train_validation: { held_out_bits_per_base: number; transfer_bits_per_base: number | null };
  },
  held: readonly ModelRow[],
  transfer: readonly ModelRow[] | null,
  hasTransfer: boolean,
): string[] {
  const f = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : x.toFixed(4));
  const head = ['model', 'held-out bits/base', ...(hasTransfer ? ['transfer bits/base'] : [])];
  const rows: string[][] = [
    ['uniform', f(2), ...(hasTransfer ? [f(2)] : [])],
    [
      `Markov k=${markov.order} ${markov.smoothing} (train counts)`,
      f(markov.held_out_bits_per_base),
      ...(hasTransfer ? [f(markov.transfer_bits_per_base)] : []),
    ],
    [
      `Markov k=${markov.order} (train+validation counts)`,
      f(markov.refit_train_validation.held_out_bits_per_base),
      ...(hasTransfer ? [f(markov.refit_train_validation.transfer_bits_per_base)] : []),
    ],
    ...held.map((h, i) => {
      const t = transfer?.[i];
      const ctxLabel = (r: ModelRow): string => (r.context_used !== r.context ? `${r.context} (whole: ${r.context_used})` : `${r.context}`);
      return [
        `Reformer, context ${h.context}`,
        f(h.bits_per_base),
        ...(hasTransfer ? [t ? `${f(t.bits_per_base)}${t.context_used !== t.context ? ` @${ctxLabel(t)}` : ''}` : '-'] : []),
      ];
    }),
  ];
  return markdownTable(head, rows);
}
