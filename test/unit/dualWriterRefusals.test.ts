/**
 * DualWriter.open refuses the migrations it cannot dual-write faithfully — one with a transform (the
 * new cluster would get the application's documents untransformed) and one in place (one collection)
 * — before it opens anything: the spec's ZooKeeper address here answers nothing, so an attempt to
 * connect would fail differently (a connection error after its timeout, not a UserError).
 */
import { expect } from 'chai';
import { join, resolve } from 'node:path';
import { loadSpec, type Spec } from '../../src/config/spec';
import { DualWriter } from '../../src/dualwrite/dualWriter';
import { UserError } from '../../src/errors';

const EXAMPLES = resolve(__dirname, '../../../examples/transforms');
const unreachable = (spec: Spec): Spec => ({ ...spec, zookeeper: { ...spec.zookeeper, connect: '127.0.0.1:1', connectTimeout: 60_000 } });

async function refusal(spec: Spec): Promise<UserError> {
  try {
    const w = await DualWriter.open(unreachable(spec));
    await w.close();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('DualWriter.open accepted the spec');
}

describe('DualWriter refuses what it cannot dual-write', () => {
  it('a migration with a transform: says why and what to do, opens nothing', async () => {
    const e = await refusal(loadSpec(join(EXAMPLES, 'rename-drop-copy.yaml'), {}, {}));
    expect(e.message).to.match(/has a transform .*rename-drop\.ts.*untransformed/);
    expect(e.hint).to.match(/Write the new model to the new cluster from the application/);
  });

  it('a migration in place: one collection, nothing to dual-write', async () => {
    const e = await refusal(loadSpec(join(EXAMPLES, 'rfc822-in-place.yaml'), {}, {}));
    expect(e.message).to.match(/runs in place/);
  });
});
