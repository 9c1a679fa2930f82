/**
 * `bluegreen diagnostics`: one migration's whole state as one JSON document for a support ticket —
 * the spec (no secrets), every plan, work node and claim, live workers, verification runs, the read
 * flag. On demand (seed 003): as detailed as needed, no cost when nobody asks.
 */
import { customerFromNodeName } from '../coordination/layout';
import { publicSpec, specHash, type Spec } from '../config/spec';
import { MigrationStore } from '../coordination/migration';
import type { ZkSession } from '../coordination/zk';
import { Cutover } from '../cutover/cutover';
import { collectStatus } from '../status/status';
import { VerifyStore } from '../verifier/verifier';

const parse = (b: Buffer | undefined): unknown => {
  if (!b) return null;
  const text = b.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return { unparseable: text.slice(0, 2000) };
  }
};

/** Work nodes included in a bundle, at most. */
const DIAGNOSTIC_SLICES = 10_000;

export async function diagnostics(spec: Spec, zk: ZkSession, backends: Record<string, string>): Promise<object> {
  const store = new MigrationStore(zk, spec);
  const layout = store.layout;
  // Every work node up to a cap (a bundle to attach to a ticket, not a scan per request), then the
  // claims of the unfinished ones and the planner's nodes.
  const all = await store.slices();
  const slices: Record<string, unknown> = {};
  for (const s of all.slice(0, DIAGNOSTIC_SLICES)) slices[s.address.name] = s.node;
  const claims: Record<string, unknown> = {};
  for (const a of await store.unfinished()) if (a.claimed) claims[a.name] = parse((await zk.getDataOrNull(layout.claim(a)))?.data);
  const customers: Record<string, unknown> = {};
  let customerCount = 0;
  for (const [cn, e] of await store.customerIndex()) if (customerCount++ < DIAGNOSTIC_SLICES) customers[customerFromNodeName(cn) ?? '(no customer)'] = e;
  const summaries: Record<string, unknown> = {};
  for (const [b, sm] of await store.summaries()) summaries[b] = sm;
  const runs = new VerifyStore(zk, store);
  const verification = [];
  for (const id of await runs.runs()) {
    const run = (await runs.readRun(id))?.run;
    const unclean = (await runs.results(id)).filter((r) => !r.clean);
    verification.push({ run, unclean });
  }
  const status = await collectStatus(spec, zk);
  return {
    generatedAt: new Date().toISOString(),
    migration: spec.migration,
    zookeeper: { connect: spec.zookeeper.connect, base: layout.base, session: zk.sessionId },
    spec: publicSpec(spec),
    specHash: specHash(spec),
    specNode: parse((await zk.getDataOrNull(layout.spec))?.data),
    lifecycle: parse((await zk.getDataOrNull(layout.lifecycle))?.data),
    planners: await zk.childrenOrEmpty(layout.planners),
    backends,
    summary: { totals: status.totals, docsPerSecond: status.docsPerSecond, etaMs: status.etaMs, stuck: status.stuck, failed: status.failed },
    workers: status.workers,
    plan: parse((await zk.getDataOrNull(layout.plan))?.data),
    planning: parse((await zk.getDataOrNull(layout.planning))?.data),
    slices, slicesTruncated: all.length > DIAGNOSTIC_SLICES ? `${all.length - DIAGNOSTIC_SLICES} more slices not included` : undefined,
    claims, summaries,
    customers, customersTruncated: customerCount > DIAGNOSTIC_SLICES ? `${customerCount - DIAGNOSTIC_SLICES} more customers not included` : undefined,
    verification,
    cutover: (await new Cutover(spec, zk).read()).state,
    targetPreparation: parse((await zk.getDataOrNull(`${layout.base}/target`))?.data),
  };
}
