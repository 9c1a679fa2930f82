/**
 * Nested (child) documents at plan time: a block (a root with all its children) is copied as one
 * update, so both sides must hold blocks the same way. Where they cannot, plan refuses before it
 * writes anything: a copy that flattens blocks or drops children is a silent loss.
 */
import type { Backend } from '../backends/types';
import { UserError } from '../errors';

/** Null when the pair can carry the source's blocks (or it has none), else why not and what to do. */
export async function nestingProblem(source: Backend, target: Backend): Promise<{ problem: string; hint: string } | null> {
  const src = source.nesting ? await source.nesting() : null;
  if (!src || src.mode === 'flat') return null;
  const what = `${source.describe()} holds ${src.children} nested (child) document(s)`;
  if (src.orphaned > 0) {
    return {
      problem: `${what}, ${src.orphaned} of them anonymous (_childDocuments_) children in a schema with _nest_path_: Solr itself reads those as top-level documents, so they cannot be copied with their parents.`,
      hint: 'Re-index those blocks with labelled child fields (or from a schema without _nest_path_), then plan again.',
    };
  }
  const tgt = target.nesting ? await target.nesting() : null;
  if (!tgt) {
    return {
      problem: `${what}, and the target ${target.describe()} cannot hold Solr blocks.`,
      hint: 'Migrate nested Solr collections into a Solr target whose schema has the same nesting fields (_root_, and _nest_path_ where the source has it).',
    };
  }
  if (!tgt.hasRoot) {
    return {
      problem: `${what}, but the schema of the target ${target.describe()} has no _root_ field: Solr cannot index a block there.`,
      hint: 'Add <field name="_root_" type="string" indexed="true" stored="false" docValues="false"/> to the target schema (before copying), then plan again.',
    };
  }
  if (src.mode === 'labelled' && !tgt.hasNestPath) {
    return {
      problem: `${what} in labelled fields (_nest_path_), but the schema of the target ${target.describe()} has no _nest_path_: the children would lose their labels and levels.`,
      hint: 'Add the _nest_path_ field (fieldType solr.NestPathField) to the target schema, then plan again.',
    };
  }
  if (src.mode === 'anonymous' && tgt.hasNestPath) {
    return {
      problem: `${what} as anonymous (_childDocuments_) children, but the schema of the target ${target.describe()} has _nest_path_: there Solr would read every child as a top-level document.`,
      hint: 'Copy into a target collection whose schema has _root_ but no _nest_path_ (like the source), then plan again.',
    };
  }
  return null;
}

/** Throws the UserError (exit 2) that `plan` refuses with; called before anything is written. */
export async function assertNestingCarried(source: Backend, target: Backend): Promise<void> {
  const p = await nestingProblem(source, target);
  if (p) throw new UserError(`Cannot migrate the nested documents: ${p.problem}`, p.hint);
}
