/**
 * What `reformer train` records about a run in `trainer_state.json` (`extra`), and how the other
 * commands read it back: the data file and its fingerprint (so `eval` knows whether it is scoring the
 * run's own file, and which part was held out), the preset, the validation fraction, the FASTA options
 * and the backend.
 */
import { Option } from 'commander';
import { FASTA_AMBIGUOUS_MODES, FASTA_CASE_MODES, type FastaOptions } from '../../train/corpus.js';
import type { TrainerSnapshot } from '../../train/trainer.js';
import { choiceFlag } from './parse.js';

/** Caller fields stored in `trainer_state.json` (`extra`). */
export interface TrainExtra {
  data?: { path: string; bytes: number; format: string; fingerprint: string };
  tokenizer?: string;
  /** The pretrained checkpoint a fine-tuning run started from. */
  finetuned_from?: string;
  model_seed?: number;
  preset?: string | null;
  validation_fraction?: number;
  /** FASTA options the training data was prepared with (absent: letters as they are). */
  fasta?: FastaOptions;
  /** Backend kind that ran the steps: backends differ in the last bits, so a resume keeps it by default. */
  backend?: 'wasm' | 'reference';
}

/** The `extra` of a checkpoint's trainer state (`{}` without one). */
export function runExtra(snapshot: TrainerSnapshot | null | undefined): TrainExtra {
  const extra = snapshot?.state.extra;
  return extra !== null && typeof extra === 'object' ? (extra as TrainExtra) : {};
}

/** FNV-1a over the token ids, with their count: detects resuming or scoring on other data. */
export function fingerprint(tokens: Int32Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < tokens.length; i++) {
    h ^= tokens[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${tokens.length}:${h.toString(16).padStart(8, '0')}`;
}

/** The flags `--fasta-case` and `--fasta-ambiguous` (train, eval). */
export interface FastaFlags {
  fastaCase?: 'keep' | 'upper';
  fastaAmbiguous?: 'keep' | 'n' | 'drop';
}

/** `--fasta-case` and `--fasta-ambiguous`; `defaults` says what applies when they are left out. */
export function fastaOptionsFlags(defaults: string): Option[] {
  return [
    new Option(
      '--fasta-case <mode>',
      `FASTA only: ${FASTA_CASE_MODES.join(' or ')}: keep lowercase (soft-masked) bases as their own letters, or fold them to uppercase (default: ${defaults})`,
    ).argParser(choiceFlag('--fasta-case', FASTA_CASE_MODES)),
    new Option(
      '--fasta-ambiguous <mode>',
      `FASTA only: ${FASTA_AMBIGUOUS_MODES.join(', ')}: IUPAC ambiguity codes (N, R, Y, ...: every letter but A, C, G, T, U) as they are, all written as N, or dropped (default: ${defaults})`,
    ).argParser(choiceFlag('--fasta-ambiguous', FASTA_AMBIGUOUS_MODES)),
  ];
}

/** The FASTA options of the flags, each falling back to `stored` (the run's), else as they are. */
export function fastaOptionsOf(flags: FastaFlags, stored: FastaOptions | undefined): FastaOptions {
  return {
    case: flags.fastaCase ?? stored?.case ?? 'keep',
    ambiguous: flags.fastaAmbiguous ?? stored?.ambiguous ?? 'keep',
  };
}
