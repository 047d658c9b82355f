/**
 * Flags that several `reformer task` commands register with the same parser and help text: the
 * learning-rate schedule of the `Trainer` (`--lr`, `--warmup`) and the time budget (`--minutes`). Each
 * function returns the arguments of commander's `.option(flags, description, parser, default)`, so a
 * command keeps its own flag order: `.option(...lrOption(d.lr))`.
 */
import { intFlag, numberFlag } from '../parse.js';

type OptionArgs<T> = [flags: string, description: string, parser: (value: string) => T, defaultValue?: T];

/**
 * `--lr <x>` (or `flag`): AdamW's peak learning rate in (0, 10]; the help says `what` and the default.
 * @param what default 'peak AdamW learning rate, cosine decay to lr/10' (the `Trainer`'s schedule).
 */
export function lrOption(lr: number, flag = '--lr', what = 'peak AdamW learning rate, cosine decay to lr/10'): OptionArgs<number> {
  return [`${flag} <x>`, `${what} (default ${lr})`, numberFlag(flag, 0, 10, { exclusiveMin: true }), lr];
}

/** `--warmup <n>`: linear warm-up steps ≥ 0, no default value (`warmupSteps` in task-training.ts applies min(100, steps/10)). */
export function warmupOption(): OptionArgs<number> {
  return ['--warmup <n>', 'linear warm-up steps (default min(100, steps/10))', intFlag('--warmup', 0)];
}

/** `--minutes <m>`: a time budget in minutes, > 0, no default (`description` says what it stops). */
export function minutesOption(description: string): OptionArgs<number> {
  return ['--minutes <m>', description, numberFlag('--minutes', 0, 1e6, { exclusiveMin: true, what: 'a number of minutes' })];
}
