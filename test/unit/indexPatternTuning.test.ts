import { expect } from 'chai';
import { withBulkSettings } from '../../src/backends/elasticsearch/esBackend';

describe('target.indexPattern with tuneForBulk: an index of the set created with the collection\'s bulk settings', () => {
  it('puts them in place of any the definition had (flat or nested), keeps the rest, and leaves a null to the default', () => {
    const def = { mappings: { properties: {} }, settings: { number_of_shards: 2, 'index.refresh_interval': '1s', index: { number_of_replicas: 2, codec: 'best_compression' } } };
    expect(withBulkSettings(def, { refresh_interval: '-1', number_of_replicas: '0' })).to.deep.equal({
      mappings: { properties: {} },
      settings: { number_of_shards: 2, index: { codec: 'best_compression', refresh_interval: '-1', number_of_replicas: '0' } },
    });
    expect(withBulkSettings({ mappings: {} }, { refresh_interval: null, number_of_replicas: '1' })).to.deep.equal({ mappings: {}, settings: { index: { number_of_replicas: '1' } } });
    expect(def.settings['index.refresh_interval'], 'the definition itself is not changed').to.equal('1s');
  });
});
