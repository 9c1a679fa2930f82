/**
 * The HTTP side of a long-running process: /metrics (prom-client), /healthz (the process answers),
 * /readyz (connected to ZooKeeper and to both clusters, checked in the background, never on the
 * request path so a probe cannot pile up requests on a slow cluster).
 */
import { createServer, type Server } from 'node:http';
import type { Backend } from '../backends/types';
import type { ZkSession } from '../coordination/zk';
import { describeError } from '../errors';
import { log } from '../log';
import { registry } from '../metrics';

export interface Readiness {
  zookeeper: boolean;
  source: boolean;
  target: boolean;
  checkedAt: number;
  problems: string[];
}

export class OpsServer {
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private ready: Readiness = { zookeeper: false, source: false, target: false, checkedAt: 0, problems: ['not checked yet'] };

  constructor(private readonly zk: () => ZkSession | null, private readonly source: Backend, private readonly target: Backend,
    private readonly checkEveryMs = 10_000) {}

  get readiness(): Readiness {
    const zk = this.zk();
    // ZooKeeper is read live: a lost session must flip readiness at once.
    const zkOk = Boolean(zk && zk.isConnected && !zk.suspect());
    return { ...this.ready, zookeeper: zkOk };
  }

  async check(): Promise<void> {
    const problems: string[] = [];
    const ping = async (b: Backend, name: string) => {
      try {
        await (b.ping ? b.ping() : b.version());
        return true;
      } catch (e) {
        problems.push(`${name}: ${describeError(e)}`);
        return false;
      }
    };
    const [source, target] = await Promise.all([ping(this.source, 'source'), ping(this.target, 'target')]);
    this.ready = { zookeeper: false, source, target, checkedAt: Date.now(), problems };
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
    this.server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url === '/metrics') {
        registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
          (e) => res.writeHead(500).end(describeError(e)),
        );
      } else if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (url === '/readyz') {
        const r = this.readiness;
        const ok = r.zookeeper && r.source && r.target;
        const problems = [...(r.zookeeper ? [] : ['zookeeper: not connected']), ...r.problems];
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ ready: ok, ...r, problems })}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /healthz or /readyz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    log.info({ port: bound }, 'serving /metrics, /healthz, /readyz');
    return bound;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
