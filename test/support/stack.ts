/**
 * Where the local stack's servers are (scripts/stack, same defaults and env overrides as
 * scripts/lib/common.sh). The test command starts the stack once; tests only connect.
 */
import { randomBytes } from 'node:crypto';
import { ZkSession } from '../../src/coordination/zk';

const host = process.env.BG_HOST ?? '127.0.0.1';
export const stack = {
  zk: `${host}:${process.env.BG_ZK_PORT ?? 2181}`,
  solrLegacy: `http://${host}:${process.env.BG_SOLR_LEGACY_PORT ?? 8983}/solr`,
  solrNew: `http://${host}:${process.env.BG_SOLR_NEW_PORT ?? 8984}/solr`,
  esLegacy: `http://${host}:${process.env.BG_ES_LEGACY_PORT ?? 9200}`,
  esNew: `http://${host}:${process.env.BG_ES_NEW_PORT ?? 9201}`,
};

/** A name no other test run uses: for collections, indices and ZooKeeper roots. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(3).toString('hex')}`;
}

export function connectZk(sessionTimeout = 10_000): Promise<ZkSession> {
  return ZkSession.connect({ connect: stack.zk, sessionTimeout, connectTimeout: 15_000 });
}

/** Versions seen by the tests, printed once at the end of the run. */
export const versionsSeen = new Map<string, string>();
