/**
 * Where everything lives in ZooKeeper (see README "ZooKeeper layout"). The tree stays small whatever
 * the number of customers and slices: work nodes, the queue of unfinished slices and the customer
 * index are spread over hash buckets, so no listing grows without bound (ZooKeeper answers a
 * getChildren in one packet, capped by jute.maxbuffer).
 *
 *   <base>/spec, lifecycle, cutover, target     one node each
 *   <base>/planning                             ephemeral: the planner at work (one at a time)
 *   <base>/planners/<id>                        ephemeral: every planner process running
 *   <base>/plan                                 written last: the plan is complete
 *   <base>/slices/<bucket>/<slice>              the work node of each slice (persistent)
 *   <base>/queue/<bucket>/<slice>               marker: the slice is unfinished (removed when it is)
 *   <base>/queue/<bucket>/<slice>~claim         ephemeral: the worker that holds it
 *   <base>/summary/<bucket>                     what the bucket's finished slices did (status reads these)
 *   <base>/customers/<bucket>                   customer index: which slices hold each customer
 *   <base>/workers/<id>                         ephemeral: live workers
 *   <base>/checking, checked                    the worker checking every work node of a plan (ephemeral), and its record
 *   <base>/optimizing, optimized                target.optimize: the worker merging the target, and its record
 *   <base>/verify/<run>/…                       verification runs (verifier.ts)
 *   <base>/dualwrite/<bucket>/<id>              an id whose second dual write failed (dualwrite/), until verify finds it equal
 *
 * Customer values become names (in the index and in metrics) through encodeURIComponent, so any value
 * (slashes, spaces, unicode) is a legal single name.
 */
export const NO_CUSTOMER = '_none';

/** The empty string is a value a keyword field can hold; it needs a node name of its own. */
export const EMPTY_CUSTOMER = '_empty';

export function customerNodeName(customer: string | null): string {
  if (customer === null) return NO_CUSTOMER;
  if (customer === '') return EMPTY_CUSTOMER;
  // A real customer literally named "_none" must not collide with the no-customer bucket.
  const enc = encodeURIComponent(customer).replace(/\./g, '%2E');
  return enc.startsWith('_') ? `%5F${enc.slice(1)}` : enc;
}

export function customerFromNodeName(name: string): string | null {
  if (name === NO_CUSTOMER) return null;
  if (name === EMPTY_CUSTOMER) return '';
  return decodeURIComponent(name);
}

/** A slice's name: its number across the migration, zero-padded so names sort as numbers. */
export function sliceNodeName(index: number): string {
  return String(index).padStart(6, '0');
}

/** The suffix that marks a claim beside its queue entry (one listing shows both). */
export const CLAIM_SUFFIX = '~claim';

/** How many buckets for `n` items: about `per` items each, a power of two, 1 to 4096. */
export function bucketCount(n: number, per: number): number {
  let b = 1;
  while (b < 4096 && b * per < n) b *= 2;
  return b;
}

/** A bucket's name: hex, fixed width for its count (so names sort). */
export function bucketName(i: number, buckets: number): string {
  const width = Math.max(1, (buckets - 1).toString(16).length);
  return i.toString(16).padStart(width, '0');
}

/** The bucket of slice `index`: consecutive slices land in different buckets (spread for claims). */
export function sliceBucket(index: number, buckets: number): string {
  return bucketName(index % buckets, buckets);
}

/** FNV-1a of the customer's name: stable across processes and versions. */
export function customerBucket(customer: string | null, buckets: number): string {
  let h = 0x811c9dc5;
  for (const ch of customerNodeName(customer)) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return bucketName(h % buckets, buckets);
}

/**
 * Buckets of the ids recorded by the dual writer (fixed: nobody knows ahead how many writes will
 * fail). Hashed on the id, so 1,000,000 recorded ids make listings of about 1,000 names each.
 */
export const DUAL_WRITE_BUCKETS = 1024;

/** A document id as one legal node name (any id: slashes, dots, unicode), reversible with decodeURIComponent. */
export function idNodeName(id: string): string {
  return encodeURIComponent(id).replace(/\./g, '%2E');
}

/** The bucket of a recorded id: FNV-1a of its node name, as customerBucket. */
export function recordBucket(id: string): string {
  let h = 0x811c9dc5;
  for (const ch of idNodeName(id)) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return bucketName(h % DUAL_WRITE_BUCKETS, DUAL_WRITE_BUCKETS);
}

/** Where a slice's nodes are: its bucket and name. */
export interface SliceAddress {
  bucket: string;
  name: string;
}

export class Layout {
  constructor(readonly root: string, readonly migration: string) {}

  get base(): string {
    return `${this.root === '/' ? '' : this.root}/${this.migration}`;
  }
  get spec(): string {
    return `${this.base}/spec`;
  }
  /** The plan node: written last, so its presence means every slice and the index exist. */
  get plan(): string {
    return `${this.base}/plan`;
  }
  /** Ephemeral barrier of the planner at work. */
  get planning(): string {
    return `${this.base}/planning`;
  }
  get slices(): string {
    return `${this.base}/slices`;
  }
  sliceBucket(bucket: string): string {
    return `${this.slices}/${bucket}`;
  }
  slice(a: SliceAddress): string {
    return `${this.slices}/${a.bucket}/${a.name}`;
  }
  get queue(): string {
    return `${this.base}/queue`;
  }
  queueBucket(bucket: string): string {
    return `${this.queue}/${bucket}`;
  }
  queued(a: SliceAddress): string {
    return `${this.queue}/${a.bucket}/${a.name}`;
  }
  claim(a: SliceAddress): string {
    return `${this.queue}/${a.bucket}/${a.name}${CLAIM_SUFFIX}`;
  }
  get summaries(): string {
    return `${this.base}/summary`;
  }
  summary(bucket: string): string {
    return `${this.summaries}/${bucket}`;
  }
  get customers(): string {
    return `${this.base}/customers`;
  }
  customerIndex(bucket: string): string {
    return `${this.customers}/${bucket}`;
  }
  get workers(): string {
    return `${this.base}/workers`;
  }
  worker(id: string): string {
    return `${this.workers}/${id}`;
  }
  get verify(): string {
    return `${this.base}/verify`;
  }
  get cutover(): string {
    return `${this.base}/cutover`;
  }
  /** The migration's lifecycle state (lifecycle/machine.ts). */
  get lifecycle(): string {
    return `${this.base}/lifecycle`;
  }
  /**
   * The first worker of a plan reads every unfinished work node (ephemeral `checking` while it does);
   * `checked` records that it found them whole, so the rest of the fleet need not read them again.
   */
  get checking(): string {
    return `${this.base}/checking`;
  }
  get checked(): string {
    return `${this.base}/checked`;
  }
  /** target.optimize: ephemeral while a worker merges the target; `optimized` records that it did. */
  get optimizing(): string {
    return `${this.base}/optimizing`;
  }
  get optimized(): string {
    return `${this.base}/optimized`;
  }
  /** Ids whose second dual write failed (coordination/dualWriteRecords.ts), hash-bucketed. */
  get dualWrites(): string {
    return `${this.base}/dualwrite`;
  }
  dualWriteBucket(bucket: string): string {
    return `${this.dualWrites}/${bucket}`;
  }
  dualWrite(id: string): string {
    return `${this.dualWrites}/${recordBucket(id)}/${idNodeName(id)}`;
  }
  /** Ephemeral: one per planner at work (a plan is finished only when no other planner is). */
  get planners(): string {
    return `${this.base}/planners`;
  }
  planner(id: string): string {
    return `${this.planners}/${id}`;
  }
}
