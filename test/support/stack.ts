/**
 * Where the local stack's servers are (scripts/stack, same defaults and env overrides as
 * scripts/lib/common.sh). The test command starts the default stack once; tests only connect. The
 * optional servers (Elasticsearch 9, OpenSearch) are started by the test files that need them, one at
 * a time: withOptionalServer().
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { ZkSession } from '../../src/coordination/zk';

const host = process.env.BG_HOST ?? '127.0.0.1';
export const stack = {
  zk: `${host}:${process.env.BG_ZK_PORT ?? 2181}`,
  solrLegacy: `http://${host}:${process.env.BG_SOLR_LEGACY_PORT ?? 8983}/solr`,
  solrNew: `http://${host}:${process.env.BG_SOLR_NEW_PORT ?? 8984}/solr`,
  esLegacy: `http://${host}:${process.env.BG_ES_LEGACY_PORT ?? 9200}`,
  esNew: `http://${host}:${process.env.BG_ES_NEW_PORT ?? 9201}`,
  /** Optional (withOptionalServer('es9')). */
  es9: `http://${host}:${process.env.BG_ES9_PORT ?? 9202}`,
  /** Optional (withOptionalServer('opensearch')). */
  opensearch: `http://${host}:${process.env.BG_OPENSEARCH_PORT ?? 9203}`,
  /** Optional (withOptionalServer('opensearch2')): an OpenSearch 2.x beside the 3.x one, for 2 → 3. */
  opensearch2: `http://${host}:${process.env.BG_OPENSEARCH2_PORT ?? 9204}`,
  /** Optional (withOptionalServer('solr-secure')): the new Solr with BasicAuth and rule-based authorization, https only (solrSecureCaFile). */
  'solr-secure': `https://${host}:${process.env.BG_SOLR_SECURE_PORT ?? 8985}/solr`,
};

/** The secured Solr's self-signed certificate (PEM), made by scripts/lib/solr.sh when it starts: the CA a spec gives it. */
export const solrSecureCaFile = join(process.env.BLUEGREEN_STACK_DIR ?? resolve(__dirname, '../../../.stack'), 'data', 'solr-secure-tls', 'ca.pem');

/** An undici dispatcher that trusts the secured Solr's certificate (read when first used: the file exists once the server started). */
let secureAgent: Agent | undefined;
export function solrSecureDispatcher(): Agent {
  return (secureAgent ??= new Agent({ connect: { ca: readFileSync(solrSecureCaFile) } }));
}

/** The secured Solr's users (scripts/lib/solr.sh: same defaults, same overrides). */
export const solrSecureUsers = {
  admin: { username: process.env.BG_SOLR_SECURE_USER ?? 'bluegreen', password: process.env.BG_SOLR_SECURE_PASSWORD ?? 'bg-Secure-Pa55word' },
  reader: { username: process.env.BG_SOLR_SECURE_READER ?? 'reader', password: process.env.BG_SOLR_SECURE_READER_PASSWORD ?? 'bg-Reader-Pa55word' },
  /** May read the node's version (/admin/info/system) and nothing else: the wrong role for a migration. */
  guest: { username: process.env.BG_SOLR_SECURE_GUEST ?? 'guest', password: process.env.BG_SOLR_SECURE_GUEST_PASSWORD ?? 'bg-Guest-Pa55word' },
};

/** The servers `scripts/stack up --with` starts on demand. */
export type OptionalServer = 'es9' | 'opensearch' | 'opensearch2' | 'solr-secure';

const STACK = resolve(__dirname, '../../../scripts/stack');

async function answers(name: OptionalServer): Promise<boolean> {
  const url = stack[name];
  try {
    if (name === 'solr-secure') {
      const { username, password } = solrSecureUsers.admin;
      const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      if (!existsSync(solrSecureCaFile)) return false;
      return (await undiciFetch(`${url}/admin/info/system?wt=json`, { headers: { authorization }, signal: AbortSignal.timeout(10_000), dispatcher: solrSecureDispatcher() })).ok;
    }
    return (await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=4s`, { signal: AbortSignal.timeout(10_000) })).ok;
  } catch {
    return false;
  }
}

function stackCommand(args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('bash', [STACK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`scripts/stack ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`))));
  });
}

/**
 * In a describe block: the optional server is up for its tests. When it does not answer yet, the
 * `before` hook starts it (`scripts/stack up NAME`: fetched and installed on a clean machine the way
 * the default servers are) and the `after` hook stops it again, so the test run keeps an optional server
 * up only for the block that needs it (one at a time, but for a 2 → 3 copy's block inside the 3.x one);
 * one a developer started is used and left running.
 */
export function withOptionalServer(name: OptionalServer): void {
  let started = false;
  before(async function () {
    this.timeout(900_000); // a first run downloads and unpacks the distribution
    if (await answers(name)) return;
    started = true;
    await stackCommand(['up', name]);
  });
  after(async function () {
    this.timeout(120_000);
    if (started) await stackCommand(['down', name]);
  });
}

/** A name no other test run uses: for collections, indices and ZooKeeper roots. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(3).toString('hex')}`;
}

export function connectZk(sessionTimeout = 10_000): Promise<ZkSession> {
  return ZkSession.connect({ connect: stack.zk, sessionTimeout, connectTimeout: 15_000 });
}

/** Versions seen by the tests, printed once at the end of the run. */
export const versionsSeen = new Map<string, string>();
