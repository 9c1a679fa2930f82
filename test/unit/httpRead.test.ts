/** Reading an answer into one buffer (http.ts readText, issue 15): exact text, bounded, whatever the chunks. */
import { expect } from 'chai';
import { Readable } from 'node:stream';
import { ResponseTooLargeError, readText } from '../../src/backends/http';

/** An answer arriving in these chunks (a stream, as undici's request gives it), with a content-length if given. */
function answer(chunks: Buffer[], contentLength?: number): [AsyncIterable<Uint8Array>, string | undefined] {
  return [Readable.from(chunks.map((x) => Buffer.from(x))), contentLength === undefined ? undefined : String(contentLength)];
}

/** The bytes of text cut into pieces of n bytes (a multi-byte character may be cut in two). */
function cut(text: string, n: number): Buffer[] {
  const all = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += n) out.push(all.subarray(i, i + n));
  return out;
}

const TEXT = `{"docs":[${Array.from({ length: 3000 }, (_, i) => `{"id":"d${i}","t":"é€𝄞 ${i}","n":1.0}`).join(',')}]}`;

describe('readText (one buffer per answer)', () => {
  it('gives the exact text across chunks that cut characters, with no limit and no content-length (the buffer grows)', async () => {
    expect(await readText(...answer(cut(TEXT, 7777)), undefined, 'GET x')).to.equal(TEXT);
  });

  it('gives the exact text within a limit, and with a content-length', async () => {
    const bytes = Buffer.byteLength(TEXT);
    expect(await readText(...answer(cut(TEXT, 65536)), bytes, 'GET x')).to.equal(TEXT);
    expect(await readText(...answer(cut(TEXT, 1000), bytes), undefined, 'GET x')).to.equal(TEXT);
    expect(await readText(...answer([]), 10, 'GET x')).to.equal('');
  });

  it('stops at the limit: by the content-length before reading, or by the bytes read', async () => {
    const bytes = Buffer.byteLength(TEXT);
    const byLength = await readText(...answer(cut(TEXT, 1000), bytes), bytes - 1, 'GET x').catch((e) => e);
    expect(byLength).to.be.instanceOf(ResponseTooLargeError);
    expect(byLength.bytes).to.equal(bytes); // the declared length: nothing was read
    const byBytes = await readText(...answer(cut(TEXT, 1000)), bytes - 1, 'GET x').catch((e) => e);
    expect(byBytes).to.be.instanceOf(ResponseTooLargeError);
    expect(byBytes.bytes).to.be.greaterThan(bytes - 1).and.at.most(bytes);
  });
});
