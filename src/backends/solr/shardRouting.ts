/**
 * Which shard of a SolrCloud collection a document belongs to, as Solr's compositeId router decides
 * it (issue 15): the target's writes go straight to each shard's leader, as SolrJ's cloud client
 * does, instead of through one node that parses every document and forwards most of them (with N
 * shards, N−1 of every N documents, a request of its own per shard leader). Pure: no I/O.
 *
 * Getting a document's shard wrong costs no data: a core that is not the document's leader forwards
 * it to the right one (Solr routes every update it is sent), so an id this module hashes differently
 * from Solr (an odd bit count, an unpaired surrogate) only pays the forward it would have paid before.
 */

/** murmurhash3_x86_32 of the UTF-8 bytes, seed 0: Solr's `Hash.murmurhash3_x86_32(CharSequence)`. */
export function murmur3(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = bytes[whole];
    if (rest > 1) k ^= bytes[whole + 1] << 8;
    if (rest > 2) k ^= bytes[whole + 2] << 16;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** The top `bits` of 32 (0 for none, all for 32+). */
const topBits = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? -1 : (-1 << (32 - bits)));

/**
 * The compositeId hash of an id: a plain id hashes whole; `tenant!doc` takes the top 16 bits (or
 * `tenant/N!doc`: N) from the tenant's hash and the rest from the document's, so a tenant's
 * documents share shards; `a!b!c` takes 8 + 8 bits (or the /N given) from its first two parts. Only
 * the first two `!` separate; an id ending in `!` has an empty last part.
 */
export function compositeIdHash(id: string): number {
  const first = id.indexOf('!');
  if (first < 0) return murmur3(id);
  const parts = [id.slice(0, first)];
  const last = id.length - 1;
  if (first < last) {
    const second = id.indexOf('!', first + 1);
    if (second < 0) parts.push(id.slice(first + 1));
    else if (second === last) {
      if (first < second - 1) parts.push(id.slice(first + 1, second));
    } else parts.push(id.slice(first + 1, second), id.slice(second + 1));
  }
  if (id.endsWith('!') && parts.length < 3) parts.push('');
  if (parts.length === 1) return murmur3(parts[0]);
  const three = parts.length === 3;
  const bits = three ? [8, 8] : [16];
  for (let i = 0; i < parts.length - 1; i++) {
    const slash = parts[i].indexOf('/');
    if (slash > 0) {
      const n = Number(parts[i].slice(slash + 1));
      if (Number.isInteger(n) && n >= 0) bits[i] = Math.min(n, 32);
      parts[i] = parts[i].slice(0, slash);
    }
  }
  const hashes = parts.map(murmur3);
  if (!three) {
    const high = topBits(bits[0]);
    return (hashes[0] & high) | (hashes[1] & ~high);
  }
  const m0 = topBits(bits[0]);
  const m01 = topBits(bits[0] + bits[1]);
  return (hashes[0] & m0) | (hashes[1] & m01 & ~m0) | (hashes[2] & ~m01);
}

/** One shard of a collection: its hash range (inclusive, signed 32-bit) and where its leader takes updates. */
export interface ShardRoute {
  name: string;
  min: number;
  max: number;
  /** The leader core's URL (`…/solr/<core>`), without a trailing slash. */
  leader: string;
}

/** A range as Solr writes it (`80000000-ffffffff`), as signed 32-bit ints; null if it is not one. */
export function parseRange(text: unknown): { min: number; max: number } | null {
  const m = typeof text === 'string' ? /^([0-9a-f]{1,8})-([0-9a-f]{1,8})$/i.exec(text) : null;
  if (!m) return null;
  const min = parseInt(m[1], 16) | 0;
  const max = parseInt(m[2], 16) | 0;
  return min <= max ? { min, max } : null;
}

/**
 * The routes of a collection from its CLUSTERSTATUS entry, or null when its documents cannot be
 * routed here (then they go through the endpoint, as before): a router other than plain compositeId
 * (implicit, or routed by a field), a shard that is active but has no range, or no active leader on
 * a live node. `baseOf` turns a replica into its node's base URL.
 */
export function shardRoutes(collection: any, liveNodes: ReadonlySet<string>, baseOf: (replica: any) => string | null): ShardRoute[] | null {
  if (collection?.router?.name !== 'compositeId' || collection.router.field) return null;
  const routes: ShardRoute[] = [];
  for (const [name, shard] of Object.entries<any>(collection.shards ?? {})) {
    if (shard?.state !== 'active') continue;
    const range = parseRange(shard.range);
    if (!range) return null;
    const leader = Object.values<any>(shard.replicas ?? {}).find((r) => (r?.leader === true || r?.leader === 'true') && r.state === 'active' && liveNodes.has(String(r.node_name)));
    const base = leader ? baseOf(leader) : null;
    if (!leader || !base || typeof leader.core !== 'string') return null;
    routes.push({ name, ...range, leader: `${base.replace(/\/+$/, '')}/${encodeURIComponent(leader.core)}` });
  }
  return routes.length ? routes : null;
}

/** The route of an id's hash, or null when no active shard's range holds it (a split under way). */
export function routeOf(routes: readonly ShardRoute[], id: string): ShardRoute | null {
  const h = compositeIdHash(id);
  for (const r of routes) if (h >= r.min && h <= r.max) return r;
  return null;
}
