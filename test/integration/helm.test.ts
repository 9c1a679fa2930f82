/**
 * The Helm chart (helm/bluegreen), rendered by the real `helm` binary (scripts/tools install) and checked
 * object by object: what an operator relies on when they `helm install` it and scale the workers.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { loadSpec } from '../../src/config/spec';
import { REPO, runTool } from './operatorTools';

const CHART = join(REPO, 'helm/bluegreen');
const RELEASE = 'mig';
const NS = 'search';

type Obj = Record<string, any>;

function helm(args: string[]) {
  return runTool('helm', args);
}

/** `helm template` with these --set values (and values files); the rendered objects. */
function render(sets: string[] = [], files: string[] = []): Obj[] {
  const r = helm(['template', RELEASE, CHART, '--namespace', NS, ...sets.flatMap((s) => ['--set', s]), ...files.flatMap((f) => ['-f', f])]);
  expect(r.code, `helm template failed:\n${r.stderr}`).to.equal(0);
  return (yaml.loadAll(r.stdout) as Obj[]).filter((d) => d && typeof d === 'object');
}

function renderFails(sets: string[]): string {
  const r = helm(['template', RELEASE, CHART, ...sets.flatMap((s) => ['--set', s])]);
  expect(r.code, 'helm template should have refused these values').to.not.equal(0);
  return r.stderr;
}

function valuesFile(values: Obj): string {
  const f = join(mkdtempSync(join(tmpdir(), 'bg-helm-')), 'values.yaml');
  writeFileSync(f, yaml.dump(values));
  return f;
}

const ofKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
function one(objs: Obj[], kind: string, nameMatch?: RegExp): Obj {
  const found = ofKind(objs, kind).filter((o) => !nameMatch || nameMatch.test(o.metadata.name));
  expect(found, `exactly one ${kind}${nameMatch ? ` named like ${nameMatch}` : ''}`).to.have.length(1);
  return found[0];
}
const worker = (objs: Obj[]) => one(objs, 'Deployment');
const planJob = (objs: Obj[]) => one(objs, 'Job', /-plan-/);

/** Every pod template in the release: Deployment, Jobs, CronJobs' job templates. */
function podTemplates(objs: Obj[]): Array<{ owner: string; pod: Obj }> {
  const out: Array<{ owner: string; pod: Obj }> = [];
  for (const o of objs) {
    if (o.kind === 'Deployment' || o.kind === 'Job') out.push({ owner: `${o.kind}/${o.metadata.name}`, pod: o.spec.template });
    if (o.kind === 'CronJob') out.push({ owner: `${o.kind}/${o.metadata.name}`, pod: o.spec.jobTemplate.spec.template });
  }
  return out;
}
const container = (pod: Obj) => {
  expect(pod.spec.containers).to.have.length(1);
  return pod.spec.containers[0];
};
const envOf = (c: Obj) => new Map<string, Obj>((c.env ?? []).map((e: Obj) => [e.name, e]));

describe('helm chart (helm/bluegreen, real helm)', function () {
  this.timeout(120_000);
  let defaults: Obj[];

  before(() => {
    defaults = render();
  });

  it('is the helm version scripts/tools pins, with a Kubernetes default the chart accepts', () => {
    const pinned = /HELM_VERSION="\$\{BG_HELM_VERSION:-(v[0-9.]+)\}"/.exec(readFileSync(join(REPO, 'scripts/tools'), 'utf8'))?.[1];
    expect(pinned, 'scripts/tools pins a helm version').to.match(/^v3\./);
    const r = helm(['version', '--template', '{{.Version}}']);
    expect(r.stdout.trim()).to.equal(pinned);
    // The chart needs Kubernetes >= 1.25; helm's default (stamped at build time) must satisfy it, or
    // `helm template` without --kube-version fails for every operator.
    const caps = helm(['template', RELEASE, CHART, '--show-only', 'templates/configmap.yaml']);
    expect(caps.code, caps.stderr).to.equal(0);
  });

  it('passes helm lint --strict, with the defaults and with every option on', () => {
    const all = valuesFile({
      worker: { replicas: 40 },
      credentials: { source: { secretName: 'legacy-creds' }, target: { secretName: 'new-creds', apiKeyKey: 'api-key' } },
      serviceMonitor: { enabled: true, labels: { release: 'prom' } },
      grafanaDashboard: { enabled: true },
      verify: { job: { enabled: true, run: 'r1' }, schedule: '0 3 * * *', repair: true },
      jobs: { ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: 7200 },
    });
    for (const args of [[], ['-f', all]]) {
      const r = helm(['lint', CHART, '--strict', ...args]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(r.stdout).to.match(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.stdout).to.not.match(/\[(WARNING|ERROR)\]/);
    }
  });

  it('renders the expected objects by default, and no ServiceMonitor', () => {
    const kinds = defaults.map((o) => o.kind).sort();
    expect(kinds).to.deep.equal(['ConfigMap', 'CronJob', 'CronJob', 'CronJob', 'Deployment', 'Job', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    expect(ofKind(defaults, 'ServiceMonitor')).to.have.length(0);
    for (const o of defaults) {
      expect(o.metadata.labels['app.kubernetes.io/instance'], `${o.kind}/${o.metadata.name}`).to.equal(RELEASE);
      expect(o.metadata.name.length, o.metadata.name).to.be.at.most(52);
    }
  });

  describe('worker Deployment', () => {
    it('takes its replica count from worker.replicas', () => {
      expect(worker(render(['worker.replicas=7'])).spec.replicas).to.equal(7);
      expect(worker(render(['worker.replicas=40'])).spec.replicas).to.equal(40);
      expect(worker(defaults).spec.replicas).to.equal(2);
    });

    it('leaves the count to `kubectl scale` when worker.replicas is null', () => {
      const d = worker(render(['worker.replicas=null']));
      expect(d.spec).to.not.have.property('replicas');
      expect(ofKind(defaults, 'HorizontalPodAutoscaler')).to.have.length(0);
    });

    it('runs `bluegreen work --follow` with the spec and serves the metrics port', () => {
      const c = container(worker(defaults).spec.template);
      expect(c.args.slice(0, 1)).to.deep.equal(['work']);
      expect(c.args).to.include('--follow');
      expect(c.args[c.args.indexOf('--spec') + 1]).to.equal('/etc/bluegreen/spec.yaml');
      expect(c.args[c.args.indexOf('--http-port') + 1]).to.equal('9464');
      expect(c.ports).to.deep.equal([{ name: 'http', containerPort: 9464, protocol: 'TCP' }]);
      const moved = container(worker(render(['httpPort=9500'])).spec.template);
      expect(moved.args[moved.args.indexOf('--http-port') + 1]).to.equal('9500');
      expect(moved.ports[0].containerPort).to.equal(9500);
      expect(envOf(moved).get('BLUEGREEN_HTTP_PORT')?.value).to.equal('9500');
    });

    it('is ready on /readyz and alive on /healthz, on the metrics port', () => {
      const c = container(worker(defaults).spec.template);
      expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
      expect(c.livenessProbe.failureThreshold * c.livenessProbe.periodSeconds, 'liveness tolerates a slow moment').to.be.at.least(30);
    });

    it('gets a grace period long enough to checkpoint (default 120 s, configurable)', () => {
      expect(worker(defaults).spec.template.spec.terminationGracePeriodSeconds).to.equal(120);
      expect(worker(render(['worker.terminationGracePeriodSeconds=300'])).spec.template.spec.terminationGracePeriodSeconds).to.equal(300);
    });

    it('has resource requests and limits', () => {
      const r = container(worker(defaults).spec.template).resources;
      expect(r.requests).to.include.keys('cpu', 'memory');
      expect(r.limits).to.include.keys('cpu', 'memory');
      const set = container(worker(render(['worker.resources.limits.memory=2Gi'])).spec.template).resources;
      expect(set.limits.memory).to.equal('2Gi');
    });

    it('rolls when the spec changes (checksum of the spec ConfigMap)', () => {
      const a = worker(defaults).spec.template.metadata.annotations['checksum/spec'];
      const b = worker(render(['spec.batch.docs=250'])).spec.template.metadata.annotations['checksum/spec'];
      expect(a).to.match(/^[0-9a-f]{64}$/);
      expect(b).to.not.equal(a);
      expect(worker(render(['worker.replicas=9'])).spec.template.metadata.annotations['checksum/spec']).to.equal(a);
    });
  });

  it('runs every pod non-root, read-only root file system, no privilege escalation, with requests and limits', () => {
    const all = render(['verify.job.enabled=true']);
    const pods = podTemplates(all);
    expect(pods.map((p) => p.owner.split('/')[0]).sort()).to.deep.equal(['CronJob', 'CronJob', 'CronJob', 'Deployment', 'Job', 'Job']);
    for (const { owner, pod } of pods) {
      const psc = pod.spec.securityContext;
      expect(psc.runAsNonRoot, owner).to.equal(true);
      expect(psc.runAsUser, owner).to.be.a('number').and.above(0);
      const c = container(pod);
      expect(c.securityContext, owner).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(c.securityContext.capabilities.drop, owner).to.deep.equal(['ALL']);
      expect(c.resources.requests, owner).to.include.keys('cpu', 'memory');
      expect(c.resources.limits, owner).to.include.keys('cpu', 'memory');
      expect(pod.spec.automountServiceAccountToken, owner).to.equal(false);
      // A writable /tmp, since the root file system is not.
      const tmp = c.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
      expect(pod.spec.volumes.find((v: Obj) => v.name === tmp?.name)?.emptyDir, owner).to.be.an('object');
    }
  });

  describe('spec ConfigMap', () => {
    it('holds the spec from values, mounted where every container reads it', () => {
      const objs = render(['spec.migration=orders-2027', 'spec.zookeeper.connect=zk-0.zk:2181\\,zk-1.zk:2181', 'spec.batch.docs=250']);
      const cm = one(objs, 'ConfigMap', /-spec$/);
      const spec = yaml.load(cm.data['spec.yaml']) as Obj;
      expect(spec.migration).to.equal('orders-2027');
      expect(spec.zookeeper.connect).to.equal('zk-0.zk:2181,zk-1.zk:2181');
      expect(spec.batch).to.deep.equal({ docs: 250 });
      expect(spec.source).to.deep.equal({ kind: 'solr', url: 'http://solr-legacy:8983/solr', collection: 'events' });
      for (const { owner, pod } of podTemplates(objs)) {
        const vol = pod.spec.volumes.find((v: Obj) => v.configMap?.name === cm.metadata.name);
        expect(vol, owner).to.be.an('object');
        const c = container(pod);
        const mount = c.volumeMounts.find((m: Obj) => m.name === vol.name);
        expect(mount, owner).to.deep.include({ mountPath: '/etc/bluegreen', readOnly: true });
        expect(c.args[c.args.indexOf('--spec') + 1], owner).to.equal('/etc/bluegreen/spec.yaml');
        expect(envOf(c).get('BLUEGREEN_SPEC')?.value, owner).to.equal('/etc/bluegreen/spec.yaml');
      }
    });

    it('is a spec bluegreen itself accepts (the real spec loader)', () => {
      const cm = one(defaults, 'ConfigMap', /-spec$/);
      const f = join(mkdtempSync(join(tmpdir(), 'bg-helm-spec-')), 'spec.yaml');
      writeFileSync(f, cm.data['spec.yaml']);
      const saved = { ...process.env };
      try {
        for (const k of Object.keys(process.env)) if (k.startsWith('BLUEGREEN_')) delete process.env[k];
        const spec = loadSpec(f);
        expect(spec.migration).to.equal('orders-2026');
        expect(spec.target.collection).to.equal('events');
      } finally {
        process.env = saved;
      }
    });
  });

  describe('credentials', () => {
    const withSecrets = () => render([
      'credentials.source.secretName=legacy-creds',
      'credentials.target.secretName=new-creds',
      'credentials.target.apiKeyKey=api-key',
      'credentials.target.passwordKey=',
    ]);

    it('come as env from the named Secrets (secretKeyRef), in every container', () => {
      for (const { owner, pod } of podTemplates(withSecrets())) {
        const env = envOf(container(pod));
        expect(env.get('BLUEGREEN_SOURCE_USERNAME')?.valueFrom?.secretKeyRef, owner).to.deep.equal({ name: 'legacy-creds', key: 'username', optional: false });
        expect(env.get('BLUEGREEN_SOURCE_PASSWORD')?.valueFrom?.secretKeyRef, owner).to.deep.equal({ name: 'legacy-creds', key: 'password', optional: false });
        expect(env.get('BLUEGREEN_TARGET_API_KEY')?.valueFrom?.secretKeyRef, owner).to.deep.equal({ name: 'new-creds', key: 'api-key', optional: false });
        expect(env.has('BLUEGREEN_SOURCE_API_KEY'), `${owner}: no key named, no variable`).to.equal(false);
        expect(env.has('BLUEGREEN_TARGET_PASSWORD'), `${owner}: key set to "" is left out`).to.equal(false);
      }
    });

    it('every container caps V8\'s heap within its memory limit (NODE_OPTIONS), and "" leaves Node\'s defaults', () => {
      for (const { owner, pod } of podTemplates(render())) {
        expect(envOf(container(pod)).get('NODE_OPTIONS')?.value, owner).to.equal('--max-old-space-size=256 --max-semi-space-size=16');
      }
      for (const { owner, pod } of podTemplates(render(['nodeOptions=']))) {
        expect(envOf(container(pod)).has('NODE_OPTIONS'), owner).to.equal(false);
      }
    });

    it('never appear as clear values in any rendered object', () => {
      const objs = withSecrets();
      for (const { owner, pod } of podTemplates(objs)) {
        for (const e of container(pod).env) {
          if (/_(USERNAME|PASSWORD|API_KEY)$/.test(e.name)) {
            expect(e, `${owner} ${e.name}`).to.not.have.property('value');
            expect(e.valueFrom.secretKeyRef, `${owner} ${e.name}`).to.be.an('object');
          }
        }
      }
      expect(ofKind(objs, 'Secret'), 'the chart creates no Secret: you bring your own').to.have.length(0);
    });

    it('are absent when no Secret is named, and optional when asked', () => {
      for (const { pod } of podTemplates(defaults)) {
        expect([...envOf(container(pod)).keys()].filter((k) => /_(USERNAME|PASSWORD|API_KEY)$/.test(k))).to.deep.equal([]);
      }
      const env = envOf(container(worker(render(['credentials.source.secretName=s', 'credentials.optional=true'])).spec.template));
      expect(env.get('BLUEGREEN_SOURCE_PASSWORD')?.valueFrom?.secretKeyRef.optional).to.equal(true);
    });

    it('are refused when written into the spec values', () => {
      expect(renderFails(['spec.source.auth.username=u', 'spec.source.auth.password=hunter2'])).to.match(/credentials never go in values.*Secret/s);
      expect(renderFails(['spec.target.auth.apiKey=abc'])).to.match(/spec\.target\.auth.*Secret/s);
      // A username alone is not a secret: allowed in the spec.
      const cm = one(render(['spec.source.auth.username=migrator']), 'ConfigMap', /-spec$/);
      expect((yaml.load(cm.data['spec.yaml']) as Obj).source.auth).to.deep.equal({ username: 'migrator' });
    });
  });

  describe('PodDisruptionBudget', () => {
    it('covers exactly the worker pods', () => {
      const pdb = one(defaults, 'PodDisruptionBudget');
      const podLabels = worker(defaults).spec.template.metadata.labels;
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(podLabels[k], k).to.equal(v);
      expect(pdb.spec.selector.matchLabels['app.kubernetes.io/component']).to.equal('worker');
      expect(planJob(defaults).spec.template.metadata.labels['app.kubernetes.io/component']).to.not.equal('worker');
      expect(pdb.spec.maxUnavailable).to.equal('25%');
      expect(pdb.spec.unhealthyPodEvictionPolicy).to.equal('AlwaysAllow');
    });

    it('takes minAvailable instead, refuses both, and can be turned off', () => {
      const pdb = one(render(['worker.podDisruptionBudget.maxUnavailable=null', 'worker.podDisruptionBudget.minAvailable=3']), 'PodDisruptionBudget');
      expect(pdb.spec).to.include({ minAvailable: 3 }).and.not.have.property('maxUnavailable');
      expect(renderFails(['worker.podDisruptionBudget.minAvailable=3'])).to.match(/not both/);
      expect(ofKind(render(['worker.podDisruptionBudget.enabled=false']), 'PodDisruptionBudget')).to.have.length(0);
    });
  });

  describe('plan Job', () => {
    it('runs `bluegreen plan` once, without retrying bad input', () => {
      const job = planJob(defaults);
      const c = container(job.spec.template);
      expect(c.args).to.deep.equal(['plan', '--spec', '/etc/bluegreen/spec.yaml']);
      expect(job.spec.template.spec.restartPolicy).to.equal('Never');
      const failJob = job.spec.podFailurePolicy.rules.find((r: Obj) => r.action === 'FailJob');
      expect(failJob.onExitCodes).to.deep.include({ containerName: c.name, operator: 'In' });
      expect(failJob.onExitCodes.values).to.include(2);
      expect(job.metadata.annotations?.['helm.sh/hook'], 'a plain Job, not a hook').to.equal(undefined);
    });

    it('keeps its name when only the worker count changes, and gets a new one for a new spec or image', () => {
      const name = planJob(defaults).metadata.name;
      expect(name).to.match(new RegExp(`^${RELEASE}-bluegreen-plan-[0-9a-f]{8}$`));
      expect(planJob(render(['worker.replicas=40'])).metadata.name).to.equal(name);
      expect(planJob(render(['spec.slicing.targetDocsPerSlice=5000'])).metadata.name).to.not.equal(name);
      expect(planJob(render(['image.tag=0.2.0'])).metadata.name).to.not.equal(name);
      expect(ofKind(render(['plan.enabled=false']), 'Job')).to.have.length(0);
    });
  });

  describe('verify-integrity', () => {
    it('is a suspended CronJob by default: a template for `kubectl create job --from=cronjob/...`', () => {
      const cj = one(defaults, 'CronJob', /-verify$/);
      expect(cj.spec.suspend).to.equal(true);
      const c = container(cj.spec.jobTemplate.spec.template);
      expect(c.args.slice(0, 3)).to.deep.equal(['verify-integrity', '--spec', '/etc/bluegreen/spec.yaml']);
      expect(c.args).to.not.include('--repair');
      expect(ofKind(defaults, 'Job').filter((j) => /-verify-/.test(j.metadata.name))).to.have.length(0);
    });

    it('runs on verify.schedule, and as a Job of the release with verify.job.enabled', () => {
      const objs = render(['verify.schedule=0 3 * * *', 'verify.job.enabled=true', 'verify.repair=true']);
      const cj = one(objs, 'CronJob', /-verify$/);
      expect(cj.spec).to.include({ schedule: '0 3 * * *', suspend: false, concurrencyPolicy: 'Forbid' });
      const job = one(objs, 'Job', /-verify-/);
      const c = container(job.spec.template);
      expect(c.args).to.include.members(['verify-integrity', '--repair']);
      // Exit 5 (persistent differences) fails the Job at once instead of re-running the comparison.
      expect(job.spec.podFailurePolicy.rules.find((r: Obj) => r.action === 'FailJob').onExitCodes.values).to.include(5);
      // verify serves /metrics while it runs: the metrics Service selects it.
      expect(job.spec.template.metadata.labels['bluegreen.io/metrics']).to.equal('true');
      const again = one(render(['verify.schedule=0 3 * * *', 'verify.job.enabled=true', 'verify.repair=true', 'verify.job.run=second']), 'Job', /-verify-/);
      expect(again.metadata.name).to.not.equal(job.metadata.name);
    });
  });

  describe('cutover', () => {
    it('is never run by the release: two suspended job templates, --to new and --to legacy', () => {
      const cjs = ofKind(defaults, 'CronJob').filter((o) => /-cutover-to-/.test(o.metadata.name));
      expect(cjs.map((o) => o.metadata.name).sort()).to.deep.equal([`${RELEASE}-bluegreen-cutover-to-legacy`, `${RELEASE}-bluegreen-cutover-to-new`]);
      for (const cj of cjs) {
        expect(cj.spec.suspend, cj.metadata.name).to.equal(true);
        const args = container(cj.spec.jobTemplate.spec.template).args;
        expect(args.slice(0, 3)).to.deep.equal(['cutover', '--spec', '/etc/bluegreen/spec.yaml']);
        expect(args[args.indexOf('--to') + 1]).to.equal(cj.metadata.name.endsWith('-new') ? 'new' : 'legacy');
      }
      expect(ofKind(render(['cutover.jobTemplates=false']), 'CronJob').filter((o) => /-cutover-/.test(o.metadata.name))).to.have.length(0);
    });
  });

  describe('metrics', () => {
    it('a headless Service selects the pods that serve /metrics (workers, verify), not the planner', () => {
      const svc = one(defaults, 'Service');
      expect(svc.spec.clusterIP).to.equal('None');
      expect(svc.spec.ports).to.deep.equal([{ name: 'http', port: 9464, targetPort: 'http', protocol: 'TCP' }]);
      const matches = (labels: Obj) => Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v);
      expect(matches(worker(defaults).spec.template.metadata.labels)).to.equal(true);
      expect(matches(one(defaults, 'CronJob', /-verify$/).spec.jobTemplate.spec.template.metadata.labels)).to.equal(true);
      expect(matches(planJob(defaults).spec.template.metadata.labels)).to.equal(false);
    });

    it('a ServiceMonitor scrapes that Service when serviceMonitor.enabled', () => {
      const objs = render(['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=kube-prometheus-stack', 'serviceMonitor.interval=15s']);
      const sm = one(objs, 'ServiceMonitor');
      expect(sm.apiVersion).to.equal('monitoring.coreos.com/v1');
      expect(sm.metadata.labels.release).to.equal('kube-prometheus-stack');
      const svc = one(objs, 'Service');
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k], k).to.equal(v);
      expect(sm.spec.namespaceSelector.matchNames).to.deep.equal([NS]);
      expect(sm.spec.endpoints).to.have.length(1);
      expect(sm.spec.endpoints[0]).to.include({ port: 'http', path: '/metrics', interval: '15s' });
      expect(svc.spec.ports.map((p: Obj) => p.name)).to.include(sm.spec.endpoints[0].port);
    });

    it('ships the Grafana dashboard of deploy/grafana (the same file) for the Grafana sidecar', () => {
      const deployed = readFileSync(join(REPO, 'deploy/grafana/bluegreen.json'), 'utf8');
      expect(readFileSync(join(CHART, 'dashboards/bluegreen.json'), 'utf8'), 'cp deploy/grafana/bluegreen.json helm/bluegreen/dashboards/').to.equal(deployed);
      expect(ofKind(defaults, 'ConfigMap').filter((c) => /-dashboard$/.test(c.metadata.name))).to.have.length(0);
      const cm = one(render(['grafanaDashboard.enabled=true']), 'ConfigMap', /-dashboard$/);
      expect(cm.metadata.labels.grafana_dashboard).to.equal('1');
      expect(JSON.parse(cm.data['bluegreen.json'])).to.deep.equal(JSON.parse(deployed));
    });
  });

  it('uses the chart appVersion as the image tag unless image.tag is set', () => {
    const chart = yaml.load(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
    expect(container(worker(defaults).spec.template).image).to.equal(`bluegreen:${chart.appVersion}`);
    const objs = render(['image.repository=registry.example/search/bluegreen', 'image.tag=1.4.2']);
    for (const { owner, pod } of podTemplates(objs)) expect(container(pod).image, owner).to.equal('registry.example/search/bluegreen:1.4.2');
  });

  it('refuses misspelt values instead of ignoring them (values.schema.json)', () => {
    expect(renderFails(['workers.replicas=40'])).to.match(/additional properties 'workers' not allowed/);
    expect(renderFails(['worker.replica=40'])).to.match(/additional properties 'replica' not allowed/);
    expect(renderFails(['worker.replicas=-1'])).to.match(/replicas/);
  });
});
