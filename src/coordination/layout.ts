/**
 * Where everything lives in ZooKeeper (see README "ZooKeeper layout"). Customer values become node
 * names through encodeURIComponent, so any value (slashes, spaces, unicode) is a legal single name.
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

export function sliceNodeName(index: number): string {
  return String(index).padStart(6, '0');
}

export class Layout {
  constructor(readonly root: string, readonly migration: string) {}

  get base(): string {
    return `${this.root === '/' ? '' : this.root}/${this.migration}`;
  }
  get spec(): string {
    return `${this.base}/spec`;
  }
  get customers(): string {
    return `${this.base}/customers`;
  }
  customer(c: string): string {
    return `${this.customers}/${c}`;
  }
  planning(c: string): string {
    return `${this.customer(c)}/planning`;
  }
  plan(c: string): string {
    return `${this.customer(c)}/plan`;
  }
  slices(c: string): string {
    return `${this.customer(c)}/slices`;
  }
  slice(c: string, n: string): string {
    return `${this.slices(c)}/${n}`;
  }
  claims(c: string): string {
    return `${this.customer(c)}/claims`;
  }
  claim(c: string, n: string): string {
    return `${this.claims(c)}/${n}`;
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
  /** Ephemeral: one per planner at work (a plan is finished only when no other planner is). */
  get planners(): string {
    return `${this.base}/planners`;
  }
  planner(id: string): string {
    return `${this.planners}/${id}`;
  }
}
