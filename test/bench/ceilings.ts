/**
 * The physical limits on this machine, for the benchmarks to set the fleet's rate against (issue 15,
 * "the limit, measured"): the source's read ceiling (as many parallel streams as the fleet uses,
 * reading everything, writing nothing), the target's ingest ceiling (the same streams bulk-loading
 * pages serialized beforehand, reading nothing) and the copy ceiling (the same streams reading and
 * writing at once, page by page). No coordination, no checks, plain JSON. With a meter
 * (serverCpu.ts), what each cost the servers, and a copy's share of it per document.
 */
import { cpus } from 'node:os';
import { quotedTerm } from '../../src/backends/solr/queries';
import { routeOf, shardRoutes } from '../../src/backends/solr/shardRouting';
import { describeSpent, metered, perThousand, type CpuSpent, type ServerCpu } from './serverCpu';

export interface Ceilings {
  streams: number;
  /** Documents per second read from the source. */
  read: number;
  /** Documents per second the target took. */
  ingest: number;
  /** MB/s of the pages bulk-loaded. */
  ingestMBps: number;
  /** What the servers spent reading and ingesting (serverCpu.ts), when there is a meter. */
  cpu?: { read: CpuSpent; ingest: CpuSpent; docs: number; settled: boolean };
  /**
   * The copy ceiling, when asked for: documents per second of the same streams each writing a page
   * while reading the next (no look, no checkpoint, no coordination), reading and writing at once as
   * any copy must; what the servers spent on it.
   */
  copy?: { rate: number; docs: number; spent?: CpuSpent; settled: boolean };
  /** Documents copied in the warm-up, unmeasured, before anything else (CeilingOptions.warmUp). */
  warmedUp?: number;
}

/**
 * What the ceilings measure besides the read and the bulk load. `warmUp`: first, unmeasured, copy
 * `docs` documents (pipelined, as the copy ceiling) with a real-time look at both servers for each
 * page's ids, as the fleet's lanes do, passing over the source as often as that takes, each pass into
 * a scratch collection or index of its own (`create`, then `drop` once written): on a freshly started
 * stack the first phase otherwise runs on cold JVMs (at 200,000 small documents the Solr ingest
 * ceiling measured 6,428 docs/s cold and 33,704 warm), and a cold ceiling flatters every share set
 * against it.
 */
export interface CeilingOptions {
  meter?: ServerCpu | null;
  /** The copy ceiling, into this collection or index. */
  copyDst?: string;
  warmUp?: WarmUp;
}
export interface WarmUp {
  docs: number;
  create: () => Promise<string>;
  drop: (name: string) => Promise<void>;
}

/** Passes of `pass(dst, limit)` (documents it copied) into scratch targets until `w.docs` are copied; the documents copied. */
async function warmUpPasses(w: WarmUp, pass: (dst: string, limit: number) => Promise<number>): Promise<number> {
  let done = 0;
  while (done < w.docs) {
    const dst = await w.create();
    const copied = await pass(dst, w.docs - done);
    await w.drop(dst);
    if (copied === 0) break; // an empty source: nothing to warm with
    done += copied;
  }
  return done;
}

async function post(url: string, body: string, contentType = 'application/json'): Promise<any> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
  return r.json();
}

/** Runs `streams` workers over `work` at once; seconds taken. */
async function parallel<T>(items: T[], streams: number, fn: (item: T) => Promise<void>): Promise<number> {
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: streams }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
  return (Date.now() - t0) / 1000;
}

/**
 * A Solr page's create-only updates, one per shard leader of `into` (as the fleet sends them:
 * shardRouting.ts), or one through the node when the collection cannot be routed. The routes are
 * read once, here.
 */
export async function solrLeaderUpdates(target: string, into: string): Promise<(docs: Array<Record<string, unknown>>) => Array<{ url: string; body: string }>> {
  const st = (await (await fetch(`${target}/admin/collections?action=CLUSTERSTATUS&collection=${into}&wt=json`)).json()) as any;
  const routes = shardRoutes(st.cluster.collections[into], new Set(st.cluster.live_nodes), (r) => r.base_url ?? null);
  const params = 'update?failOnVersionConflicts=false&commitWithin=10000&wt=json';
  return (docs) => {
    const by = new Map<string, Array<Record<string, unknown>>>();
    for (const d of docs) {
      const at = (routes && routeOf(routes, String(d.id))?.leader) || `${target}/${into}`;
      const part = by.get(at);
      if (part) part.push({ ...d, _version_: -1 });
      else by.set(at, [{ ...d, _version_: -1 }]);
    }
    return [...by].map(([at, part]) => ({ url: `${at}/${params}`, body: JSON.stringify(part) }));
  };
}

/**
 * Solr: each stream reads its own range of ids with cursorMark, the ranges cut at the ids' quantiles
 * (one untimed pass over the ids first), as the fleet's slices each read a part of the collection by
 * a filter. (A `{!hash}` partition read every document in each stream to hash it: at 1,000,000
 * documents that "ceiling" was half what the fleet read.) The pages, serialized create-only
 * (`_version_: -1`) and split by shard leader as the fleet's writes are (shardRouting.ts: no node
 * forwards them), are then loaded into `dst`. With `copyDst`, the copy ceiling too: the same
 * streams each write a page into `copyDst` while reading the next, no look, no checkpoint.
 */
export async function solrCeilings(source: string, coll: string, target: string, dst: string, streams: number, rows: number, opts: CeilingOptions = {}): Promise<Ceilings> {
  const { meter, copyDst, warmUp } = opts;
  const select = (params: Record<string, string>) => post(`${source}/${coll}/select`, new URLSearchParams({ q: '*:*', sort: 'id asc', wt: 'json', indent: 'false', ...params }).toString(), 'application/x-www-form-urlencoded');
  const ids: string[] = [];
  for (let cursor = '*'; ;) {
    const page = await select({ fl: 'id', rows: '10000', cursorMark: cursor });
    for (const d of page.response.docs) ids.push(String(d.id));
    if (page.nextCursorMark === cursor || page.response.docs.length === 0) break;
    cursor = page.nextCursorMark;
  }
  const cuts = Array.from({ length: streams - 1 }, (_, i) => ids[Math.floor(((i + 1) * ids.length) / streams)]);
  const total = ids.length;
  ids.length = 0;
  /**
   * Every stream's range read, each page (its documents and ids) handed to `onPage`; the
   * next page is read while it runs (one at a time per stream: a pipelined copy, as the fleet's lanes);
   * the seconds taken and the documents read. `limit`: each stream stops after that many documents
   * (the warm-up).
   */
  const readRanges = async (onPage: (docs: Array<Record<string, unknown>>, ids: string[]) => Promise<void> | void, limit = Infinity) => {
    let docs = 0;
    const secs = await parallel(Array.from({ length: streams }, (_, i) => i), streams, async (i) => {
      const lo = i === 0 ? '*' : quotedTerm(cuts[i - 1]);
      const hi = i === streams - 1 ? '*' : quotedTerm(cuts[i]);
      let writing: Promise<void> | void = undefined;
      let mine = 0;
      for (let cursor = '*'; mine < limit;) {
        const page = await select({ fq: `id:[${lo} TO ${hi}}`, rows: String(rows), fl: '*', cursorMark: cursor });
        const got = page.response.docs as Array<Record<string, unknown>>;
        if (got.length) {
          docs += got.length;
          mine += got.length;
          await writing;
          writing = onPage(got, got.map((d) => String(d.id)));
        }
        if (page.nextCursorMark === cursor || got.length === 0) break;
        cursor = page.nextCursorMark;
      }
      await writing;
    });
    if (limit === Infinity && docs !== total) throw new Error(`ceilings: the id ranges read ${docs} of ${total} documents`);
    return { secs, docs };
  };
  const updates = (into: string) => solrLeaderUpdates(target, into);
  const send = async (parts: Array<{ url: string; body: string }>) => void (await Promise.all(parts.map((u) => post(u.url, u.body))));
  const write = async (into: string) => {
    const split = await updates(into);
    return (docs: Array<Record<string, unknown>>) => send(split(docs));
  };
  const commit = (into: string) => () => post(`${target}/${into}/update?commit=true&wt=json`, '[]');
  const look = (server: string, into: string, ids: string[], fl: string) => post(`${server}/${into}/get`, new URLSearchParams([['fl', fl], ['wt', 'json'], ...ids.map((id): [string, string] => ['id', id])] as Array<[string, string]>).toString(), 'application/x-www-form-urlencoded');
  const warmedUp = warmUp ? await warmUpPasses(warmUp, async (into, limit) => {
    const writeInto = await write(into);
    const { docs } = await readRanges(async (page, ids) => {
      await look(target, into, ids, 'id');
      await writeInto(page);
      await look(source, coll, ids, '[docid]');
    }, Math.ceil(limit / streams));
    await commit(into)();
    return docs;
  }) : undefined;
  // The pages are split by shard leader and serialized as they are read: the bulk load only sends.
  const bodies: Array<Array<{ url: string; body: string }>> = [];
  const splitForDst = await updates(dst);
  const read = await metered(meter, async () => (await readRanges((page) => { bodies.push(splitForDst(page)); })).secs);
  const bytes = bodies.reduce((n, parts) => n + parts.reduce((m, u) => m + Buffer.byteLength(u.body), 0), 0);
  const ingest = await metered(meter, () => parallel(bodies, streams, send), commit(dst));
  bodies.length = 0;
  const copyInto = copyDst ? await write(copyDst) : null;
  const copy = copyDst && copyInto ? await metered(meter, async () => (await readRanges(copyInto)).secs, commit(copyDst)) : null;
  return { streams, read: total / read.value, ingest: total / ingest.value, ingestMBps: bytes / 1e6 / ingest.value, ...cpuOf(read, ingest, total), ...copyOf(copy, total), ...(warmedUp === undefined ? {} : { warmedUp }) };
}

/**
 * Elasticsearch: each stream reads its own slice of a sliced scroll; the pages, serialized as bulk
 * `create` bodies, are then loaded into `dst`. `tunedDst`: the same pages bulk-loaded again into an
 * index set up as target.prepare tuneForBulk leaves it while the copy runs (no refresh, no replicas),
 * the ceiling a tuned copy is measured against. `copyDst`: the copy ceiling (as solrCeilings).
 */
export async function esCeilings(source: string, index: string, target: string, dst: string, streams: number, size: number, opts: CeilingOptions & { tunedDst?: string } = {}): Promise<Ceilings & { ingestTuned?: number }> {
  const { meter, copyDst, warmUp, tunedDst } = opts;
  let docs = 0;
  /**
   * Every stream's slice scrolled, each page (as a bulk body, and its ids) handed to `onPage` while the
   * next is read, as readRanges in solrCeilings (`docs` counts them); seconds. `limit`: each stream
   * stops after that many documents (the warm-up).
   */
  const readSlices = (onPage: (body: string, ids: string[]) => Promise<void> | void, limit = Infinity) => parallel(Array.from({ length: streams }, (_, i) => i), streams, async (id) => {
    const slice = streams > 1 ? { slice: { id, max: streams } } : {};
    let page = await post(`${source}/${index}/_search?scroll=1m`, JSON.stringify({ size, sort: ['_doc'], ...slice }));
    let writing: Promise<void> | void = undefined;
    for (let mine = 0; page.hits.hits.length && mine < limit;) {
      const hits = page.hits.hits as Array<{ _id: string; _routing?: string; _source: unknown }>;
      docs += hits.length;
      mine += hits.length;
      await writing;
      writing = onPage(hits.map((h) => `${JSON.stringify({ create: { _id: h._id, ...(h._routing ? { routing: h._routing } : {}) } })}\n${JSON.stringify(h._source)}\n`).join(''), hits.map((h) => h._id));
      if (mine >= limit) break;
      page = await post(`${source}/_search/scroll`, JSON.stringify({ scroll: '1m', scroll_id: page._scroll_id }));
    }
    await writing;
    await fetch(`${source}/_search/scroll`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scroll_id: page._scroll_id }) });
  });
  const write = (into: string) => async (body: string) => {
    const res = await post(`${target}/${into}/_bulk`, body, 'application/x-ndjson');
    if (res.errors) throw new Error(`ceilings: bulk item errors writing into ${into}`);
  };
  const refresh = (into: string) => () => post(`${target}/${into}/_refresh`, '');
  const look = (server: string, into: string, ids: string[]) => post(`${server}/${into}/_mget?_source=false`, JSON.stringify({ ids }));
  const warmedUp = warmUp ? await warmUpPasses(warmUp, async (into, limit) => {
    docs = 0;
    await readSlices(async (body, ids) => {
      await look(target, into, ids);
      await write(into)(body);
      await look(source, index, ids);
    }, Math.ceil(limit / streams));
    await refresh(into)();
    const copied = docs;
    docs = 0;
    return copied;
  }) : undefined;
  const bodies: string[] = [];
  const read = await metered(meter, () => readSlices((body) => { bodies.push(body); }));
  const total = docs;
  const bytes = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
  const ingest = await metered(meter, () => parallel(bodies, streams, write(dst)), refresh(dst));
  const tunedSecs = tunedDst ? await parallel(bodies, streams, write(tunedDst)) : 0;
  bodies.length = 0;
  docs = 0;
  const copy = copyDst ? await metered(meter, () => readSlices(write(copyDst)), refresh(copyDst)) : null;
  if (copyDst && docs !== total) throw new Error(`copy ceiling: read ${docs} of ${total} documents`);
  return { streams, read: total / read.value, ingest: total / ingest.value, ingestMBps: bytes / 1e6 / ingest.value, ...cpuOf(read, ingest, total), ...copyOf(copy, total), ...(tunedDst ? { ingestTuned: total / tunedSecs } : {}), ...(warmedUp === undefined ? {} : { warmedUp }) };
}

/**
 * Reading and ingesting at once on cores they share (the local stack: both clusters and the workers on
 * one machine), a copy can go no faster than one document read plus one ingested per document's time:
 * 1 / (1/read + 1/ingest). On separate machines the bound is the smaller of the two.
 */
export function sharedCoreBound(c: Ceilings): number {
  return 1 / (1 / c.read + 1 / c.ingest);
}

type Metered = { cpu?: { spent: CpuSpent; settled: boolean } };
function copyOf(copy: (Metered & { value: number }) | null, docs: number): Pick<Ceilings, 'copy'> {
  return copy ? { copy: { rate: docs / copy.value, docs, spent: copy.cpu?.spent, settled: copy.cpu?.settled ?? true } } : {};
}
function cpuOf(read: Metered, ingest: Metered, docs: number): Pick<Ceilings, 'cpu'> {
  return read.cpu && ingest.cpu ? { cpu: { read: read.cpu.spent, ingest: ingest.cpu.spent, docs, settled: read.cpu.settled && ingest.cpu.settled } } : {};
}

export function ceilingRows(c: Ceilings): string[] {
  return [
    ...(c.warmedUp === undefined ? [] : [`warm-up, unmeasured: ${c.warmedUp} documents copied first (${c.streams} streams, a real-time look at both servers per page, into scratch targets dropped after), so that no ceiling runs on cold JVMs`]),
    `source read ceiling (${c.streams} streams, no writes)       ${Math.round(c.read)} docs/s${c.cpu ? `  (${describeSpent(c.cpu.read, c.cpu.docs, ['source'], c.cpu.settled)})` : ''}`,
    `target ingest ceiling (${c.streams} streams, pre-serialized) ${Math.round(c.ingest)} docs/s  (${c.ingestMBps.toFixed(1)} MB/s${c.cpu ? `; ${describeSpent(c.cpu.ingest, c.cpu.docs, ['target'], c.cpu.settled)}` : ''})`,
    `read + ingest on shared cores, 1/(1/read + 1/ingest)  ${Math.round(sharedCoreBound(c))} docs/s  (both clusters and the workers share this machine's cores)`,
    ...(c.copy ? [`copy ceiling (${c.streams} streams, each writes a page while reading the next, no checks) ${Math.round(c.copy.rate)} docs/s${c.copy.spent ? `  (${describeSpent(c.copy.spent, c.copy.docs, ['source', 'target'], c.copy.settled)})` : ''}`] : []),
  ];
}

/**
 * A copy's servers' CPU per document set against the ceilings' (same run): `target` is what the bulk
 * load cost the target per document divided by what the copy cost it, the share of the ingest ceiling
 * the copy would reach on a target whose CPU is the only limit (on clusters of their own, as in
 * production); `source` the same against the read ceiling.
 */
export function serverShare(spent: CpuSpent, docs: number, c: Ceilings): { target: number; source: number } | null {
  if (!c.cpu) return null;
  return {
    target: perThousand(c.cpu.ingest.target, c.cpu.docs) / Math.max(1e-9, perThousand(spent.target, docs)),
    source: perThousand(c.cpu.read.source, c.cpu.docs) / Math.max(1e-9, perThousand(spent.source, docs)),
  };
}

/**
 * The rows a metered copy prints: its servers' CPU per document and its share of each ceiling
 * (serverShare); with the workers' CPU and the copy's rate end to end, the bound all that CPU sets on
 * this machine's cores (what the servers and the workers spend per document, all on the same cores).
 */
export function serverShareRow(spent: CpuSpent, settled: boolean, docs: number, c: Ceilings, workers?: { cpuMs: number; rate: number }): string[] {
  const share = serverShare(spent, docs, c);
  const workerText = workers === undefined ? '' : `, workers ${perThousand(workers.cpuMs, docs).toFixed(0)} ms`;
  const ratio = share ? `: the bulk load cost the target ${share.target.toFixed(2)}× as much per document (on a target that is the only limit, ${share.target.toFixed(2)}× the ingest ceiling), the read ceiling cost the source ${share.source.toFixed(2)}× as much` : '';
  const rows = [`    servers' CPU: ${describeSpent(spent, docs, undefined, settled)}${workerText}${ratio}`];
  if (workers) {
    const cores = cpus().length;
    const msPerThousand = perThousand(spent.source + spent.target + spent.zookeeper + workers.cpuMs, docs);
    const bound = (cores * 1000 * 1000) / Math.max(1e-9, msPerThousand);
    rows.push(`    cores' bound: ${cores} cores / ${msPerThousand.toFixed(0)} ms of CPU per 1,000 documents (servers and workers) = ${Math.round(bound)} docs/s; end to end the fleet ran at ${(workers.rate / bound).toFixed(2)}× it`);
  }
  return rows;
}

/** ", 0.91× the copy ceiling" for a rate, or nothing when the ceilings had none. */
export const ofCopyCeiling = (rate: number, c: Ceilings): string => (c.copy ? `, ${(rate / c.copy.rate).toFixed(2)}× the copy ceiling` : '');
