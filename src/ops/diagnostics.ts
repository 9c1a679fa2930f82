/**
 * `bluegreen diagnostics`: one migration's whole state as one JSON document for a support ticket —
 * the spec (no secrets), every plan, work node and claim, live workers, verification runs, the read
 * flag. On demand (seed 003): as detailed as needed, no cost when nobody asks.
 */
import { publicSpec, specHash, type Spec } from '../config/spec';
import { customerFromNodeName } from '../coordination/layout';
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

export async function diagnostics(spec: Spec, zk: ZkSession, backends: Record<string, string>): Promise<object> {
  const store = new MigrationStore(zk, spec);
  const layout = store.layout;
  const customers: Record<string, unknown> = {};
  for (const cn of await store.customerNodes()) {
    const slices: Record<string, unknown> = {};
    for (const n of await store.sliceNames(cn)) slices[n] = parse((await zk.getDataOrNull(layout.slice(cn, n)))?.data);
    const claims: Record<string, unknown> = {};
    for (const n of await zk.childrenOrEmpty(layout.claims(cn))) claims[n] = parse((await zk.getDataOrNull(layout.claim(cn, n)))?.data);
    customers[cn] = {
      customer: customerFromNodeName(cn),
      planning: parse((await zk.getDataOrNull(layout.planning(cn)))?.data),
      plan: parse((await zk.getDataOrNull(layout.plan(cn)))?.data),
      slices, claims,
    };
  }
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
    customers,
    verification,
    cutover: (await new Cutover(spec, zk).read()).state,
    targetPreparation: parse((await zk.getDataOrNull(`${layout.base}/target`))?.data),
  };
}
