/** The process's prom-client registry: every metric of the fleet is defined here, once. */
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'bluegreen_' });

const labelNames = ['migration', 'customer'] as const;

export const metrics = {
  docsRead: new client.Counter({ name: 'bluegreen_documents_read_total', help: 'Documents read from the source', labelNames, registers: [registry] }),
  docsWritten: new client.Counter({ name: 'bluegreen_documents_written_total', help: 'Documents created in the target', labelNames, registers: [registry] }),
  docsSkipped: new client.Counter({ name: 'bluegreen_documents_skipped_total', help: 'Documents the target already had (live write won)', labelNames, registers: [registry] }),
  docsRejected: new client.Counter({ name: 'bluegreen_documents_rejected_total', help: 'Documents the target refused', labelNames, registers: [registry] }),
  slicesFinished: new client.Counter({ name: 'bluegreen_slices_finished_total', help: 'Slices finished by this process', labelNames: ['migration', 'status'] as const, registers: [registry] }),
  claimsTaken: new client.Counter({ name: 'bluegreen_claims_taken_total', help: 'Slice claims taken', labelNames: ['migration'] as const, registers: [registry] }),
  claimRetries: new client.Histogram({ name: 'bluegreen_claim_retries', help: 'Races lost to other workers before each claim taken (contention)', labelNames: ['migration'] as const, registers: [registry], buckets: [0, 1, 2, 4, 8, 16, 32] }),
  zookeeperRequests: new client.Counter({ name: 'bluegreen_zookeeper_requests_total', help: 'ZooKeeper requests sent by this process, by what they were for (check, claim, checkpoint, heartbeat, wait, other)', labelNames: ['purpose'] as const, registers: [registry] }),
  liveDeletesUndone: new client.Counter({ name: 'bluegreen_live_deletes_undone_total', help: 'Documents deleted live after a worker read them, removed from the target again after its create-only write', labelNames: ['migration'] as const, registers: [registry] }),
  checkpoints: new client.Counter({ name: 'bluegreen_checkpoints_total', help: 'Slice checkpoints written (one per page, the last one finishes the slice)', labelNames: ['migration'] as const, registers: [registry] }),
  claimsLost: new client.Counter({ name: 'bluegreen_claims_lost_total', help: 'Slice claims lost to fencing', labelNames: ['migration'] as const, registers: [registry] }),
  retries: new client.Counter({ name: 'bluegreen_backoffs_total', help: 'Requests retried after a transient failure', labelNames: ['migration', 'side'] as const, registers: [registry] }),
  throttle: new client.Gauge({ name: 'bluegreen_throttle_documents_per_second', help: 'Documents/s a worker allows itself now (0 = no limit); halves when the target pushes back', labelNames: ['migration'] as const, registers: [registry] }),
  readSeconds: new client.Histogram({ name: 'bluegreen_read_batch_seconds', help: 'Time to read one page from the source', labelNames: ['migration'] as const, registers: [registry], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] }),
  // The dual writer (dualwrite/dualWriter.ts): labels are bounded (op: index|delete, side: legacy|new, outcome: a fixed set).
  dualWrites: new client.Counter({ name: 'bluegreen_dualwrite_writes_total', help: 'Dual writes by outcome: both (both sides written), recorded (one side only, the id recorded), failed (thrown to the application)', labelNames: ['migration', 'op', 'outcome'] as const, registers: [registry] }),
  dualWriteRecorded: new client.Counter({ name: 'bluegreen_dualwrite_recorded_ids_total', help: 'Ids recorded in ZooKeeper because their write to this side failed after retries', labelNames: ['migration', 'side'] as const, registers: [registry] }),
  dualWriteRetries: new client.Counter({ name: 'bluegreen_dualwrite_retries_total', help: 'Dual-write requests retried after a failure', labelNames: ['migration', 'side'] as const, registers: [registry] }),
  dualWriteResolved: new client.Counter({ name: 'bluegreen_dualwrite_records_resolved_total', help: 'Recorded ids verify-integrity found equal on both sides (how: equal, repaired) and removed', labelNames: ['migration', 'how'] as const, registers: [registry] }),
  // Transforms (issue 17), both modes; labels bounded: outcome is one of TRANSFORM_OUTCOMES.
  transformDocs: new client.Counter({ name: 'bluegreen_transform_documents_total', help: 'Documents through the spec\'s transform by outcome: copy: transformed (one output), fanned_out (several), skipped (null: not copied), rejected (a dead letter); in place: rewritten (written back), unchanged (a fixed point: not written), rejected', labelNames: ['migration', 'outcome'] as const, registers: [registry] }),
  inPlaceConflicts: new client.Counter({ name: 'bluegreen_inplace_conflicts_total', help: 'copy.mode in-place: write-backs refused because a live write landed since the read (the document is read and transformed again)', labelNames: ['migration'] as const, registers: [registry] }),
  writeSeconds: new client.Histogram({ name: 'bluegreen_write_batch_seconds', help: 'Time to write one batch to the target', labelNames: ['migration'] as const, registers: [registry], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] }),
};

/**
 * Per-customer series are bounded: only the plan's biggest customers (PlanNode.top, at most
 * TOP_CUSTOMERS) get a series of their own; every other customer is counted under "other", so
 * 100,000 tenants make 4 × (TOP_CUSTOMERS + 1) series, not 400,000.
 */
export const TOP_CUSTOMERS = 20;
let topCustomers = new Set<string>();

export function setTopCustomers(top: Array<string | null>): void {
  topCustomers = new Set(top.slice(0, TOP_CUSTOMERS).map((c) => c ?? '(none)'));
}

/** The `customer` label for a customer's documents ('(none)': documents with no customer). */
export function customerLabel(customer: string | null): string {
  const name = customer ?? '(none)';
  return topCustomers.has(name) ? name : 'other';
}

/** Gauges read at scrape time: values come from whoever registers a source (cli.ts, for work and verify). */
let sliceStates: () => Promise<Record<string, number> | null> = async () => null;
let zkConnected: () => boolean = () => false;
let gaugeMigration = '';

export function observeFleet(migration: string, slices: typeof sliceStates, zk: typeof zkConnected): void {
  gaugeMigration = migration;
  sliceStates = slices;
  zkConnected = zk;
}

export const gauges = {
  slices: new client.Gauge({
    name: 'bluegreen_slices', help: 'Slices of the migration by state (todo, in_progress, done, failed)', labelNames: ['migration', 'state'] as const, registers: [registry],
    async collect() {
      const counts = await sliceStates().catch(() => null);
      if (!counts) return;
      for (const [state, n] of Object.entries(counts)) this.set({ migration: gaugeMigration, state }, n);
    },
  }),
  zookeeper: new client.Gauge({
    name: 'bluegreen_zookeeper_connected', help: '1 while the ZooKeeper session is connected and fresh', labelNames: ['migration'] as const, registers: [registry],
    collect() {
      this.set({ migration: gaugeMigration }, zkConnected() ? 1 : 0);
    },
  }),
};

/** The outcomes of bluegreen_transform_documents_total (the only values of its label). */
export const TRANSFORM_OUTCOMES = ['transformed', 'fanned_out', 'skipped', 'rejected', 'rewritten', 'unchanged'] as const;
export type TransformOutcome = typeof TRANSFORM_OUTCOMES[number];

/** Adds to bluegreen_transform_documents_total (and, in place, to the conflicts re-read): zeros are not counted. */
export function countTransformed(migration: string, n: Partial<Record<TransformOutcome, number>>, conflicts = 0): void {
  for (const outcome of TRANSFORM_OUTCOMES) if (n[outcome]) metrics.transformDocs.inc({ migration, outcome }, n[outcome]);
  if (conflicts) metrics.inPlaceConflicts.inc({ migration }, conflicts);
}
