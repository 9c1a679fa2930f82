/**
 * The package as an application gets it: `npm pack` of this repository, installed from the tarball into
 * a project of its own outside the repository, imported by name (`require('bluegreen')`, and type-checked
 * as TypeScript), and the README's read-router example run against the real ZooKeeper: it sees the flag
 * flip, and its 'change' event fires only when a read would go elsewhere; and after the example's
 * session expired (its plain client is dead then), it still follows the flag.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Layout } from '../../src/coordination/layout';
import type { CutoverState } from '../../src/cutover/cutover';
import { ZkSession, encodeJson } from '../../src/coordination/zk';
import { waitFor } from '../support/fleet';
import { PrivateZk } from '../support/privateZk';
import { connectZk, stack, uniqueName } from '../support/stack';

const REPO = resolve(__dirname, '../../..');
const npm = (args: string[], cwd: string) => {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 300_000 });
  expect(r.status, `npm ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).to.equal(0);
  return r.stdout;
};

describe('the package, installed into an application', function () {
  this.timeout(400_000);
  const app = mkdtempSync(join(tmpdir(), 'bg-app-'));
  const root = `/${uniqueName('bgtest')}`;
  const migration = uniqueName('lib');
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    // The tarball is what a registry or `npm install <file>` would hand an application.
    const packed = npm(['pack', '--pack-destination', app, '--ignore-scripts', REPO], app).trim().split('\n').pop()!;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'an-application', version: '1.0.0', private: true }));
    npm(['install', join(app, packed), 'node-zookeeper-client@^1.1.3'], app);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    rmSync(app, { recursive: true, force: true });
  });

  it('ships the compiled library, its types and the CLI, and nothing of the tests', () => {
    const dist = join(app, 'node_modules/bluegreen/dist');
    expect(readdirSync(dist)).to.deep.equal(['src']);
    expect(readdirSync(join(dist, 'src'))).to.include.members(['index.js', 'index.d.ts', 'cli.js']);
    const r = spawnSync(process.execPath, [join(app, 'node_modules/.bin/bluegreen'), '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/cutover/);
  });

  it('type-checks an application importing it by name', () => {
    writeFileSync(join(app, 'check.ts'), [
      "import { DualWriter, ReadRouter, readSideFor, type CutoverState, type DualWriteResult, type ReadSide } from 'bluegreen';",
      "const state: CutoverState = { read: 'legacy', customers: { acme: 'new' }, updatedAt: 0, history: [] };",
      "const side: ReadSide = readSideFor(state, 'acme');",
      'export const started: typeof ReadRouter.start = ReadRouter.start;',
      "export const written = (w: DualWriter): Promise<DualWriteResult> => w.index({ id: 'o-1', customer: 'acme' });",
      'export default side;',
    ].join('\n'));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', noEmit: true, skipLibCheck: true, types: [] }, files: ['check.ts'] }));
    const r = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
  });

  /** The README's example, with a plain node-zookeeper-client, printing each event on a line. */
  const runExample = (file: string, connect: string) => {
    writeFileSync(join(app, file), `
      const zookeeper = require('node-zookeeper-client');
      const { ReadRouter } = require('bluegreen');
      const zk = zookeeper.createClient(${JSON.stringify(connect)});
      zk.connect();
      zk.once('connected', async () => {
        const router = await ReadRouter.start(zk, ${JSON.stringify(migration)}, ${JSON.stringify(root)});
        console.log('start', router.readSide(), router.readSide('acme'));
        router.on('change', () => console.log('change', router.readSide(), router.readSide('acme')));
        router.on('expired', () => console.log('router expired'));
        zk.on('expired', () => console.log('client expired'));
        process.stdin.on('end', () => process.exit(0));
        process.stdin.resume();
      });`);
    const child = spawn(process.execPath, [file], { cwd: app, stdio: ['pipe', 'pipe', 'pipe'] });
    const io = { out: '', err: '' };
    child.stdout.on('data', (d) => (io.out += d));
    child.stderr.on('data', (d) => (io.err += d));
    const lines = () => io.out.split('\n').filter(Boolean);
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    };
    return { child, io, lines, stop };
  };

  /** Writes the cutover node as a cutover would (only the fields the router reads matter). */
  const flagWriter = (session: ZkSession) => {
    const path = new Layout(root, migration).cutover;
    return async (s: Partial<CutoverState>) => {
      await session.mkdirp(path.slice(0, path.lastIndexOf('/')));
      const state: CutoverState = { read: 'legacy', customers: {}, updatedAt: Date.now(), history: [], ...s };
      if (await session.exists(path)) await session.setData(path, encodeJson(state), -1);
      else await session.create(path, encodeJson(state));
    };
  };

  it("runs the README's read-router example: follows the flag, and 'change' fires only when a read moves", async () => {
    const { io, lines, child, stop } = runExample('reader.js', stack.zk);
    try {
      await waitFor('the reader to start', async () => lines().length >= 1 || child.exitCode !== null);
      expect(lines(), io.err).to.deep.equal(['start legacy legacy']);

      const write = flagWriter(zk);
      await write({ customers: { acme: 'new' } });
      await waitFor('the per-customer flip', async () => lines().length >= 2);
      // Rewrites that move no read (history, a timestamp, a customer set to the default): no event.
      await write({ customers: { acme: 'new' }, history: [{ to: 'new', customer: 'acme', at: 1, by: 'test' } as any] });
      await write({ customers: { acme: 'new', other: 'legacy' } });
      await write({ read: 'new', customers: {} });
      await waitFor('the migration-wide flip', async () => lines().length >= 3);
      expect(lines()).to.deep.equal(['start legacy legacy', 'change legacy new', 'change new new']);
    } finally {
      await stop();
    }
  });

  it("keeps following the flag after the example's session expired (its plain client is dead then)", async () => {
    // A ZooKeeper of its own that grants at most 2 s: the example asks for the default 30 s and gets 2 s.
    const server = await PrivateZk.start({ maxSessionTimeout: 2000 });
    const own = await ZkSession.connect({ connect: server.connect, sessionTimeout: 10_000, connectTimeout: 15_000 });
    const { io, lines, child, stop } = runExample('reader-expiry.js', server.connect);
    try {
      await waitFor('the reader to start', async () => lines().length >= 1 || child.exitCode !== null);
      expect(lines(), io.err).to.deep.equal(['start legacy legacy']);
      const write = flagWriter(own);
      await write({ customers: { acme: 'new' } });
      await waitFor('the first flip', async () => lines().length >= 2);
      const withReader = await server.connections();

      // The application pauses (a long GC, a laptop lid) past its session timeout: the server expires
      // the session and closes its connection. Seen on the server, not guessed from a clock.
      child.kill('SIGSTOP');
      await waitFor('the server to expire the paused reader\'s session', async () => (await server.connections()) < withReader);
      child.kill('SIGCONT');
      // The example's own client learns it on reconnecting; from then on none of its watches fire again.
      await waitFor('the reader\'s client to learn its session expired', async () => lines().includes('client expired'), 30_000);

      const changes = () => lines().filter((l) => l.startsWith('change'));
      await write({ read: 'new', customers: {} });
      await waitFor('the flip after the expiry', async () => changes().length >= 2, 30_000);
      await write({ read: 'legacy', customers: {} });
      await waitFor('the rollback after the expiry', async () => changes().length >= 3, 30_000);
      expect(changes(), io.err).to.deep.equal(['change legacy new', 'change new new', 'change legacy legacy']);
      expect(lines(), 'the router says the application\'s session expired').to.include('router expired');
    } finally {
      await stop();
      own.close();
      await server.down();
    }
  });
});
