// Baselines for a {"text", "label"} JSON Lines classification task (README "Worked example"), plain
// JavaScript, trained on one file and scored on another:
//   majority      the most frequent training label
//   bag-of-bytes  multinomial logistic regression on byte frequencies (256 features + bias), full-batch
//                 gradient descent with L2, 300 iterations
//   k-mer NB      multinomial Naive Bayes over overlapping k-byte substrings, add-one smoothing
//   node examples/genomes/baselines.mjs <train.jsonl> <test.jsonl> [k=6]
import { readFileSync } from 'node:fs';

const [trainPath, testPath, kArg = '6'] = process.argv.slice(2);
const read = (p) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
const train = read(trainPath);
const test = read(testPath);
const labels = [...new Set(train.map((r) => r.label))].sort();
const y = (r) => labels.indexOf(r.label);
const accuracy = (pred) => pred.filter((p, i) => p === y(test[i])).length / test.length;

// majority
const counts = labels.map((_, c) => train.filter((r) => y(r) === c).length);
const majority = counts.indexOf(Math.max(...counts));
console.log(`majority (${labels[majority]}): accuracy ${accuracy(test.map(() => majority)).toFixed(4)}`);

// bag-of-bytes logistic regression
const features = (text) => {
  const f = new Float64Array(257);
  const bytes = Buffer.from(text, 'utf8');
  for (const b of bytes) f[b] += 1 / bytes.length;
  f[256] = 1; // bias
  return f;
};
const X = train.map((r) => features(r.text));
const C = labels.length;
const Wt = Array.from({ length: C }, () => new Float64Array(257));
const scores = (f) => Wt.map((w) => w.reduce((s, wi, i) => s + wi * f[i], 0));
const softmax = (z) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
// byte frequencies are small numbers: standardise each feature on the training set
const mean = new Float64Array(257);
const sd = new Float64Array(257).fill(1);
for (let i = 0; i < 256; i++) {
  mean[i] = X.reduce((s, f) => s + f[i], 0) / X.length;
  sd[i] = Math.sqrt(X.reduce((s, f) => s + (f[i] - mean[i]) ** 2, 0) / X.length) || 1;
}
const std = (f) => f.map((v, i) => (i < 256 ? (v - mean[i]) / sd[i] : v));
const Xs = X.map(std);
for (let it = 0; it < 300; it++) {
  const grad = Array.from({ length: C }, () => new Float64Array(257));
  Xs.forEach((f, n) => {
    const p = softmax(scores(f));
    for (let c = 0; c < C; c++) {
      const g = p[c] - (y(train[n]) === c ? 1 : 0);
      for (let i = 0; i < 257; i++) grad[c][i] += g * f[i];
    }
  });
  for (let c = 0; c < C; c++) for (let i = 0; i < 257; i++) Wt[c][i] -= 0.5 * (grad[c][i] / Xs.length + 1e-3 * Wt[c][i]);
}
const lr = test.map((r) => {
  const z = scores(std(features(r.text)));
  return z.indexOf(Math.max(...z));
});
console.log(`bag-of-bytes logistic regression: accuracy ${accuracy(lr).toFixed(4)}`);

// k-mer multinomial Naive Bayes
const k = Number(kArg);
const kmerCounts = labels.map(() => new Map());
const totals = new Float64Array(C);
const vocab = new Set();
for (const r of train) {
  const m = kmerCounts[y(r)];
  for (let i = 0; i + k <= r.text.length; i++) {
    const s = r.text.slice(i, i + k);
    m.set(s, (m.get(s) ?? 0) + 1);
    totals[y(r)]++;
    vocab.add(s);
  }
}
const V = vocab.size + 1;
const prior = counts.map((n) => Math.log(n / train.length));
const nb = test.map((r) => {
  const lp = labels.map((_, c) => {
    let s = prior[c];
    for (let i = 0; i + k <= r.text.length; i++) s += Math.log(((kmerCounts[c].get(r.text.slice(i, i + k)) ?? 0) + 1) / (totals[c] + V));
    return s;
  });
  return lp.indexOf(Math.max(...lp));
});
console.log(`${k}-mer Naive Bayes: accuracy ${accuracy(nb).toFixed(4)}`);
