import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { bulkRequest, versionOf } from '../../src/backends/elasticsearch/bulk';
import { decodeCursor, encodeCursor } from '../../src/backends/elasticsearch/queries';
import { sourceExcluder } from '../../src/backends/elasticsearch/sourceFilter';
import { exactJson, numberText, RawNumber } from '../../src/backends/exactJson';
import { prng } from '../../src/demo/dataset';
import { esPage, legacyParse, solrIndentedPage, solrPage } from '../bench/json';
import { canonicalContent, contentHash } from '../../src/verifier/diff';

/** The numbers of the field report: each one changed on the way before. */
const REPORTED = ['1.0', '1E+2', '-0.0', '1e-400', '3.14159265358979323846264338327950288', '0.10000000000000000555', '1e400', '-0'];

/** Number texts of every shape JSON allows, canonical for JavaScript or not. */
function numberTexts(seed: number, n: number): string[] {
  const r = prng(seed);
  const digits = (k: number) => Array.from({ length: k }, () => String(Math.floor(r() * 10))).join('');
  const int = (k: number) => (k <= 1 ? digits(1) : `${1 + Math.floor(r() * 9)}${digits(k - 1)}`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const sign = r() < 0.3 ? '-' : '';
    const kind = Math.floor(r() * 6);
    if (kind === 0) out.push(`${sign}${int(1 + Math.floor(r() * 22))}`);
    else if (kind === 1) out.push(`${sign}${int(1 + Math.floor(r() * 8))}.${digits(1 + Math.floor(r() * 20))}`);
    else if (kind === 2) out.push(`${sign}0.${'0'.repeat(Math.floor(r() * 9))}${int(1 + Math.floor(r() * 17))}`);
    else if (kind === 3) out.push(`${sign}${int(1 + Math.floor(r() * 3))}${r() < 0.5 ? `.${digits(1 + Math.floor(r() * 4))}` : ''}${r() < 0.5 ? 'e' : 'E'}${['', '+', '-'][Math.floor(r() * 3)]}${Math.floor(r() * 400)}`);
    else if (kind === 4) out.push(String(r() * 10 ** Math.floor(r() * 30 - 10) * (sign ? -1 : 1)));
    else out.push(`${sign}${int(1 + Math.floor(r() * 6))}.${digits(Math.floor(r() * 5))}0`);
  }
  return out;
}

/** A parsed value spelled out: each number's kind and text, each object's own keys in order and prototype. */
function spell(v: unknown): unknown {
  if (typeof v === 'number') return `number:${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v === 'bigint') return `bigint:${v}`;
  if (v instanceof RawNumber) return `raw:${v.text}`;
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (Array.isArray(v)) return v.map(spell);
  const o = v as Record<string, unknown>;
  return { proto: Object.getPrototypeOf(o) === Object.prototype, own: Object.keys(o).map((k) => [k, spell(o[k])]) };
}

/** Random JSON texts: nested objects and arrays with every kind of number text, strings that hold number-like text, odd keys and whitespace. */
function randomDocuments(seed: number, n: number): string[] {
  const r = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const nums = numberTexts(seed + 1, 4000).concat(REPORTED, ['0', '-0', '0.0', '1e400', '1E+2', '0.10', '12345678901234567890', '-9007199254740993',
    '9007199254740993', '9007199254740992', '1234567890123456', '1000000000000000', '0.0000001', '1e-7', '-0e0', '5e-324', '123.450']);
  const strings = ['', 'x', '1.0', ' 1.0, ', ': 1E+2]', '[-0,', 'a, 12345678901234567890}', 'q\\"1.0\\"', 'b\\\\', ', 0.10 ', 'caf\u00e9 \u2028 1e5 ', '\\n, 1.50\\t', 'v: 1.0'];
  const keys = ['a', 'id', '__proto__', '1.0', 'n', 'constructor', 'x y', ''];
  const ws = () => pick(['', '', '', ' ', '\n', '\t ', '\r\n  ']);
  const value = (depth: number): string => {
    const k = r();
    if (depth > 4 || k < 0.45) return pick(nums);
    if (k < 0.6) return `"${pick(strings)}"`;
    if (k < 0.65) return pick(['true', 'false', 'null']);
    const len = Math.floor(r() * 5);
    if (k < 0.8) return `[${ws()}${Array.from({ length: len }, () => value(depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
    return `{${ws()}${Array.from({ length: len }, () => `"${pick(keys)}"${ws()}:${ws()}${value(depth + 1)}`).join(`${ws()},${ws()}`)}${ws()}}`;
  };
  return Array.from({ length: n }, () => `${ws()}${value(0)}${ws()}`);
}

/** exactJson.parse, the previous parser (the oracle) and the reviver with context.source give the same, or all reject the text. */
function expectSameAsBefore(text: string): void {
  let old: unknown;
  try {
    old = legacyParse(text);
  } catch {
    expect(() => exactJson.parse(text), text).to.throw(SyntaxError);
    return;
  }
  const now = exactJson.parse(text);
  expect(spell(now), text).to.deep.equal(spell(old));
  expect(spell(exactJson.parseWithReviver(text)), text).to.deep.equal(spell(old));
  expect(exactJson.stringify(now), text).to.equal(exactJson.stringify(old));
}

describe('exact JSON', () => {
  it('keeps the text of every number of the field report, and 64-bit integers as BigInt', () => {
    const text = `{"a":[${REPORTED.join(',')}],"big":9223372036854775807,"neg":-9223372036854775808,"n":{"x":[1,2.5,-3]}}`;
    const v = exactJson.parse(text);
    expect(exactJson.stringify(v)).to.equal(text);
    expect(v.a.map((x: unknown) => x instanceof RawNumber)).to.deep.equal(REPORTED.map(() => true));
    expect(v.big).to.equal(9223372036854775807n);
    expect(v.neg).to.equal(-9223372036854775808n);
    expect(v.n).to.deep.equal({ x: [1, 2.5, -3] });
  });

  it('reads plain numbers as numbers, and a RawNumber still counts as its value', () => {
    const v = exactJson.parse('{"a":1,"b":2.5,"c":1e+21,"d":1.5e-7,"e":1.0,"f":1E+2}');
    expect([v.a, v.b, v.c, v.d]).to.deep.equal([1, 2.5, 1e21, 1.5e-7]);
    expect(Number(v.e)).to.equal(1);
    expect(v.f > 99 && v.f < 101).to.equal(true);
    expect(String(v.f)).to.equal('1E+2');
    expect(numberText(v.e)).to.equal('1.0');
    expect(numberText(v.c)).to.equal('1e+21');
  });

  it('writes back every number text it read, digit for digit, in any context', () => {
    const texts = numberTexts(42, 3000);
    // Alone (mostly the fast path: plain JSON.parse whenever no number could change) and in an object.
    for (const t of texts) {
      expect(exactJson.stringify(exactJson.parse(t)), t).to.equal(t);
      expect(exactJson.stringify(exactJson.parse(`{"v":${t}}`)), t).to.equal(`{"v":${t}}`);
    }
    for (let i = 0; i < texts.length; i += 7) {
      const group = texts.slice(i, i + 7);
      for (const json of [
        `[${group.join(',')}]`,
        `{"k":${group[0]},"o":{"deep":[{"x":${group[1] ?? 0}}]},"s":"${group.join(', ')} 1.0, 1e5 ","t":[${group.slice(2).join(',')}]}`,
        group[0],
      ]) {
        expect(exactJson.stringify(exactJson.parse(json)), json).to.equal(json);
        // The same values as JSON.parse's reviver with context.source gives, which sees each number's own text.
        expect(exactJson.parse(json), json).to.deep.equal(exactJson.parseWithReviver(json));
      }
      const spaced = `[ ${group.join(' ,\n\t')} ]`;
      expect(exactJson.parse(spaced), spaced).to.deep.equal(exactJson.parseWithReviver(spaced));
      expect(exactJson.stringify(exactJson.parse(spaced))).to.equal(`[${group.join(',')}]`);
    }
  });

  it('writes the same text whatever the value written before it held (stringify guesses a BigInt from the last value)', () => {
    const big = 12345678901234567891n;
    const withBig = [{ a: big }, [1, [big]], { o: { deep: [{ x: -big }] }, s: 'text' }, big, { r: new RawNumber('1.0'), b: big }];
    const without = [{ a: 1 }, [1, [2.5]], { o: { deep: [{ x: new RawNumber('1E+2') }] } }, 'x', null, { u: undefined }];
    const reference = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? JSON.rawJSON(x.toString()) : x));
    const r = prng(7);
    const all = [...withBig, ...without];
    for (let i = 0; i < 400; i++) {
      const v = all[Math.floor(r() * all.length)];
      expect(exactJson.stringify(v)).to.equal(reference(v));
    }
    expect(exactJson.stringify(undefined)).to.equal('null');
    // Whatever came before, what JSON.stringify refuses for another reason is still refused.
    const circular: Record<string, unknown> = { a: big };
    circular.self = circular;
    expect(exactJson.stringify({ a: big })).to.equal('{"a":12345678901234567891}');
    expect(() => exactJson.stringify(circular)).to.throw(TypeError, /circular/i);
    expect(exactJson.stringify({ a: 1 })).to.equal('{"a":1}');
    expect(() => exactJson.stringify(circular)).to.throw(TypeError, /circular/i);
  });

  it('reads strings as strings, also those that look like numbers or hold the marker character', () => {
    const text = '{"a":"1.0","b":" 1E+2, ","c":"\\ue000 1.0","d":"\ue0001.0","e":["-0",-0],"1.0":1.0}';
    const v = exactJson.parse(text);
    expect(v.a).to.equal('1.0');
    expect(v.b).to.equal(' 1E+2, ');
    expect(v.c).to.equal('\ue000 1.0');
    expect(v.d).to.equal('\ue0001.0');
    expect(v.e[0]).to.equal('-0');
    expect(String(v.e[1])).to.equal('-0');
    expect(String(v['1.0'])).to.equal('1.0');
    expect(exactJson.stringify(v)).to.equal('{"a":"1.0","b":" 1E+2, ","c":"\ue000 1.0","d":"\ue0001.0","e":["-0",-0],"1.0":1.0}');
  });

  it('reads every text exactly as the previous parser did (random nested documents, every kind of number text)', () => {
    for (const text of randomDocuments(7, 3000)) expectSameAsBefore(text);
    // Whole pages: many documents in one text, as a search response brings them.
    const docs = randomDocuments(8, 2000);
    for (let i = 0; i < docs.length; i += 200) expectSameAsBefore(`{"response":{"docs":[${docs.slice(i, i + 200).join(',')}]}}`);
  });

  it('reads the edge cases exactly', () => {
    const v = exactJson.parse('{"a":-0,"b":1e400,"c":1E+2,"d":0.10,"e":12345678901234567890,"f":-9007199254740993,"g":9007199254740993,"h":1234567890123456,"i":-0.0}');
    expect(spell(v)).to.deep.equal({ proto: true, own: [['a', 'raw:-0'], ['b', 'raw:1e400'], ['c', 'raw:1E+2'], ['d', 'raw:0.10'], ['e', 'bigint:12345678901234567890'],
      ['f', 'bigint:-9007199254740993'], ['g', 'bigint:9007199254740993'], ['h', 'number:1234567890123456'], ['i', 'raw:-0.0']] });
    for (const t of ['-0', '1e400', ' 1E+2 ', '0.10', '12345678901234567890', '-9007199254740993', '7', '"1.0"']) expectSameAsBefore(t);
    expect(exactJson.parse(' 12345678901234567890\n')).to.equal(12345678901234567890n);
  });

  it('reads numbers as the values of keys inside arrays, and deep nesting', () => {
    const text = '[{"a":1.0},[{"b":[1E+2,{"c":12345678901234567890}]}],{"d":{"e":[[-0]]}}]';
    expectSameAsBefore(text);
    expect(exactJson.stringify(exactJson.parse(text))).to.equal(text);
    const deep = `${'{"x":['.repeat(3000)}1.0${']}'.repeat(3000)}`;
    let v = exactJson.parse(deep);
    for (let i = 0; i < 3000; i++) v = v.x[0];
    expect(v).to.be.instanceOf(RawNumber);
    expect(String(v)).to.equal('1.0');
  });

  it('reads any whitespace around numbers', () => {
    for (const text of ['[1.0 ,\t2E+2\n,\r\n-0 ]', '{ "a" :\n 1.0\t}', '\n\t[\r\n12345678901234567890\n]\n', '{"a":[ 0.10 ],"b" : 1E+2 }']) {
      expectSameAsBefore(text);
      expect(exactJson.stringify(exactJson.parse(text))).to.equal(JSON.stringify(JSON.parse(text.replace(/(-?\d[\d.eE+-]*)/g, '"$1"'))).replace(/"(-?\d[\d.eE+-]*)"/g, '$1'));
    }
  });

  it('leaves numbers inside strings untouched, also where they look like values', () => {
    const text = '{"s":"a, 1.0, [12345678901234567890] : 1E+2","t":"x\\", 1.0,\\"","u":[", -0", "\\\\", 0.10],"v":"\\u00e9: 2.0"}';
    const v = exactJson.parse(text);
    expect(v.s).to.equal('a, 1.0, [12345678901234567890] : 1E+2');
    expect(v.t).to.equal('x", 1.0,"');
    expect(v.u[0]).to.equal(', -0');
    expect(v.u[1]).to.equal('\\');
    expect(String(v.u[2])).to.equal('0.10');
    expect(v.v).to.equal('é: 2.0');
    expectSameAsBefore(text);
  });

  it('rejects what is not JSON with JSON.parse\'s own message about the text as it came', () => {
    for (const text of ['{"a":1.0,}', '{"a":1.0', '[1.0, "x]', '{"a": 1.0 "b"}', '[1.00', '{"s":"a, 1.0', '']) {
      let expected = '';
      try {
        JSON.parse(text);
      } catch (e) {
        expected = (e as Error).message;
      }
      expect(expected, text).to.not.equal('');
      expect(() => exactJson.parse(text), text).to.throw(SyntaxError, expected);
    }
  });

  it('keeps a key named __proto__ as content', () => {
    const v = exactJson.parse('{"__proto__":1.0,"x":1}');
    expect(Object.keys(v)).to.deep.equal(['__proto__', 'x']);
    expect(exactJson.stringify(v)).to.equal('{"__proto__":1.0,"x":1}');
    for (const text of ['{"__proto__":{"a":1E+2},"b":[{"__proto__":12345678901234567890}]}', '{"s":", 1.0,","__proto__":0.10}']) {
      const w = exactJson.parse(text);
      expect(Object.getPrototypeOf(w)).to.equal(Object.prototype);
      expect(exactJson.stringify(w)).to.equal(text);
      expectSameAsBefore(text);
    }
  });

  it('finds suspect numbers after every delimiter and any whitespace, also in arrays that mix kinds', () => {
    for (const text of [
      '["a", 1.0, {"x":1}, 1E+2, [2.50], -0, "b"]',
      '{\n  "docs":[\n      {\n        "id":"a",\n        "v":[1,\n          2.0,\n          12345678901234567890],\n        "_version_":1883365083495530496}]}',
      '[[[[1.0]]],[[-0.0,[1e400]]],{"a":[{"b":[0.10]}]}]',
      '{"a" :\t1.0 ,"b":\r\n1e-400\r\n}',
      '[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,2.0]',
    ]) {
      expectSameAsBefore(text);
      expect(exactJson.stringify(exactJson.parse(text))).to.equal(JSON.stringify(JSON.parse(text.replace(/(-?\d[\d.eE+-]*)/g, '"$1"'))).replace(/"(-?\d[\d.eE+-]*)"/g, '$1'));
    }
    // More marks than one digit numbers (the marked strings carry the index of their value).
    const many = `[${Array.from({ length: 250 }, (_, i) => `${i}.0,${1883365083495530497n + 10n * BigInt(i)}`).join(',')}]`;
    const v = exactJson.parse(many);
    expect(exactJson.stringify(v)).to.equal(many);
    expect(v[499]).to.equal(1883365083495530497n + 2490n);
  });

  it('reads 64-bit integers as BigInt and 16-digit integers below 2^53 as numbers', () => {
    const v = exactJson.parse('{"a":1234567890123456,"b":9007199254740992,"c":9007199254740993,"d":-1883365083495530497,"e":12345678901234567800,"f":18833650834955305000,"g":100000000000000000000000,"h":123456789012345678}');
    expect(spell(v)).to.deep.equal({ proto: true, own: [['a', 'number:1234567890123456'], ['b', 'number:9007199254740992'], ['c', 'bigint:9007199254740993'],
      ['d', 'bigint:-1883365083495530497'], ['e', 'bigint:12345678901234567800'], ['f', 'number:18833650834955305000'], ['g', 'bigint:100000000000000000000000'],
      ['h', 'bigint:123456789012345678']] });
    expectSameAsBefore('[18833650834955305000,12345678901234567800,-123456789012345678,1234567890123456.0,0.1234567890123456789012345678901234567890]');
  });

  it('keeps exponent forms, -0, 1e400 and 40-digit decimals', () => {
    const text = '{"e":[1e5,1E5,1e+5,1E-5,2.5e3,-1e-7,1e21,1e400,-1e400],"z":[-0,-0.0,0.0,-0e0,0e-5],"d":[3.1415926535897932384626433832795028841971,0.0000001,0.000001]}';
    const v = exactJson.parse(text);
    expect(exactJson.stringify(v)).to.equal(text);
    expect(v.e[5]).to.equal(-1e-7); // JavaScript writes it the same: a plain number
    expect(String(v.e[7])).to.equal('1e400');
    expect(Object.is(Number(v.z[0]), -0)).to.equal(true);
    expect(v.d[0]).to.be.instanceOf(RawNumber);
    expect(v.d[2]).to.equal(0.000001);
    expectSameAsBefore(text);
  });

  it('leaves numbers inside strings untouched: after escaped quotes, in unicode text, beside the marker character', () => {
    const text = '{"s":"\\"a\\": 1.0, \\"b\\": [12345678901234567890]","t":"日本語: 1.0, 2E+3]","u":"caf\u00e9 1.50","v":1.0,"w":"\\u007f1","x":[0.10]}';
    const v = exactJson.parse(text);
    expect(v.s).to.equal('"a": 1.0, "b": [12345678901234567890]');
    expect(v.t).to.equal('日本語: 1.0, 2E+3]');
    expect(v.w).to.equal('\x7f1');
    expect(String(v.v)).to.equal('1.0');
    expect(exactJson.stringify(v)).to.equal('{"s":"\\"a\\": 1.0, \\"b\\": [12345678901234567890]","t":"日本語: 1.0, 2E+3]","u":"café 1.50","v":1.0,"w":"\x7f1","x":[0.10]}');
    expectSameAsBefore(text);
    for (const t of ['{"a":"\x7f0","b":1.0}', '{"a":"\\u007F0","b":[1.0]}', '["x\x7f", 12345678901234567890]', '{"日本":1.0,"k":"\u2028"}']) expectSameAsBefore(t);
  });

  it('puts 64-bit integers in place without marks only where their doubles tell them apart', () => {
    for (const text of [
      // The same integer twice, and two integers with one double: marks (which is which is not known otherwise).
      '{"a":1883365083495530497,"b":[1883365083495530497]}',
      '[9007199254740993,9007199254740992,{"c":9007199254740993}]',
      // One inside a string, the same (or the same double) outside it.
      '{"s":"x, 1883365083495530497]","v":1883365083495530497}',
      '{"s":"x, 1883365083495530498, ","v":1883365083495530497}',
      // A later duplicate key replaces the first value (JSON.parse keeps the last).
      '{"a":1883365083495530497,"a":"x","b":2883365083495530497}',
      '{"a":"x","b":1,"a":1883365083495530497}',
      // Keys JavaScript orders first, __proto__, nesting, 1e400 (Infinity as a double), negative ones.
      '{"x":1883365083495530497,"5":2883365083495530497,"__proto__":-3883365083495530497,"n":[[{"d":[1e400,-1e400,9223372036854775807]}]]}',
      // A value this large that reads back the same (a plain number) beside one that does not.
      '[18833650834955305000,18833650834955305001]',
      // Big ones mixed with a small one to change (1.0): marks for all.
      '[1883365083495530497,1.0,2883365083495530497]',
    ]) {
      expectSameAsBefore(text);
      expect(exactJson.stringify(exactJson.parse(text)), text).to.equal(exactJson.stringify(exactJson.parseWithReviver(text)));
    }
    const v = exactJson.parse('{"s":"x, 1883365083495530497]","v":1883365083495530497,"w":[-9223372036854775808]}');
    expect(v.s).to.equal('x, 1883365083495530497]');
    expect(v.v).to.equal(1883365083495530497n);
    expect(v.w[0]).to.equal(-9223372036854775808n);
  });

  it('rejects numbers with leading zeros, as JSON.parse does, also where they look suspect', () => {
    for (const text of ['[00000000000000001]', '{"a":01.0}', '{"a":-012345678901234567}', '[1,00.10]', '{"a":1.}', '[1e]', '{"a":0123}']) {
      expect(() => JSON.parse(text), text).to.throw(SyntaxError);
      expect(() => exactJson.parse(text), text).to.throw(SyntaxError);
    }
  });

  it('reads pages as Solr and Elasticsearch answer them', function () {
    this.timeout(60_000); // five 0.8 MB pages, each also by the reviver and the previous parser: a deadline, not a speed test
    for (const text of [solrPage({ suspect: true }), solrPage({ suspect: false }), solrPage({ suspect: true, prose: true }), solrIndentedPage(), esPage()]) {
      const v = exactJson.parse(text);
      expect(exactJson.stringify(v)).to.equal(exactJson.stringify(exactJson.parseWithReviver(text)));
      expect(exactJson.stringify(v)).to.equal(exactJson.stringify(legacyParse(text)));
    }
    const solr = exactJson.parse(solrIndentedPage());
    // Each 19-digit _version_ as it was (a BigInt, or a number where JavaScript writes the same digits).
    for (const d of solr.response.docs) expect(numberText(d._version_)).to.match(/^\d{19}$/);
    expect(typeof solr.response.docs[0]._version_).to.equal('bigint');
  });

  it('keeps search_after cursors exact', () => {
    const cursor = '[1.0,9223372036854775807,"x-1",1E+2,-0]';
    expect(encodeCursor(decodeCursor(cursor)!)).to.equal(cursor);
  });

  it('writes bulk bodies with the number text as read', () => {
    const fields = exactJson.parse('{"id":"a","p":1.0,"q":[1E+2,{"r":-0.0}],"big":9223372036854775807}');
    const body = bulkRequest([{ id: 'a', fields, bytes: 1 }]).body;
    expect(body.toString('utf8')).to.equal('{"create":{"_id":"a"}}\n{"id":"a","p":1.0,"q":[1E+2,{"r":-0.0}],"big":9223372036854775807}\n');
  });

  it('takes a whole number written with zero decimals as an external version', () => {
    expect(versionOf(new RawNumber('7.0'))).to.equal(7n);
    expect(versionOf(new RawNumber('7.5'))).to.equal(null);
    expect(versionOf(new RawNumber('1E+2'))).to.equal(null);
  });
});

describe('exact content for verification', () => {
  const none = new Set<string>();
  it('tells number texts apart: 1.0 is not 1, 1E+2 is not 100, -0.0 is not 0', () => {
    for (const [a, b] of [['1.0', '1'], ['1E+2', '100'], ['-0.0', '0'], ['1e-400', '0'], ['3.14159265358979323846264338327950288', '3.141592653589793'],
      ['0.10000000000000000555', '0.1'], ['1e400', '"Infinity"'], ['[1.0,2]', '[1,2]'], ['{"x":1.50}', '{"x":1.5}']]) {
      const src = exactJson.parse(`{"id":"a","v":${a}}`);
      const dst = exactJson.parse(`{"id":"a","v":${b}}`);
      expect(contentHash(src, none), `${a} vs ${b}`).to.not.equal(contentHash(dst, none));
      expect(contentHash(src, none)).to.equal(contentHash(exactJson.parse(`{"v":${a},"id":"a"}`), none));
    }
  });

  it('hashes the very text of canonicalContent, written piece by piece (long strings, escapes, surrogate pairs at piece edges)', () => {
    const sha1 = (t: string) => createHash('sha1').update(t).digest('hex');
    const long = (n: number, tail: string) => `${'a"\\\n\u0001é'.repeat(Math.ceil(n / 6)).slice(0, n)}${tail}`;
    const docs = [
      exactJson.parse('{"id":"a","n":[1.0,12345678901234567890,-0,null,true,{"z":1,"__proto__":2}],"o":{"b":"x","a":[]},"_version_":1}'),
      { id: 'b', body: long(64 * 1024 - 1, '😀 end'), more: long(200_000, '\ud83d'), lone: '\udc00x', e: {}, u: undefined, arr: [undefined, 'x'] },
      { id: 'c', body: `${'x'.repeat(64 * 1024 - 1)}😀${'y'.repeat(64 * 1024)}😀` },
    ];
    for (const d of docs) {
      expect(contentHash(d, none), String(d.id)).to.equal(sha1(canonicalContent(d, none)));
      expect(contentHash(d, new Set(['body', 'n'])), String(d.id)).to.equal(sha1(canonicalContent(d, new Set(['body', 'n']))));
    }
  });

  it('ignores key order, _version_ and the ignored fields; never a RawNumber\'s inside', () => {
    const a = exactJson.parse('{"id":"a","o":{"x":1.0,"y":[{"b":2,"a":1}]},"_version_":1883365083495530496,"seen":"t1"}');
    const b = exactJson.parse('{"seen":"t2","o":{"y":[{"a":1,"b":2}],"x":1.0},"id":"a","_version_":1}');
    expect(contentHash(a, new Set(['seen']))).to.equal(contentHash(b, new Set(['seen'])));
    expect(contentHash(a, none)).to.not.equal(contentHash(b, none));
    expect(canonicalContent(a, new Set(['seen']))).to.equal('{"id":"a","o":{"x":1.0,"y":[{"a":1,"b":2}]}}');
    // A RawNumber is a value, not an object with a "text" field.
    expect(contentHash({ v: new RawNumber('1.0') }, none)).to.not.equal(contentHash({ v: { text: '1.0' } }, none));
    expect(contentHash({ __proto__: null, p: 1 } as any, none)).to.equal(contentHash({ p: 1 }, none));
    expect(contentHash(exactJson.parse('{"__proto__":{"a":1}}'), none)).to.not.equal(contentHash(exactJson.parse('{"__proto__":{"a":2}}'), none));
  });
});

describe('copy.excludeFields on the _source as read (Elasticsearch)', () => {
  it('drops what _source.excludes would, and keeps the rest exactly', () => {
    const source = exactJson.parse('{"id":"a","copy_dest":"x","meta":{"internal":1,"keep":1.0},"list":[{"internal":2,"secret_a":1,"z":3}],'
      + '"meta.internal":5,"tmp_1":1,"tmp_2":2,"n":1E+2}');
    const out = sourceExcluder(['copy_dest', 'meta.internal', 'list.secret_*', 'tmp_*'])(source);
    expect(exactJson.stringify(out)).to.equal('{"id":"a","meta":{"keep":1.0},"list":[{"internal":2,"z":3}],"n":1E+2}');
    expect(source.copy_dest).to.equal('x');
    expect(sourceExcluder([])(source)).to.equal(source);
    expect(exactJson.stringify(sourceExcluder(['meta'])(source))).to.not.contain('meta');
  });
});
