/**
 * A ZooKeeper of a test's own (same jars as the stack's, from .stack/cache), for tests that stop and
 * start ZooKeeper without disturbing the shared one the Solr nodes live in. Stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(__dirname, '../../..');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

function zkLib(): string {
  const cache = join(process.env.BLUEGREEN_STACK_DIR ?? join(repo, '.stack'), 'cache');
  const dir = readdirSync(cache).find((d) => d.startsWith('zookeeper-'));
  if (!dir || !existsSync(join(cache, dir, 'lib'))) throw new Error(`no ZooKeeper jars in ${cache}: run scripts/stack up zookeeper first`);
  return join(cache, dir, 'lib');
}

export class PrivateZk {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'bg-zk-'));

  /** `maxSessionTimeout` caps what clients get (ms): a client asking for the default 30 s gets this. */
  private constructor(readonly port: number, private readonly maxSessionTimeout = 60_000) {}

  static async start(opts: { maxSessionTimeout?: number } = {}): Promise<PrivateZk> {
    const zk = new PrivateZk(await freePort(), opts.maxSessionTimeout);
    await zk.up();
    return zk;
  }

  get connect(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async up(): Promise<void> {
    const cfg = join(this.dir, 'zoo.cfg');
    writeFileSync(cfg, `tickTime=500\ndataDir=${join(this.dir, 'data')}\nclientPort=${this.port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,mntr\nminSessionTimeout=1000\nmaxSessionTimeout=${this.maxSessionTimeout}\n`);
    this.child = spawn('java', ['-Xmx128m', '-XX:+UseSerialGC', `-Dlogback.configurationFile=${join(repo, 'scripts/zookeeper/logback.xml')}`,
      '-cp', `${zkLib()}/*`, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg], { stdio: 'ignore' });
    const until = Date.now() + 30_000;
    while (!(await this.answers())) {
      if (Date.now() > until) throw new Error('private ZooKeeper did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops it by its pid (SIGKILL: a crash, as a network partition looks to clients). */
  async down(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  /** Stops it (by its pid) and deletes its data: every path written to it goes with it. */
  async remove(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The server's counters (`mntr`: zk_packets_received, zk_znode_count, ...) as numbers: exact request
   * counts for a benchmark, since only its own clients talk to this server.
   */
  async mntr(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const line of (await this.fourLetters('mntr')).split('\n')) {
      const [k, v] = line.split('\t');
      if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
    }
    if (!('zk_packets_received' in out)) throw new Error('private ZooKeeper did not answer mntr');
    return out;
  }

  /** Client connections the server holds now (`srvr`); a session it expired has its connection closed. */
  async connections(): Promise<number> {
    const m = /Connections: (\d+)/.exec(await this.srvr());
    if (!m) throw new Error('private ZooKeeper did not answer srvr');
    return Number(m[1]);
  }

  private async answers(): Promise<boolean> {
    return (await this.srvr()).includes('Mode:');
  }

  private srvr(): Promise<string> {
    return this.fourLetters('srvr');
  }

  private fourLetters(word: string): Promise<string> {
    return new Promise((res) => {
      const net = require('node:net') as typeof import('node:net');
      const sock = net.connect(this.port, '127.0.0.1', () => sock.write(word));
      let out = '';
      sock.on('data', (d) => (out += d));
      sock.on('end', () => res(out));
      sock.on('error', () => res(''));
      // A server that took the connection but does not answer (still starting): no answer, ask again.
      sock.setTimeout(5000, () => {
        sock.destroy();
        res('');
      });
    });
  }
}
