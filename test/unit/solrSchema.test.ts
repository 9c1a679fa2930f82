import { expect } from 'chai';
import { mergeMappings, translateSolrSchema, type SolrSchema } from '../../src/backends/solr/schemaMapping';

const schema: SolrSchema = {
  uniqueKey: 'id',
  fieldTypes: [
    { name: 'string', class: 'solr.StrField', docValues: true },
    { name: 'strings', class: 'solr.StrField', multiValued: true, docValues: true },
    { name: 'text_general', class: 'solr.TextField' },
    { name: 'pint', class: 'solr.IntPointField', docValues: true },
    { name: 'plong', class: 'solr.LongPointField', docValues: true },
    { name: 'pfloat', class: 'solr.FloatPointField', docValues: true },
    { name: 'pdouble', class: 'solr.DoublePointField', docValues: true },
    { name: 'tlong', class: 'solr.TrieLongField' },
    { name: 'pdate', class: 'solr.DatePointField', docValues: true },
    { name: 'boolean', class: 'solr.BoolField' },
    { name: 'location', class: 'solr.LatLonPointSpatialField' },
    { name: 'daterange', class: 'solr.DateRangeField' },
    { name: 'ignored', class: 'solr.StrField', stored: false, indexed: false, docValues: false, multiValued: true },
    { name: 'plain', class: 'solr.StrField' },
    { name: '_nest_path_', class: 'solr.NestPathField' },
  ],
  fields: [
    { name: 'id', type: 'string', stored: true },
    { name: '_version_', type: 'plong', stored: false },
    { name: '_nest_path_', type: '_nest_path_' },
    { name: 'customer', type: 'string' },
    { name: 'timestamp', type: 'pdate' },
    { name: 'title', type: 'text_general' },
    { name: 'tags', type: 'strings' },
    { name: 'n', type: 'pint' },
    { name: 'big', type: 'plong' },
    { name: 'old', type: 'tlong' },
    { name: 'ratio', type: 'pfloat' },
    { name: 'price', type: 'pdouble' },
    { name: 'flag', type: 'boolean' },
    { name: 'where', type: 'location' },
    { name: 'period', type: 'daterange' },
    { name: 'hidden', type: 'plain', stored: false },
    { name: 'all_text', type: 'text_general', stored: false },
    { name: 'weird', type: 'nosuchtype' },
  ],
  dynamicFields: [
    { name: '*_s', type: 'string' },
    { name: '*_ss', type: 'strings' },
    { name: '*_l', type: 'plong' },
    { name: 'attr_*', type: 'text_general' },
    { name: '*_dr', type: 'daterange' },
    { name: '*', type: 'ignored' },
  ],
  copyFields: [{ source: 'title', dest: 'all_text' }, { source: 'title', dest: 'title_s' }, { source: '*_s', dest: 'all_text' }],
};

describe('Solr schema → Elasticsearch mapping', () => {
  const t = translateSolrSchema(schema, { uniqueKey: 'id' });

  it('maps strings, text, numbers at their own width, dates, booleans and points', () => {
    expect(t.mappings.properties).to.deep.equal({
      all_text: { type: 'text' },
      big: { type: 'long' },
      customer: { type: 'keyword' },
      flag: { type: 'boolean' },
      id: { type: 'keyword' },
      n: { type: 'integer' },
      old: { type: 'long' },
      price: { type: 'double' },
      ratio: { type: 'float' },
      tags: { type: 'keyword' },
      timestamp: { type: 'date' },
      title: { type: 'text', copy_to: ['all_text', 'title_s'] },
      title_s: { type: 'keyword' },
      where: { type: 'geo_point' },
    });
  });

  it('turns dynamic fields into dynamic templates, longest pattern first', () => {
    expect(t.mappings.dynamic_templates!.map((d) => Object.values(d)[0])).to.deep.equal([
      { match: 'attr_*', mapping: { type: 'text' } },
      { match: '*_ss', mapping: { type: 'keyword' } },
      { match: '*_l', mapping: { type: 'long' } },
      { match: '*_s', mapping: { type: 'keyword' } },
    ]);
  });

  it('names every field it could not translate, with the reason; never Solr\'s own fields', () => {
    const names = t.untranslated.map((u) => u.field);
    expect(names).to.deep.equal(['period', 'hidden', 'weird', '*_dr', '*', '*_s → all_text']);
    expect(t.untranslated.find((u) => u.field === 'period')!.reason).to.match(/date_range/);
    expect(t.untranslated.find((u) => u.field === 'hidden')!.reason).to.match(/neither stored/);
    expect(t.untranslated.find((u) => u.field === 'weird')!.reason).to.match(/not in the schema's field types/);
    expect(names).to.not.include('_version_');
    expect(t.notes.join('\n')).to.match(/text_general/);
  });

  it('refuses a uniqueKey that would not be a keyword', () => {
    const u = translateSolrSchema({ ...schema, fields: [{ name: 'id', type: 'plong' }] }, { uniqueKey: 'id' });
    expect(u.mappings.properties).to.deep.equal({});
    expect(u.untranslated[0]).to.include({ field: 'id' });
  });

  it('lays an operator\'s mappings file over the translation (merge), or uses it alone (replace)', () => {
    const file = { mappings: { properties: { title: { type: 'keyword' }, period: { type: 'keyword' } }, dynamic: 'strict',
      dynamic_templates: [{ mine: { match: '*_x', mapping: { type: 'keyword' } } }] } };
    const m = mergeMappings(t.mappings, file, 'merge');
    expect(m.overridden).to.deep.equal(['title']);
    expect(m.mappings.properties.title).to.deep.equal({ type: 'keyword' });
    expect(m.mappings.properties.period).to.deep.equal({ type: 'keyword' });
    expect(m.mappings.properties.big).to.deep.equal({ type: 'long' });
    expect(m.mappings.dynamic).to.equal('strict');
    expect(Object.keys(m.mappings.dynamic_templates[0])).to.deep.equal(['mine']);
    expect(m.mappings.dynamic_templates).to.have.length(5);
    const r = mergeMappings(t.mappings, file, 'replace');
    expect(r.mappings).to.deep.equal(file.mappings);
  });
});
