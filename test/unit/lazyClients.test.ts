/**
 * Issue 15 (a worker's memory): the Elasticsearch and OpenSearch clients (es7, es8, es9, OpenSearch:
 * some 1,200 modules, about 25 MiB of RSS) load only when a spec names those kinds. A Solr → Solr
 * process loads the CLI and the Solr backend and none of them.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const DIST = resolve(__dirname, '../..');

/** The npm packages a fresh process holds after requiring these compiled modules (and calling `then`). */
function packagesLoaded(modules: string[], then = ''): string[] {
  const script = `${modules.map((m) => `require(${JSON.stringify(resolve(DIST, m))});`).join('')}${then}
    const names = new Set();
    for (const k of Object.keys(require.cache)) { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(k); if (m) names.add(m[1]); }
    process.stdout.write(JSON.stringify([...names].sort()));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

const SOLR_SPEC = {
  migration: 'm1',
  zookeeper: { connect: '127.0.0.1:2181' },
  source: { kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'events' },
  target: { kind: 'solr', url: 'http://127.0.0.1:8984/solr', collection: 'events' },
};

const CLIENTS = ['es7', 'es8', 'es9', '@opensearch-project/opensearch', '@elastic/transport'];

describe('the Elasticsearch and OpenSearch clients load lazily (issue 15: memory)', () => {
  it('the CLI and a Solr backend load none of them', () => {
    const loaded = packagesLoaded(['src/cli.js'], `
      const { openBackend } = require(${JSON.stringify(resolve(DIST, 'src/backends/index.js'))});
      const { validateSpec } = require(${JSON.stringify(resolve(DIST, 'src/config/spec.js'))});
      const spec = validateSpec(${JSON.stringify(SOLR_SPEC)});
      openBackend(spec.source, spec); openBackend(spec.target, spec);`);
    expect(loaded.filter((n) => CLIENTS.includes(n))).to.deep.equal([]);
    expect(loaded).to.include('undici'); // the Solr backend's HTTP: the probe does see packages
  });

  it('the Elasticsearch backend module loads none either until it meets a server; a client required is seen (the probe can fail)', () => {
    expect(packagesLoaded(['src/backends/elasticsearch/esBackend.js']).filter((n) => CLIENTS.includes(n))).to.deep.equal([]);
    expect(packagesLoaded(['src/backends/elasticsearch/esBackend.js'], "require('es8');")).to.include('es8');
  });
});
