/**
 * Figures, not a test (issue 15, "Native-speed exact JSON"): exactJson.parse / stringify against
 * plain JSON.parse / JSON.stringify, JSON.parse's reviver with context.source (exact alone, but it runs
 * for every value), and the previous careful parser (a copy below, `legacyParse`:
 * src no longer has it), on 0.8 MB Solr-like pages of 2 KB documents with 20 numeric fields:
 *   suspect  some 64-bit integers and decimals with trailing zeros in every document (the hard case)
 *   plain    the same page with no number that could change (the fast path)
 *   one16    the plain page with one 16-digit number in it (used to send the whole page the slow way)
 *   prose    the suspect page whose text fields also hold "1.0, " and "2E+3 " (the string-aware fallback)
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

/** A Solr select response of ~0.8 MB: 2 KB documents, 20 numeric fields each. */
export function solrPage(opts: { suspect: boolean; prose?: boolean }, seed = 15): string {
  const r = prng(seed);
  const int = (digits: number) => String(10 ** (digits - 1) + Math.floor(r() * 9 * 10 ** (digits - 1)));
  const docs: string[] = [];
  let bytes = 0;
  while (bytes < PAGE_BYTES) {
    const i = docs.length;
    const f: string[] = [`"id":"doc-${String(i).padStart(6, '0')}"`, `"customer":"c${i % 17}"`];
    for (let k = 0; k < 20; k++) {
      let v: string;
      if (k < 3) v = opts.suspect ? `${1883365083495530496n + BigInt(Math.floor(r() * 1e12))}` : int(15); // 64-bit ids / _version_-like
      else if (k < 7) v = opts.suspect ? `${int(3)}.${int(1)}0` : `${int(3)}.${int(2)}`; // 12.50 vs 12.57
      else if (k % 2) v = int(1 + Math.floor(r() * 9));
      else v = `${int(1 + Math.floor(r() * 5))}.${int(1 + Math.floor(r() * 3))}`;
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
    docs.push(`${head}${body.slice(0, 2048 - head.length - 2)}"}`);
    bytes += docs[i].length + 1;
  }
  return `{"responseHeader":{"status":0,"QTime":12,"params":{"q":"*:*","cursorMark":"*","sort":"id asc","rows":"${docs.length}","wt":"json"}},`
    + `"response":{"numFound":${docs.length * 40},"start":0,"numFoundExact":true,"docs":[${docs.join(',')}]},"nextCursorMark":"AoE/ZG9jLTAwMDM5OQ=="}`;
}

// ---------------------------------------------------------------- measuring

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median CPU ms per call of each function, interleaved round by round. */
function measure(fns: Record<string, () => unknown>): Record<string, number> {
  const times: Record<string, number[]> = {};
  for (const fn of Object.values(fns)) for (let i = 0; i < REPS; i++) fn(); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(fns)) {
      // CPU time of this process (user + system): on a shared machine, waiting for a core is not our cost.
      const t0 = process.cpuUsage();
      for (let i = 0; i < REPS; i++) fn();
      const d = process.cpuUsage(t0);
      (times[name] ??= []).push((d.user + d.system) / 1e3 / REPS);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

function main(): void {
  const one16 = solrPage({ suspect: false }).replace('"n9_i":', '"n9_i":1234567890123456,"n9_x":');
  const pages: Record<string, string> = {
    suspect: solrPage({ suspect: true }),
    plain: solrPage({ suspect: false }),
    one16,
    prose: solrPage({ suspect: true, prose: true }),
  };
  const fmt = (ms: number, bytes: number) => `${ms.toFixed(2).padStart(7)} ms ${(bytes / 1e6 / (ms / 1000)).toFixed(0).padStart(5)} MB/s`;
  console.log(`node ${process.version}; CPU ms per call, median of ${ROUNDS} rounds x ${REPS} calls; page = Solr select response, 2 KB docs, 20 numeric fields`);
  const summary: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(pages)) {
    const bytes = Buffer.byteLength(text);
    // Same values both ways, or the figures mean nothing.
    const viaNew = exactJson.parse(text);
    if (exactJson.stringify(viaNew) !== exactJson.stringify(legacyParse(text))) throw new Error(`${name}: new and old parse differ`);
    const plainTree = JSON.parse(text);
    const p = measure({
      'JSON.parse': () => JSON.parse(text),
      'old parseCareful': () => legacyParse(text),
      'new exactJson.parse': () => exactJson.parse(text),
      'reviver+context.source': () => exactJson.parseWithReviver(text),
      'JSON.stringify': () => JSON.stringify(plainTree),
      'exactJson.stringify': () => exactJson.stringify(viaNew),
    });
    const docs = viaNew.response.docs.length;
    console.log(`\n(${name}) ${(bytes / 1e6).toFixed(2)} MB, ${docs} docs`);
    for (const [k, ms] of Object.entries(p)) console.log(`  ${k.padEnd(22)} ${fmt(ms, bytes)}  ${(ms / p['JSON.parse']).toFixed(2)}x JSON.parse`);
    const ratio = p['old parseCareful'] / p['new exactJson.parse'];
    console.log(`  new/old parse MB/s: ${ratio.toFixed(2)}x`);
    summary[name] = { mb: +(bytes / 1e6).toFixed(3), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, +v.toFixed(3)])), newOverOld: +ratio.toFixed(2) };
  }
  console.log(`\n${JSON.stringify(summary)}`);
}

if (require.main === module) main();
