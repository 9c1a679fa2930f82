/**
 * Figures, not a test (issue 15, "Native-speed exact JSON"): exactJson.parse / stringify against
 * plain JSON.parse / JSON.stringify, JSON.parse's reviver with context.source (exact alone, but it runs
 * for every value), and the two earlier parsers: `lossless-json` 4.3.3 (what the issue measured, "about
 * 160 ms for 0.8 MB"; printed only if installed: `npm i --no-save lossless-json@4.3.3`, or
 * BENCH_LOSSLESS_JSON=<its directory>) and exactJson as it was when issue 15's work began (322f6ea,
 * a copy below, `legacyParse`: the unit tests use it as their oracle), on 0.8 MB pages of 2 KB
 * documents with 20 numeric fields:
 *   suspect  Solr select response, some 64-bit integers and decimals with trailing zeros in every document (the hard case)
 *   plain    the same page with no number that could change (the fast path)
 *   one16    the plain page with one 16-digit number in it (used to send the whole page the slow way)
 *   prose    the suspect page whose text fields also hold "1.0, " and "2E+3 " (the string-aware fallback)
 *   solr     the plain documents as Solr 9 answers them: indented, a 19-digit _version_ in every document
 *   es       the plain documents as Elasticsearch 8 answers a search_after page (compact, hits._source,
 *            sort values), a 19-digit account_id in every 50th document
 * Each figure is the median CPU time (user + system, ms per call) of several interleaved rounds of one run
 * (the machine is shared: wall time would count the waits for a core).
 * Run: npm run bench:json [-- --rounds 9 --reps 15]
 */
import { exactJson, numberFromText } from '../../src/backends/exactJson';
import { prng } from '../../src/demo/dataset';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const ROUNDS = Number(arg('rounds', '9'));
const REPS = Number(arg('reps', '15'));
const PAGE_BYTES = 800_000;

// ------------------------------------------------- the previous careful parser (before issue 15)

const LEGACY_BEFORE = '(?:^|[\\s:,\\[])';
const LEGACY_AFTER = '(?=[\\s,\\]}]|$)';
const LEGACY_SUSPECT = new RegExp(`${LEGACY_BEFORE}(?:-0${LEGACY_AFTER}|-?(?:\\d+(?:\\.\\d+)?[eE]|\\d+\\.\\d*0${LEGACY_AFTER}|(?:\\d\\.?){16}|0\\.0{6}))`);
const LEGACY_TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
const LEGACY_MARK = '\uE000';
const LEGACY_MARK_IN_TEXT = /\uE000|\\u[eE]000/;

/** exactJson.parse as it was: SUSPECT gate, then every token checked, marked, JSON.parse, unmark. */
export function legacyParse(text: string): any {
  return LEGACY_SUSPECT.test(text) ? legacyCareful(text) : JSON.parse(text);
}

function legacyCareful(text: string): any {
  if (LEGACY_MARK_IN_TEXT.test(text)) return exactJson.parseWithReviver(text);
  const re = new RegExp(LEGACY_TOKENS);
  let pieces: string[] | null = null;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const token = m[1];
    if (token === undefined || String(Number(token)) === token) continue;
    (pieces ??= []).push(text.slice(last, m.index), '"', LEGACY_MARK, token, '"');
    last = m.index + token.length;
  }
  if (!pieces) return JSON.parse(text);
  pieces.push(text.slice(last));
  return legacyUnmark(JSON.parse(pieces.join('')));
}

function legacyUnmark(v: unknown): unknown {
  if (typeof v === 'string') return v.charCodeAt(0) === 0xe000 ? numberFromText(v.slice(1)) : v;
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' || typeof x === 'string') v[i] = legacyUnmark(x);
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    if (typeof x !== 'object' && typeof x !== 'string') continue;
    const y = legacyUnmark(x);
    if (y === x) continue;
    if (k === '__proto__') Object.defineProperty(o, k, { value: y, writable: true, enumerable: true, configurable: true });
    else o[k] = y;
  }
  return o;
}

// ---------------------------------------------------------------- the pages

const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index', 'café', 'größe'];

/** ~0.8 MB of 2 KB documents, 20 numeric fields each: each document as its fields (`"key":value`), body last. */
function documents(opts: { suspect: boolean; prose?: boolean }, seed = 15): string[][] {
  const r = prng(seed);
  const int = (digits: number) => String(10 ** (digits - 1) + Math.floor(r() * 9 * 10 ** (digits - 1)));
  // Fraction digits not ending in 0 (a fraction ending in 0 is one JavaScript would write otherwise).
  const frac = (digits: number) => (digits > 1 ? int(digits - 1) : '') + String(1 + Math.floor(r() * 9));
  const docs: string[][] = [];
  let bytes = 0;
  while (bytes < PAGE_BYTES) {
    const i = docs.length;
    const f: string[] = [`"id":"doc-${String(i).padStart(6, '0')}"`, `"customer":"c${i % 17}"`];
    for (let k = 0; k < 20; k++) {
      let v: string;
      if (k < 3) v = opts.suspect ? `${1883365083495530496n + BigInt(Math.floor(r() * 1e12))}` : int(15); // 64-bit ids / _version_-like
      else if (k < 7) v = opts.suspect ? `${int(3)}.${int(1)}0` : `${int(3)}.${frac(2)}`; // 12.50 vs 12.57
      else if (k % 2) v = int(1 + Math.floor(r() * 9));
      else v = `${int(1 + Math.floor(r() * 5))}.${frac(1 + Math.floor(r() * 3))}`;
      f.push(`"n${k}_${k < 3 ? 'l' : k < 7 ? 'd' : 'i'}":${v}`);
    }
    f.push(`"tags":[${Array.from({ length: 4 }, () => `"${WORDS[Math.floor(r() * WORDS.length)]}"`).join(',')}]`);
    f.push(`"title":"${WORDS[i % WORDS.length]} \\"${i}\\" ${WORDS[(i * 7) % WORDS.length]}"`);
    let body = '';
    const head = `{${f.join(',')},"body":"`;
    while (head.length + body.length < 2000) {
      body += `${WORDS[Math.floor(r() * WORDS.length)]} `;
      if (opts.prose && r() < 0.02) body += r() < 0.5 ? 'release 1.0, ' : 'about 2E+3 ';
      if (r() < 0.01) body += '\\n';
    }
    f.push(`"body":"${body.slice(0, 2048 - head.length - 2)}"`);
    docs.push(f);
    bytes += head.length + body.length + 1;
  }
  return docs;
}

/** A Solr select response (compact) of ~0.8 MB: 2 KB documents, 20 numeric fields each. */
export function solrPage(opts: { suspect: boolean; prose?: boolean }, seed = 15): string {
  const docs = documents(opts, seed).map((f) => `{${f.join(',')}}`);
  return `{"responseHeader":{"status":0,"QTime":12,"params":{"q":"*:*","cursorMark":"*","sort":"id asc","rows":"${docs.length}","wt":"json"}},`
    + `"response":{"numFound":${docs.length * 40},"start":0,"numFoundExact":true,"docs":[${docs.join(',')}]},"nextCursorMark":"AoE/ZG9jLTAwMDM5OQ=="}`;
}

/** A 19-digit Solr _version_ (milliseconds << 20 plus a counter), a new one each call. */
function versions(seed: number): () => string {
  let v = 1883365083495530496n + BigInt(seed) * 1048576n;
  return () => String((v += 1n + (v % 7n) * 1048576n));
}

/**
 * The plain documents as Solr 9 answers a cursorMark page (wt=json, indent on, its default): one field a
 * line, multi-valued fields one value a line, a 19-digit _version_ in every document.
 */
export function solrIndentedPage(seed = 15): string {
  const version = versions(seed);
  const docs = documents({ suspect: false }, seed).map((f) => {
    const fields = f.map((x) => (x.startsWith('"tags":') ? x.replace(/","/g, '",\n          "') : x)).concat(`"_version_":${version()}`);
    return `\n      {\n        ${fields.join(',\n        ')}}`;
  });
  return `{\n  "responseHeader":{\n    "zkConnected":true,\n    "status":0,\n    "QTime":12,\n    "params":{\n      "q":"*:*",\n      "cursorMark":"*",\n`
    + `      "sort":"id asc",\n      "rows":"${docs.length}",\n      "wt":"json"}},\n  "response":{"numFound":${docs.length * 40},"start":0,"numFoundExact":true,"docs":[${docs.join(',')}]\n`
    + '  },\n  "nextCursorMark":"AoE/ZG9jLTAwMDM5OQ=="}';
}

/**
 * The plain documents as Elasticsearch 8 answers a search_after page (compact): each a hit with _index,
 * _id, a null _score and its sort values; a 19-digit account_id in every 50th document's _source.
 */
export function esPage(seed = 15): string {
  const version = versions(seed);
  const hits = documents({ suspect: false }, seed).map((f, i) => {
    const id = `doc-${String(i).padStart(6, '0')}`;
    const source = i % 50 === 0 ? [...f.slice(0, -1), `"account_id":${version()}`, f[f.length - 1]] : f;
    return `{"_index":"orders-2026","_id":"${id}","_score":null,"_source":{${source.join(',')}},"sort":["${id}"]}`;
  });
  return `{"took":7,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"max_score":null,"hits":[${hits.join(',')}]}}`;
}

// ---------------------------------------------------------------- measuring

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median CPU ms per call of each function, interleaved round by round (`slow` ones: a tenth of the calls). */
function measure(fns: Record<string, () => unknown>, slow: Set<string> = new Set()): Record<string, number> {
  const times: Record<string, number[]> = {};
  const reps = (name: string) => (slow.has(name) ? Math.max(1, Math.round(REPS / 10)) : REPS);
  for (const [name, fn] of Object.entries(fns)) for (let i = 0; i < reps(name); i++) fn(); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(fns)) {
      // CPU time of this process (user + system): on a shared machine, waiting for a core is not our cost.
      const n = reps(name);
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) fn();
      const d = process.cpuUsage(t0);
      (times[name] ??= []).push((d.user + d.system) / 1e3 / n);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/**
 * lossless-json as src/backends/http.ts used it before exactJson (integers beyond 2^53 as BigInt, other
 * numbers parseFloat), or null if it is not installed (no longer a dependency).
 */
function losslessJson(): ((text: string) => unknown) | null {
  let lib: { parse(text: string, reviver: null, parseNumber: (t: string) => unknown): unknown };
  try {
    lib = require(process.env.BENCH_LOSSLESS_JSON ?? 'lossless-json');
  } catch {
    return null;
  }
  const parseNumber = (t: string): number | bigint => {
    if (/^-?\d+$/.test(t)) {
      const n = Number(t);
      return Number.isSafeInteger(n) ? n : BigInt(t);
    }
    return parseFloat(t);
  };
  return (text) => lib.parse(text, null, parseNumber);
}

const JP = 'JSON.parse';
const LL = 'lossless-json 4.3.3';
const OLD = 'exactJson at 322f6ea';
const NEW = 'exactJson.parse (now)';

function main(): void {
  const plain = solrPage({ suspect: false });
  const pages: Record<string, string> = {
    suspect: solrPage({ suspect: true }),
    plain,
    one16: plain.replace('"n9_i":', '"n9_i":1234567890123456,"n9_x":'),
    prose: solrPage({ suspect: true, prose: true }),
    solr: solrIndentedPage(),
    es: esPage(),
  };
  const lossless = losslessJson();
  const fmt = (ms: number, bytes: number) => `${ms.toFixed(2).padStart(7)} ms ${(bytes / 1e6 / (ms / 1000)).toFixed(0).padStart(5)} MB/s`;
  console.log(`node ${process.version}; CPU ms per call, median of ${ROUNDS} rounds x ${REPS} calls (lossless-json: ${Math.max(1, Math.round(REPS / 10))}); 2 KB docs, 20 numeric fields`);
  if (!lossless) console.log(`(${LL}, the issue's baseline, is not installed: npm i --no-save lossless-json@4.3.3, or BENCH_LOSSLESS_JSON=<its directory>)`);
  const summary: Record<string, Record<string, number>> = {};
  for (const [name, text] of Object.entries(pages)) {
    const bytes = Buffer.byteLength(text);
    // Same values both ways, or the figures mean nothing.
    const viaNew = exactJson.parse(text);
    if (exactJson.stringify(viaNew) !== exactJson.stringify(legacyParse(text))) throw new Error(`${name}: new and old parse differ`);
    if (exactJson.stringify(viaNew) !== exactJson.stringify(exactJson.parseWithReviver(text))) throw new Error(`${name}: parse and the reviver differ`);
    const plainTree = JSON.parse(text);
    const p = measure({
      [JP]: () => JSON.parse(text),
      ...(lossless ? { [LL]: () => lossless(text) } : {}),
      [OLD]: () => legacyParse(text),
      [NEW]: () => exactJson.parse(text),
      'reviver+context.source': () => exactJson.parseWithReviver(text),
      'JSON.stringify': () => JSON.stringify(plainTree),
      'exactJson.stringify': () => exactJson.stringify(viaNew),
    }, new Set([LL]));
    const docs = (viaNew.response?.docs ?? viaNew.hits.hits).length;
    console.log(`\n(${name}) ${(bytes / 1e6).toFixed(2)} MB, ${docs} docs`);
    for (const [k, ms] of Object.entries(p)) console.log(`  ${k.padEnd(22)} ${fmt(ms, bytes)}  ${(ms / p[JP]).toFixed(2)}x JSON.parse's time`);
    summary[name] = { mb: +(bytes / 1e6).toFixed(3), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, +v.toFixed(3)])) };
  }
  const mbs = (page: string, k: string) => summary[page].mb / (summary[page][k] / 1000);
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log('\nIssue 15 targets:');
  for (const page of ['suspect', 'solr', 'es']) {
    const now = mbs(page, NEW);
    const vsOld = now / mbs(page, OLD);
    const vsLl = lossless ? now / mbs(page, LL) : NaN;
    console.log(`  MB/s per core (${page} page): ${now.toFixed(0)} MB/s = ${lossless ? `${vsLl.toFixed(1)}x ${LL} (the issue's baseline: ${verdict(vsLl >= 3)} >= 3x), ` : ''}`
      + `${vsOld.toFixed(2)}x ${OLD} (${verdict(vsOld >= 3)} >= 3x)`);
  }
  const one16 = summary.one16[NEW] / summary.one16[JP];
  console.log(`  one 16-digit number in a page: ${one16.toFixed(2)}x JSON.parse's time (${verdict(one16 <= 1.5)} <= 1.5x); `
    + `${(summary.one16[NEW] / summary.plain[NEW]).toFixed(2)}x exactJson's time on the same page without it`);
  console.log(`\n${JSON.stringify(summary)}`);
}

if (require.main === module) main();
