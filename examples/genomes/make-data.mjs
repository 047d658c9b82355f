// Builds a two-species DNA classification task from two FASTA genomes (README "Worked example:
// classifying genomes"): windows of W bases labelled by species, both strands (the reverse complement
// too). Each genome is cut into blocks of 4·W bases, and the blocks are dealt (seeded) to the splits,
// 60 % train, 10 % validation, 30 % test, so no test base is in any training window while every split
// samples the whole genome (a split by position would test on the other half of the phage, whose base
// composition differs). Training windows start every W/4 bases inside their blocks, validation and test
// windows do not overlap. The larger genome contributes as many windows per split as the smaller one.
//   node examples/genomes/make-data.mjs <a.fa[.gz]> <nameA> <b.fa[.gz]> <nameB> <outDir> [W=512]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const [a, nameA, b, nameB, out, w = '512'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/genomes/make-data.mjs <a.fa[.gz]> <nameA> <b.fa[.gz]> <nameB> <outDir> [W]');
  process.exit(2);
}
const W = Number(w);

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
    for (const text of ws.slice(0, n)) lines.push(JSON.stringify({ text, label: genomes[k].name }));
  });
  writeFileSync(join(out, `${split}.jsonl`), `${shuffle(lines).join('\n')}\n`);
  console.log(`${split}: ${lines.length} windows of ${W} bases (${n} per species)`);
}
