// Builds a two-species DNA classification task from two FASTA genomes (README "Worked example:
// classifying genomes"): windows of W bases labelled by species, both strands (the reverse complement
// too). Each genome is cut into blocks of 4·W bases, and the blocks are dealt (seeded) to the splits,
// 60 % train, 10 % validation, 30 % test, so no test base is in any training window while every split
// samples the whole genome (a split by position would test on the other half of the phage, whose base
// composition differs). Training windows start every W/4 bases inside their blocks, validation and test
// windows do not overlap. The larger genome contributes as many windows per split as the smaller one.
//
// Options:
//   --window W   bases per window (512; a multiple of 4)
//   --prefix P   text put before every window (none): a fixed first token such as ">" (FASTA's header
//                mark) gives ReformerForSequenceClassification, which pools position 0 as HF does, a
//                summary position whose query is the same for every input (BERT's [CLS])
//   --kmer k     write overlapping k-mers, one character each, instead of single bases (1 = bases;
//                2 or 3: 16 or 64 symbols of the base64 alphabet, "AAA" = "A", "AAC" = "B", ...):
//                DNABERT's overlapping k-mer tokens (Ji et al. 2021) for a byte-level model, so a
//                window of W bases is W − k + 1 tokens and each token carries its k bases
//   node examples/genomes/make-data.mjs <a.fa[.gz]> <nameA> <b.fa[.gz]> <nameB> <outDir> [--window W] [--prefix P] [--kmer k]
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';

const USAGE =
  'usage: node examples/genomes/make-data.mjs <a.fa[.gz]> <nameA> <b.fa[.gz]> <nameB> <outDir> [--window 512] [--prefix P] [--kmer 1|2|3]';
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { window: { type: 'string', default: '512' }, prefix: { type: 'string', default: '' }, kmer: { type: 'string', default: '1' } },
  });
} catch (e) {
  console.error(`make-data: ${e.message}\n${USAGE}`);
  process.exit(2);
}
const [a, nameA, b, nameB, out] = parsed.positionals;
if (!out || parsed.positionals.length !== 5) {
  console.error(USAGE);
  process.exit(2);
}
const { window: w, prefix, kmer } = parsed.values;
const W = Number(w);
if (!(Number.isInteger(W) && W >= 4 && W % 4 === 0)) {
  console.error(`make-data: --window must be a positive multiple of 4 (the training stride is W/4), got ${JSON.stringify(w)}`);
  process.exit(2);
}
const K = Number(kmer);
if (![1, 2, 3].includes(K)) {
  console.error(`make-data: --kmer must be 1, 2 or 3, got ${JSON.stringify(kmer)}`);
  process.exit(2);
}
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE = { A: 0, C: 1, G: 2, T: 3 };
/** The window's text: its bases (k = 1), or one symbol per overlapping k-mer ("." when it holds a base other than ACGT). */
function encode(s) {
  if (K === 1) return s;
  let t = '';
  for (let i = 0; i + K <= s.length; i++) {
    let code = 0;
    for (let j = 0; j < K; j++) {
      const v = BASE[s[i + j]];
      code = v === undefined ? -1 : code < 0 ? -1 : code * 4 + v;
    }
    t += code < 0 ? '.' : B64[code];
  }
  return t;
}

/** The bases of a FASTA file (header lines and newlines dropped, upper case). */
function bases(path) {
  let bytes = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return bytes
    .toString('latin1')
    .split('\n')
    .filter((l) => !l.startsWith('>'))
    .join('')
    .replace(/\s/g, '')
    .toUpperCase();
}

const COMPLEMENT = { A: 'T', C: 'G', G: 'C', T: 'A', N: 'N' };
const revcomp = (s) => Array.from(s, (c) => COMPLEMENT[c] ?? 'N').reverse().join('');

/** Windows of W bases inside the blocks `blocks` (start offsets) every `stride` bases, each with its reverse complement. */
function windows(seq, blocks, stride) {
  const outw = [];
  for (const b0 of blocks) {
    for (let i = b0; i + W <= b0 + 4 * W; i += stride) {
      const s = seq.slice(i, i + W);
      outw.push(s, revcomp(s));
    }
  }
  return outw;
}

// a small seeded generator (mulberry32) for the subsampling and the shuffle
let state = 12345;
const rand = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const shuffle = (xs) => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
};

const genomes = [
  { name: nameA, seq: bases(a) },
  { name: nameB, seq: bases(b) },
];
mkdirSync(out, { recursive: true });
// deal each genome's blocks to the splits; the larger genome uses as many blocks as the smaller has
const nBlocks = Math.min(...genomes.map((g) => Math.floor(g.seq.length / (4 * W))));
const dealt = genomes.map((g) => {
  const all = shuffle(Array.from({ length: Math.floor(g.seq.length / (4 * W)) }, (_, i) => i * 4 * W)).slice(0, nBlocks);
  const t = Math.round(0.6 * nBlocks);
  const v = Math.round(0.7 * nBlocks);
  return { train: all.slice(0, t), validation: all.slice(t, v), test: all.slice(v) };
});
for (const [split, stride] of [
  ['train', W / 4],
  ['validation', W],
  ['test', W],
]) {
  const per = genomes.map((g, k) => windows(g.seq, dealt[k][split], stride));
  const n = Math.min(...per.map((x) => x.length));
  const lines = [];
  per.forEach((ws, k) => {
    for (const text of ws.slice(0, n)) lines.push(JSON.stringify({ text: prefix + encode(text), label: genomes[k].name }));
  });
  const file = join(out, `${split}.jsonl`);
  writeFileSync(`${file}.tmp`, `${shuffle(lines).join('\n')}\n`);
  renameSync(`${file}.tmp`, file);
  const what = K === 1 ? 'bases' : `bases as ${W - K + 1} overlapping ${K}-mers`;
  console.log(`${split}: ${lines.length} windows of ${W} ${what}${prefix ? ` after ${JSON.stringify(prefix)}` : ''} (${n} per species)`);
}
