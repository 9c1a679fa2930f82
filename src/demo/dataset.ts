/**
 * Synthetic customers for the demo and the tests, shaped like seed 001's picture: one high-volume
 * customer with short retention, one low-volume customer with long retention, one in between, plus
 * documents with no timestamp and documents with no customer. Deterministic for a given seed.
 */
export interface CustomerProfile {
  name: string | null;
  docs: number;
  /** Documents spread over [end - spanDays, end). */
  spanDays: number;
  /** How many of them have no timestamp. */
  noTimestamp?: number;
}

export const DEMO_CUSTOMERS: CustomerProfile[] = [
  { name: 'acme-high-volume', docs: 12_000, spanDays: 7 },
  { name: 'globex-average', docs: 4_000, spanDays: 120, noTimestamp: 25 },
  { name: 'initech-long-retention', docs: 1_500, spanDays: 1_100 },
  { name: null, docs: 40, spanDays: 30 },
];

export interface DemoDoc {
  id: string;
  customer?: string;
  timestamp?: string;
  title: string;
  body: string;
  category: string;
  tags: string[];
  price: number;
  quantity: number;
}

/** Small, fast PRNG (mulberry32) so that data sets are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index'];

export function* generateDocs(profiles: CustomerProfile[], end: number, seed = 1): Generator<DemoDoc> {
  const rnd = prng(seed);
  const pick = () => WORDS[Math.floor(rnd() * WORDS.length)];
  for (const p of profiles) {
    const prefix = p.name ?? 'nocustomer';
    for (let i = 0; i < p.docs; i++) {
      const doc: DemoDoc = {
        id: `${prefix}-${String(i).padStart(7, '0')}`,
        title: `${pick()} ${pick()} ${i}`,
        body: Array.from({ length: 8 + Math.floor(rnd() * 24) }, pick).join(' '),
        category: `cat-${Math.floor(rnd() * 5)}`,
        tags: [pick(), pick()],
        price: Math.round(rnd() * 100_000) / 100,
        quantity: Math.floor(rnd() * 1000),
      };
      if (p.name !== null) doc.customer = p.name;
      if (i >= (p.noTimestamp ?? 0)) {
        // Skewed towards recent days, as real traffic grows.
        const age = Math.pow(rnd(), 1.5) * p.spanDays * 86_400_000;
        doc.timestamp = new Date(Math.floor(end - age)).toISOString();
      }
      yield doc;
    }
  }
}
