/**
 * A pausable link to a real server: an HTTP forwarder in the test process that passes every request
 * to the server behind it, except that while `hold` is set, requests matching a pattern (e.g. a
 * target's bulk writes) wait at the gate until it opens. A test sees them arrive (`held`), so it knows
 * the worker has read what it is about to write, and changes the world before the write lands. The
 * server behind is the real one; nothing is answered by the gate itself.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export class Gate {
  private held: Array<() => void> = [];
  private holding = false;
  /** Requests that have waited at the gate, in all. */
  arrived = 0;

  private constructor(private readonly server: Server, readonly url: string) {}

  /** `to`: the server's base URL (its path is kept: the gate's URL has the same path). */
  static async open(to: string, matches: RegExp): Promise<Gate> {
    const target = new URL(to);
    let gate: Gate | undefined;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const forward = () => {
        const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        req.pipe(out);
      };
      if (gate!.holding && matches.test(req.url ?? '')) {
        gate!.arrived++;
        req.pause();
        gate!.held.push(forward);
      } else {
        forward();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    gate = new Gate(server, `http://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`);
    return gate;
  }

  hold(): void {
    this.holding = true;
  }

  /** Lets everything through again, the held requests first, in the order they came. */
  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
