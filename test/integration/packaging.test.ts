/**
 * Packaging without a Docker engine (none on these machines):
 * - Dockerfile: parsed; its stages' COPY and npm steps are carried out in a scratch directory standing for
 *   each stage's file system, and the entry point it produces is run, as uid 1000, with the image's ENV.
 * - docker-compose.yml: checked by a real compose implementation (`docker-compose config`, Docker Compose
 *   v2 from scripts/tools), then object by object; its Solr init script runs against the local stack.
 * - deploy/grafana/bluegreen.json: parses, and every metric its queries name is one bluegreen exports.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import yaml from 'js-yaml';
import { loadSpec } from '../../src/config/spec';
import { registry } from '../../src/metrics';
import { stack, uniqueName } from '../support/stack';
import { REPO, runTool } from './operatorTools';

type Obj = Record<string, any>;

// --- Dockerfile ------------------------------------------------------------------------------------

interface Instruction { op: string; rest: string }
interface Stage { base: string; name: string; instructions: Instruction[] }

function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && !pending) continue;
    if (/^\s*#/.test(raw)) continue; // a comment inside a continued instruction
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full) lines.push(full);
  }
  const stages: Stage[] = [];
  for (const l of lines) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2])!;
      stages.push({ base: f[1], name: f[2] ?? String(stages.length), instructions: [] });
    } else {
      expect(stages.length, `${op} before any FROM`).to.be.above(0);
      stages[stages.length - 1].instructions.push({ op, rest: m[2] });
    }
  }
  return stages;
}

/** ENV K=V [K=V...]: quoted values, $VAR / ${VAR} from the env so far. */
function parseEnv(rest: string, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest))) {
    let v = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    v = v.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_: string, k: string) => ({ ...env, ...out })[k] ?? '');
    out[m[1]] = v;
  }
  expect(Object.keys(out), `ENV ${rest}`).to.not.be.empty;
  return out;
}

/** .dockerignore, with Docker's rules: a pattern matches a path or any of its parents; the last match wins. */
function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = posix.normalize(negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${pat.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}$`);
    return { negate, re };
  });
  return (path: string) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
    return excluded;
  };
}

const dockerfileText = () => readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const ignored = () => dockerIgnore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));

interface Copy { from?: string; sources: string[]; dest: string }
function parseCopy(rest: string): Copy {
  const words = rest.split(/\s+/);
  let from: string | undefined;
  while (words[0].startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
    else expect(flag, 'COPY flags this test understands').to.match(/^--(chown|chmod|link)/);
  }
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

const jsonArray = (rest: string): string[] => {
  const v = JSON.parse(rest);
  expect(v, `${rest}: exec form (a JSON array), so signals reach node`).to.be.an('array');
  return v;
};

interface Built { root: string; env: Record<string, string>; workdir: string; user?: string; entrypoint?: string[]; cmd?: string[] }

/**
 * Carries out the Dockerfile in a scratch directory: one directory per stage stands for its file system;
 * COPY copies (from the context as .dockerignore lets through, or from an earlier stage), RUN runs npm
 * steps in the stage's WORKDIR with its ENV. Any other RUN fails the test: it would need a real builder.
 */
function buildWithoutDocker(scratch: string): Map<string, Built> {
  const stages = parseDockerfile(dockerfileText());
  const isIgnored = ignored();
  const built = new Map<string, Built>();
  for (const s of stages) {
    const b: Built = { root: join(scratch, s.name), env: {}, workdir: '/' };
    mkdirSync(b.root, { recursive: true });
    const at = (p: string) => join(b.root, posix.resolve(b.workdir, p));
    for (const { op, rest } of s.instructions) {
      if (op === 'WORKDIR') {
        b.workdir = posix.resolve(b.workdir, rest);
        mkdirSync(at('.'), { recursive: true });
      } else if (op === 'ENV') {
        Object.assign(b.env, parseEnv(rest, { PATH: process.env.PATH ?? '', ...b.env }));
      } else if (op === 'COPY') {
        const c = parseCopy(rest);
        const intoDir = c.dest.endsWith('/') || c.sources.length > 1;
        for (const src of c.sources) {
          const from = c.from ? join(built.get(c.from)!.root, posix.resolve('/', src)) : join(REPO, src);
          expect(existsSync(from), `COPY ${c.from ? `--from=${c.from} ` : ''}${src}: nothing there`).to.equal(true);
          if (!c.from) expect(isIgnored(posix.normalize(src).replace(/\/$/, '')), `COPY ${src}: .dockerignore keeps it out of the context`).to.equal(false);
          const to = intoDir ? join(at(c.dest), basename(src)) : at(c.dest);
          mkdirSync(dirname(to), { recursive: true });
          cpSync(from, to, {
            recursive: true,
            verbatimSymlinks: true,
            filter: (p) => c.from !== undefined || !isIgnored(relative(REPO, p)),
          });
        }
      } else if (op === 'RUN') {
        for (const step of rest.split('&&').map((x) => x.trim())) {
          expect(step, 'RUN steps this test can carry out without Docker').to.match(/^npm (ci|run build)\b/);
          const r = spawnSync('sh', ['-c', step], { cwd: at('.'), env: { ...process.env, ...b.env }, encoding: 'utf8', timeout: 300_000 });
          expect(r.status, `RUN ${step} in stage ${s.name}:\n${r.stdout}\n${r.stderr}`).to.equal(0);
        }
      } else if (op === 'USER') {
        b.user = rest;
      } else if (op === 'ENTRYPOINT') {
        b.entrypoint = jsonArray(rest);
      } else if (op === 'CMD') {
        b.cmd = jsonArray(rest);
      } else {
        expect(['EXPOSE', 'LABEL', 'ARG', 'HEALTHCHECK', 'STOPSIGNAL'], `instruction ${op}`).to.include(op);
      }
    }
    built.set(s.name, b);
  }
  return built;
}

/** Makes every directory on the way to `dir` traversable by another user (mkdtemp makes 0700). */
function openUp(dir: string) {
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    if (d.startsWith(tmpdir()) && d !== tmpdir()) chmodSync(d, statSync(d).mode | 0o755);
  }
}
function chmodTree(dir: string) {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (lstatSync(p).isSymbolicLink()) continue;
    if (statSync(p).isDirectory()) {
      chmodSync(p, statSync(p).mode | 0o755);
      chmodTree(p);
    }
  }
}

describe('Dockerfile (no Docker engine: its steps carried out in a scratch directory)', function () {
  this.timeout(600_000);
  const stages = parseDockerfile(dockerfileText());
  const runtime = stages[stages.length - 1];
  let scratch: string;
  let image: Built;

  it('is multi-stage on Node 24, with a numeric non-root user in the final stage', () => {
    expect(stages.length).to.be.at.least(2);
    for (const s of stages) expect(s.base, s.name).to.match(/^node:24[.-]/);
    const users = runtime.instructions.filter((i) => i.op === 'USER').map((i) => i.rest);
    expect(users, 'the final stage sets a USER').to.not.be.empty;
    const user = users[users.length - 1];
    expect(user, 'numeric, so Kubernetes runAsNonRoot can check it').to.match(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).to.be.above(0);
    // The final stage installs nothing and compiles nothing: it copies built artefacts.
    expect(runtime.instructions.filter((i) => i.op === 'RUN')).to.deep.equal([]);
    expect(runtime.instructions.some((i) => i.op === 'COPY' && /--from=\S+\s+\S*node_modules/.test(i.rest))).to.equal(true);
  });

  it('keeps the build context small: node_modules, dist, .stack, .git stay out', () => {
    const isIgnored = ignored();
    for (const p of ['node_modules', 'node_modules/pino/package.json', 'dist/src/cli.js', '.stack/cache/bin/helm', '.git/HEAD', 'test/unit/spec.test.ts', 'helm/bluegreen/Chart.yaml']) {
      expect(isIgnored(p), p).to.equal(true);
    }
    for (const p of ['package.json', 'package-lock.json', 'src/cli.ts', 'bin/bluegreen']) expect(isIgnored(p), p).to.equal(false);
  });

  describe('built in a scratch directory', () => {
    before(() => {
      scratch = mkdtempSync(join(tmpdir(), 'bg-image-'));
      const built = buildWithoutDocker(scratch);
      image = built.get(runtime.name)!;
      // The base image (node:<major>-…) brings its Node in /usr/local/bin. The Node this test runs on (the
      // project's own, of that major) stands in for it there, where the image's user can run it.
      const major = /^node:(\d+)/.exec(runtime.base)?.[1];
      expect(process.versions.node.split('.')[0], `the Node standing in for ${runtime.base}`).to.equal(major);
      mkdirSync(join(image.root, 'usr/local/bin'), { recursive: true });
      copyFileSync(process.execPath, join(image.root, 'usr/local/bin/node'));
      chmodSync(join(image.root, 'usr/local/bin/node'), 0o755);
      openUp(image.root);
      chmodTree(image.root);
    });
    after(() => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('holds production dependencies only, the compiled CLI and its launcher', () => {
      const app = join(image.root, image.workdir);
      expect(existsSync(join(app, 'dist/src/cli.js'))).to.equal(true);
      expect(existsSync(join(app, 'bin/bluegreen'))).to.equal(true);
      const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
      for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).to.equal(true);
      for (const dev of ['typescript', 'mocha', 'chai']) expect(existsSync(join(app, 'node_modules', dev)), `${dev} (dev only)`).to.equal(false);
      expect(existsSync(join(app, 'test')), 'no tests in the image').to.equal(false);
    });

    /** Runs the image's entry point as the image's user (when this test runs as root), with its ENV. */
    function runImage(args?: string[], extraEnv: Record<string, string> = {}) {
      expect(image.entrypoint, 'ENTRYPOINT').to.be.an('array').that.is.not.empty;
      const mapPath = (p: string) => (p.startsWith('/') ? join(image.root, p) : p);
      const argv = [...image.entrypoint!, ...(args ?? image.cmd ?? [])];
      const env: Record<string, string> = { HOME: '/tmp', ...image.env, ...extraEnv };
      // The image's own directories first (its /app ones, then the base image's Node), then the host's.
      const dirs = (image.env.PATH ?? process.env.PATH!).split(':').map((d) => (d.startsWith('/app') ? join(image.root, d) : d));
      env.PATH = [...dirs.filter((d) => d.startsWith(image.root)), join(image.root, 'usr/local/bin'), ...dirs.filter((d) => !d.startsWith(image.root))].join(':');
      const [uid, gid] = (image.user ?? '0').split(':').map(Number);
      const asUser = process.getuid?.() === 0 ? { uid, gid: gid ?? uid } : {};
      const r = spawnSync(mapPath(argv[0]), argv.slice(1), { cwd: join(image.root, image.workdir), env, encoding: 'utf8', timeout: 60_000, ...asUser });
      if (r.error) throw r.error;
      return r;
    }

    it('runs ENTRYPOINT + CMD as the image user: the help, listing every command, exit 0', () => {
      const r = runImage();
      expect(r.status, r.stderr).to.equal(0);
      for (const c of ['plan', 'work', 'status', 'release', 'verify-integrity', 'cutover']) expect(r.stdout).to.match(new RegExp(`bluegreen ${c}\\b`));
      // The same CLI as the repository's own launcher: nothing lost between the build and the image.
      const repo = spawnSync(process.execPath, [join(REPO, 'bin/bluegreen'), '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '100' } });
      expect(r.stdout.split('\n').filter((l) => /^\s+bluegreen \S+/.test(l)).map((l) => l.trim().split(/\s+/)[1]))
        .to.deep.equal(repo.stdout.split('\n').filter((l) => /^\s+bluegreen \S+/.test(l)).map((l) => l.trim().split(/\s+/)[1]));
    });

    it('loads a spec and reaches for the clusters from the image: bad input is exit 2, with the way out', () => {
      const dir = mkdtempSync(join(tmpdir(), 'bg-image-spec-'));
      openUp(dir);
      const spec = join(dir, 'spec.yaml');
      writeFileSync(spec, yaml.dump({
        migration: 'image-check',
        zookeeper: { connect: '127.0.0.1:1', connectTimeout: '2s' },
        source: { kind: 'solr', url: 'http://127.0.0.1:1/solr', collection: 'events', requestTimeout: '2s' },
        target: { kind: 'solr', url: 'http://127.0.0.1:1/solr', collection: 'events_new', requestTimeout: '2s' },
        worker: { requestRetries: 0 },
      }));
      chmodSync(spec, 0o644);
      const r = runImage(['plan', '--dry-run', '--spec', spec]);
      expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(2);
      expect(r.stderr).to.match(/what to do/);
      const bad = runImage(['plan'], { BLUEGREEN_SPEC: join(dir, 'missing.yaml') });
      expect(bad.status).to.equal(2);
      rmSync(dir, { recursive: true, force: true });
    });
  });
});

// --- docker-compose.yml ------------------------------------------------------------------------------

describe('docker-compose.yml (real Docker Compose v2: `docker-compose config`)', function () {
  this.timeout(120_000);
  // Compose reads the shell environment: keep the tests' own BLUEGREEN_* and stack ports out of it.
  const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(BLUEGREEN_|BG_|COMPOSE_)/.test(k))) as NodeJS.ProcessEnv;
  function config(args: string[] = [], env: NodeJS.ProcessEnv = {}): Obj {
    const r = runTool('compose', ['-f', 'docker-compose.yml', ...args, 'config', '--format', 'json'], { ...cleanEnv(), ...env });
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout);
  }
  const ALL = ['--profile', 'verify', '--profile', 'cutover', '--profile', 'cli', '--profile', 'observability'];
  let all: Obj;
  before(() => {
    all = config(ALL);
  });

  it('is valid for compose (config --quiet), with the one-off services behind profiles', () => {
    const q = runTool('compose', ['-f', 'docker-compose.yml', 'config', '--quiet'], cleanEnv());
    expect(q.code, q.stderr).to.equal(0);
    expect(q.stderr.trim(), 'no warnings').to.equal('');
    const plain = Object.keys(config().services).sort();
    expect(plain).to.deep.equal(['es-legacy', 'es-new', 'planner', 'solr-collections', 'solr-legacy', 'solr-new', 'solr-zk-init', 'worker', 'zookeeper']);
    expect(Object.keys(all.services)).to.include.members(['verify', 'cutover', 'cli', 'prometheus', 'grafana']);
    expect(all.services.verify.profiles).to.deep.equal(['verify']);
    expect(all.services.cutover.profiles).to.deep.equal(['cutover']);
  });

  it('runs the servers the local stack runs: ZooKeeper 3.9, Solr 8.11 and 9 in their own chroots, Elasticsearch 7.17 and 8', () => {
    const s = all.services;
    expect(s.zookeeper.image).to.match(/^zookeeper:3\.9\./);
    expect(s['solr-legacy'].image).to.match(/^solr:8\.11\./);
    expect(s['solr-new'].image).to.match(/^solr:9\./);
    expect(s['solr-legacy'].environment.ZK_HOST).to.equal('zookeeper:2181/solr-legacy');
    expect(s['solr-new'].environment.ZK_HOST).to.equal('zookeeper:2181/solr-new');
    expect(s['es-legacy'].image).to.match(/elasticsearch:7\.17\./);
    expect(s['es-new'].image).to.match(/elasticsearch:8\./);
    for (const es of ['es-legacy', 'es-new']) {
      expect(s[es].environment['discovery.type'], es).to.equal('single-node');
      expect(s[es].environment['xpack.security.enabled'], es).to.equal('false');
      expect(s[es].environment.ES_JAVA_OPTS, es).to.match(/-Xmx512m/);
    }
    expect(s['solr-legacy'].environment.SOLR_HEAP).to.equal('512m');
    // Chroots and the configset exist before a Solr node starts; collections once both answer.
    for (const solr of ['solr-legacy', 'solr-new']) expect(s[solr].depends_on['solr-zk-init'].condition).to.equal('service_completed_successfully');
    expect(s['solr-collections'].depends_on['solr-legacy'].condition).to.equal('service_healthy');
    const configset = s['solr-zk-init'].volumes.find((v: Obj) => v.target === '/configsets/bluegreen');
    expect(configset.source).to.equal(join(REPO, 'scripts/solr/configsets/bluegreen'));
    expect(existsSync(join(configset.source, 'conf/managed-schema.xml'))).to.equal(true);
    // Host ports on loopback only, overridable like scripts/stack's.
    expect(s['solr-legacy'].ports[0]).to.include({ host_ip: '127.0.0.1', published: '8983', target: 8983 });
    const moved = config([], { BG_SOLR_LEGACY_PORT: '18983' });
    expect(moved.services['solr-legacy'].ports[0].published).to.equal('18983');
  });

  it('builds bluegreen from this Dockerfile and runs the planner once and scalable workers', () => {
    const s = all.services;
    for (const name of ['planner', 'worker', 'verify', 'cutover', 'cli']) {
      expect(s[name].build.context, name).to.equal(REPO);
      expect(s[name].image, name).to.equal('bluegreen:local');
      expect(s[name].read_only, name).to.equal(true);
      expect(s[name].user, name).to.equal('1000:1000');
    }
    expect(existsSync(join(REPO, s.worker.build.dockerfile ?? 'Dockerfile'))).to.equal(true);
    expect(s.planner.command).to.deep.equal(['plan']);
    expect(s.planner.restart).to.equal('no');
    // Scalable with --scale worker=N: no fixed container name, no fixed host port.
    expect(s.worker).to.not.have.property('container_name');
    expect(s.worker.ports ?? []).to.deep.equal([]);
    expect(s.worker.command).to.deep.equal(['work', '--follow', '--http-port', '9464']);
    expect(s.worker.depends_on['solr-collections'].condition).to.equal('service_completed_successfully');
    expect(s.worker.depends_on.zookeeper.condition).to.equal('service_healthy');
    // Time to checkpoint and release claims after SIGTERM (compose shows durations in ns or as text).
    const grace = s.worker.stop_grace_period;
    expect(typeof grace === 'string' ? grace : `${grace}`).to.match(/^(2m|2m0s|120s|120000000000)$/);
    expect(s.worker.healthcheck.test.join(' ')).to.match(/\/healthz/);
    expect(s.verify.entrypoint).to.deep.equal(['/app/bin/bluegreen', 'verify-integrity', '--http-port', '9464']);
    expect(s.cutover.entrypoint).to.deep.equal(['/app/bin/bluegreen', 'cutover']);
    expect(s.cutover.command).to.deep.equal(['--to', 'new']);
  });

  it('mounts a spec the real spec loader accepts, naming the compose services; ES spec by BLUEGREEN_COMPOSE_SPEC', () => {
    const check = (cfg: Obj, file: string, kind: string) => {
      const w = cfg.services.worker;
      const mount = w.volumes.find((v: Obj) => v.target === '/etc/bluegreen');
      expect(mount.source).to.equal(join(REPO, 'deploy/compose'));
      expect(mount.read_only).to.equal(true);
      expect(w.environment.BLUEGREEN_SPEC).to.equal(`/etc/bluegreen/${file}`);
      const saved = { ...process.env };
      try {
        for (const k of Object.keys(process.env)) if (k.startsWith('BLUEGREEN_')) delete process.env[k];
        const spec = loadSpec(join(mount.source, file));
        expect(spec.source.kind).to.equal(kind);
        const services = Object.keys(cfg.services);
        expect(services).to.include(spec.zookeeper.connect.split(':')[0]);
        for (const ep of [spec.source, spec.target]) expect(services, String(ep.url)).to.include(new URL(String(ep.url)).hostname);
        if (spec.target.prepare?.mappingsFile) {
          expect(spec.target.prepare.mappingsFile.startsWith('/etc/bluegreen/')).to.equal(true);
          expect(existsSync(join(mount.source, spec.target.prepare.mappingsFile.slice('/etc/bluegreen/'.length)))).to.equal(true);
        }
      } finally {
        process.env = saved;
      }
    };
    check(all, 'spec-solr.yaml', 'solr');
    check(config([], { BLUEGREEN_COMPOSE_SPEC: 'spec-elasticsearch.yaml' }), 'spec-elasticsearch.yaml', 'elasticsearch');
  });

  it('carries no credential values: they pass through from the shell only', () => {
    const credential = /^BLUEGREEN_(SOURCE|TARGET)_(USERNAME|PASSWORD|API_KEY)$/;
    for (const [name, svc] of Object.entries(all.services as Obj)) {
      for (const [k, v] of Object.entries(svc.environment ?? {})) {
        if (credential.test(k)) expect(v, `${name} ${k} with nothing in the shell`).to.be.oneOf([null, undefined, '']);
      }
    }
    const withShell = config([], { BLUEGREEN_TARGET_PASSWORD: 'from-the-shell' });
    expect(withShell.services.worker.environment.BLUEGREEN_TARGET_PASSWORD).to.equal('from-the-shell');
    expect(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')).to.not.match(/(PASSWORD|API_KEY):[ \t]*[^\s#]/);
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, svc] of Object.entries(all.services as Obj)) {
      for (const v of svc.volumes ?? []) {
        if (v.type === 'bind') expect(existsSync(v.source), `${name}: ${v.source}`).to.equal(true);
      }
    }
  });

  it('scrapes every worker replica in the observability profile, and provisions the dashboard', () => {
    const prom = yaml.load(readFileSync(join(REPO, 'deploy/compose/prometheus.yml'), 'utf8')) as Obj;
    const sd = prom.scrape_configs[0].dns_sd_configs[0];
    expect(sd.names).to.deep.equal(['worker']);
    expect(sd.port).to.equal(9464);
    const g = all.services.grafana.volumes.find((v: Obj) => v.source === join(REPO, 'deploy/grafana'));
    const provider = yaml.load(readFileSync(join(REPO, 'deploy/compose/grafana/dashboards.yaml'), 'utf8')) as Obj;
    expect(provider.providers[0].options.path).to.equal(g.target);
  });

  describe('deploy/compose/solr-init.sh', () => {
    const script = join(REPO, 'deploy/compose/solr-init.sh');
    const base = (u: string) => u.replace(/\/$/, '');

    it('is valid bash and refuses an unknown step', () => {
      expect(spawnSync('bash', ['-n', script]).status).to.equal(0);
      const r = spawnSync('bash', [script, 'nonsense'], { encoding: 'utf8' });
      expect(r.status).to.equal(2);
      expect(r.stderr).to.match(/usage/);
    });

    it('creates the collection on Solr 8 and Solr 9 (the local stack), and changes nothing the second time', async () => {
      const collection = uniqueName('bgtest_compose');
      const env = { ...process.env, COLLECTION: collection, SOLR_LEGACY_URL: base(stack.solrLegacy), SOLR_NEW_URL: base(stack.solrNew) };
      try {
        const first = spawnSync('bash', [script, 'collections'], { env, encoding: 'utf8', timeout: 90_000 });
        expect(first.status, first.stderr).to.equal(0);
        expect(first.stdout.match(/created/g)).to.have.length(2);
        for (const url of [stack.solrLegacy, stack.solrNew]) {
          const res = await fetch(`${base(url)}/admin/collections?action=LIST&wt=json`);
          expect(((await res.json()) as Obj).collections, url).to.include(collection);
        }
        const second = spawnSync('bash', [script, 'collections'], { env, encoding: 'utf8', timeout: 90_000 });
        expect(second.status, second.stderr).to.equal(0);
        expect(second.stdout.match(/exists/g)).to.have.length(2);
      } finally {
        for (const url of [stack.solrLegacy, stack.solrNew]) await fetch(`${base(url)}/admin/collections?action=DELETE&name=${collection}&wt=json`).catch(() => undefined);
      }
    });
  });
});

// --- Grafana dashboard ---------------------------------------------------------------------------------

/** The metrics bluegreen exports (the issue's contract, src/metrics.ts) and their labels. */
const METRICS: Record<string, string[]> = {
  bluegreen_documents_read_total: ['migration', 'customer'],
  bluegreen_documents_written_total: ['migration', 'customer'],
  bluegreen_documents_skipped_total: ['migration', 'customer'],
  bluegreen_documents_rejected_total: ['migration', 'customer'],
  bluegreen_slices_finished_total: ['migration', 'status'],
  bluegreen_claims_taken_total: ['migration'],
  bluegreen_claims_lost_total: ['migration'],
  bluegreen_backoffs_total: ['migration', 'side'],
  bluegreen_read_batch_seconds: ['migration'],
  bluegreen_write_batch_seconds: ['migration'],
  bluegreen_slices: ['migration', 'state'],
  bluegreen_zookeeper_connected: ['migration'],
};
const HISTOGRAMS = ['bluegreen_read_batch_seconds', 'bluegreen_write_batch_seconds'];
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job', 'namespace', 'pod', 'container', 'service', 'endpoint'];
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'vector', 'scalar', 'abs', 'clamp_min', 'clamp_max',
  'time', 'timestamp', 'absent', 'label_replace', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'changes', 'resets',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
]);

interface Query { metrics: Set<string>; selectorLabels: Array<{ metric: string | null; labels: string[] }>; byLabels: string[]; unknown: string[] }

/** The metric names and labels a PromQL expression uses (Grafana variables stand in for values). */
function analyse(expr: string): Query {
  let e = expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const q: Query = { metrics: new Set(), selectorLabels: [], byLabels: [], unknown: [] };
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _k, labels: string) => {
    q.byLabels.push(...labels.split(',').map((l) => l.trim()).filter(Boolean));
    return ' ';
  });
  e = e.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, body: string) => {
    q.selectorLabels.push({ metric: metric ?? null, labels: [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((m) => m[1]) });
    return metric ? ` ${metric} ` : ' ';
  });
  e = e.replace(/\[[^\]]*\]/g, ' ');
  for (const m of e.matchAll(/(^|[^a-zA-Z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)/g)) {
    const word = m[2];
    if (PROMQL_WORDS.has(word)) continue;
    if (word.startsWith('bluegreen_')) q.metrics.add(word);
    else q.unknown.push(word);
  }
  return q;
}

describe('Grafana dashboard (deploy/grafana/bluegreen.json)', () => {
  const dash = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/bluegreen.json'), 'utf8')) as Obj;
  const panels = (dash.panels as Obj[]).filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets as Obj[]).map((t) => ({ panel: p.title as string, expr: t.expr as string })));
  const templQueries = (dash.templating.list as Obj[]).filter((v) => v.type === 'query').map((v) => v.definition as string);
  // Default process metrics (prefix bluegreen_), as the real registry names them.
  const defaults = new Set((registry.getMetricsAsArray() as Obj[]).map((m) => m.name as string).filter((n) => /^bluegreen_(process|nodejs)_/.test(n)));

  function known(name: string): string[] | null {
    if (name in METRICS) return METRICS[name];
    const h = HISTOGRAMS.find((x) => name === `${x}_bucket` || name === `${x}_sum` || name === `${x}_count`);
    if (h) return name.endsWith('_bucket') ? [...METRICS[h], 'le'] : METRICS[h];
    if (defaults.has(name)) return [];
    return null;
  }

  it('is a Grafana dashboard with panels that all query the ${datasource} variable', () => {
    expect(dash.uid).to.equal('bluegreen');
    expect(dash.schemaVersion).to.be.a('number');
    expect(panels.length).to.be.at.least(10);
    const ids = (dash.panels as Obj[]).map((p) => p.id);
    expect(new Set(ids).size, 'unique panel ids').to.equal(ids.length);
    for (const p of panels) {
      expect(p.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets, p.title).to.be.an('array').that.is.not.empty;
      for (const t of p.targets) expect(t.expr, p.title).to.be.a('string').that.is.not.empty;
    }
    expect((dash.templating.list as Obj[]).map((v) => v.name)).to.include.members(['datasource', 'migration', 'customer']);
  });

  it('lays panels out without overlap', () => {
    const cells = new Set<string>();
    for (const p of dash.panels as Obj[]) {
      const g = p.gridPos;
      expect(g.x + g.w, p.title).to.be.at.most(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).to.equal(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('queries only metrics bluegreen exports, with labels they have', () => {
    expect(defaults.has('bluegreen_process_cpu_seconds_total'), 'the registry has the default process metrics').to.equal(true);
    for (const { panel, expr } of [...exprs, ...templQueries.map((expr) => ({ panel: 'variable', expr: expr.replace(/^label_values\((.*),\s*(\w+)\)$/, 'sum by ($2) ($1)') }))]) {
      const q = analyse(expr);
      expect(q.unknown, `${panel}: ${expr}: not a metric bluegreen exports, nor PromQL`).to.deep.equal([]);
      expect(q.metrics.size, `${panel}: ${expr}`).to.be.above(0);
      const labelsHere = new Set<string>(TARGET_LABELS);
      for (const m of q.metrics) {
        const labels = known(m);
        expect(labels, `${panel}: ${m} is not a bluegreen metric`).to.not.equal(null);
        for (const l of labels!) labelsHere.add(l);
      }
      for (const s of q.selectorLabels) {
        const own = new Set([...(s.metric ? known(s.metric) ?? [] : [...labelsHere]), ...TARGET_LABELS]);
        for (const l of s.labels) expect(own.has(l), `${panel}: ${s.metric} has no label ${l}`).to.equal(true);
      }
      for (const l of q.byLabels) expect(labelsHere.has(l), `${panel}: by (${l}) in ${expr}`).to.equal(true);
    }
  });

  it('covers every bluegreen metric, and documents per customer for each kind', () => {
    const used = new Set(exprs.flatMap(({ expr }) => [...analyse(expr).metrics]));
    for (const m of Object.keys(METRICS)) {
      const forms = HISTOGRAMS.includes(m) ? [`${m}_bucket`] : [m];
      expect(forms.some((f) => used.has(f)), `${m} on the dashboard`).to.equal(true);
    }
    for (const kind of ['read', 'written', 'skipped', 'rejected']) {
      const hit = exprs.find(({ expr }) => expr.includes(`bluegreen_documents_${kind}_total`) && analyse(expr).byLabels.includes('customer'));
      expect(hit, `documents ${kind} by customer`).to.not.equal(undefined);
    }
    for (const q of ['0.5', '0.95']) {
      for (const h of HISTOGRAMS) expect(exprs.some(({ expr }) => expr.includes(`histogram_quantile(${q}, `) && expr.includes(`${h}_bucket`)), `${h} p${Number(q) * 100}`).to.equal(true);
    }
  });

  it('checks against what the process really registers (src/metrics.ts): same names, same labels', () => {
    for (const [name, labels] of Object.entries(METRICS)) {
      const m = registry.getSingleMetric(name) as unknown as { labelNames?: string[] } | undefined;
      expect(m, `${name} is registered`).to.not.equal(undefined);
      expect([...(m!.labelNames ?? [])].sort(), name).to.deep.equal([...labels].sort());
    }
  });

  it('would catch a metric bluegreen does not export (the checker itself)', () => {
    expect(analyse('sum(rate(up{job="x"}[5m]))').unknown).to.deep.equal(['up']);
    expect(known('bluegreen_documents_copied_total')).to.equal(null);
    expect(analyse('sum by (customer) (rate(bluegreen_slices{migration=~"$migration"}[$__rate_interval]))').byLabels).to.deep.equal(['customer']);
  });
});
