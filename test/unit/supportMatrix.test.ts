/**
 * The README's support matrix is checked against the tests that exist: every test file a cell names is
 * a file of test/integration, each one names the kinds of its row and column in its specs, and every
 * cross-version test file of the optional servers appears in the matrix.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../..');
const README = readFileSync(join(REPO, 'README.md'), 'utf8');

function matrix(): { columns: string[]; rows: Array<{ source: string; cells: string[] }> } {
  const start = README.indexOf('## Support matrix');
  expect(start, 'README has a "Support matrix" section').to.be.greaterThan(-1);
  const all = README.slice(start).split('\n');
  const first = all.findIndex((l) => l.startsWith('|'));
  const end = all.findIndex((l, i) => i > first && !l.startsWith('|'));
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  const [head, , ...body] = all.slice(first, end);
  return { columns: cells(head).slice(1), rows: body.map((l) => ({ source: cells(l)[0], cells: cells(l).slice(1) })) };
}

const kindOf = (label: string): 'solr' | 'elasticsearch' | 'opensearch' =>
  /solr/i.test(label) ? 'solr' : /opensearch/i.test(label) ? 'opensearch' : 'elasticsearch';

describe('the README support matrix', () => {
  const m = matrix();

  it('has a row per source and a column per target, every cell filled', () => {
    expect(m.columns.length).to.be.at.least(4);
    expect(m.rows.length).to.be.at.least(6);
    for (const r of m.rows) {
      expect(r.cells, r.source).to.have.length(m.columns.length);
      for (const c of r.cells) expect(c, `${r.source}: a cell says tested by …, or why not`).to.match(/tested by|not tested|not available|cannot/);
    }
  });

  it('names only test files that exist, and each of them speaks the kinds of its cell', () => {
    for (const r of m.rows) {
      r.cells.forEach((cell, i) => {
        if (!/^tested by/.test(cell)) return;
        const files = [...cell.matchAll(/`([\w.]+\.test\.ts)`/g)].map((x) => x[1]);
        expect(files, `${r.source} → ${m.columns[i]}: names its test`).to.not.be.empty;
        const kinds = new Set([kindOf(r.source), kindOf(m.columns[i])]);
        const text = files.map((f) => {
          const path = join(REPO, 'test/integration', f);
          expect(existsSync(path), `${f} (named for ${r.source} → ${m.columns[i]}) exists`).to.equal(true);
          return readFileSync(path, 'utf8');
        }).join('\n');
        for (const k of kinds) expect(text, `${files.join(', ')}: a spec of kind ${k}`).to.match(new RegExp(`kind: '${k}'|kind: "${k}"|'${k}'`));
      });
    }
  });

  it('names every test of the optional servers', () => {
    for (const f of ['es9.test.ts', 'opensearch.test.ts', 'crossKind.test.ts', 'securedSolr.test.ts']) {
      expect(existsSync(join(REPO, 'test/integration', f)), f).to.equal(true);
      expect(README.slice(README.indexOf('## Support matrix')), f).to.contain(`\`${f}\``);
    }
  });
});
