/** The architecture the code promises: no import circle, between files or between the areas of src. */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '../../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of each file (type-only ones too: a circle of types is still a circle of ideas). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const deps = [...text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)].map((m) => {
      const base = resolve(dirname(f), m[1]);
      for (const c of [`${base}.ts`, join(base, 'index.ts')]) if (statSync(c, { throwIfNoEntry: false })?.isFile()) return c;
      return `${base}.ts`;
    });
    g.set(f, deps);
  }
  return g;
}

function cycles<T>(g: Map<T, T[]>): T[][] {
  const out: T[][] = [];
  const state = new Map<T, 'open' | 'done'>();
  const stack: T[] = [];
  const visit = (n: T) => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 'open') out.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of g.keys()) if (!state.has(n)) visit(n);
  return out;
}

describe('architecture', () => {
  it('has no import circle between files', () => {
    const found = cycles(graph()).map((c) => c.map((f) => relative(SRC, f)).join(' → '));
    expect(found).to.deep.equal([]);
  });

  it('has no import circle between the areas of src (backends, coordination, planner, worker, …)', () => {
    const area = (f: string) => relative(SRC, f).split('/')[0].replace(/\.ts$/, '');
    const g = new Map<string, string[]>();
    for (const [f, deps] of graph()) {
      const a = area(f);
      const set = new Set(g.get(a) ?? []);
      for (const d of deps) if (area(d) !== a) set.add(area(d));
      g.set(a, [...set]);
    }
    expect(cycles(g).map((c) => c.join(' → '))).to.deep.equal([]);
  });
});
