/**
 * Documents deleted live after the worker read them. The create-only write cannot tell a document
 * deleted a moment ago from one never written, so it brings it back (DESIGN "Deletes"); verification
 * would find it and repair remove it, but an operator should not meet it at all. After the writes of a
 * group of pages (those checkpointed together: sliceCopier.ts) the worker asks the source which of their
 * ids still exist (real-time, ids only: one light request for thousands of ids) and, for each one the source no longer holds, removes the target's copy — only if
 * the target holds exactly the content this worker wrote, and still at the version it just read (a
 * conditional delete), so a live write on the target (a re-create, an update) is never touched.
 *
 * Why this closes the window: the dual writer deletes on the read side (the source, before any
 * cutover) first, then on the target. A delete that reaches the source before this look is seen here;
 * one that reaches it after is still to come on the target too, and removes the copy itself.
 */
import type { Backend, SourceDoc } from '../backends/types';
import { contentHash } from '../backends/content';

export interface LiveDeletes {
  /** Ids removed from the target again: the source deleted them after the page was read. */
  removed: string[];
}

export async function undoLiveDeletes(source: Backend, target: Backend, read: SourceDoc[], written: SourceDoc[],
  ignore: ReadonlySet<string>, signal?: AbortSignal): Promise<LiveDeletes> {
  if (read.length === 0 || written.length === 0) return { removed: [] };
  const present = await source.presentIds(read, signal);
  const gone = new Set(read.filter((d) => !present.has(d.id)).map((d) => d.id));
  if (gone.size === 0) return { removed: [] };
  // A transform keeps a document's id unless it fans out; outputs of another id are verification's.
  const ours = written.filter((d) => gone.has(d.id));
  if (ours.length === 0) return { removed: [] };
  const now = await target.getByIds(ours.map((d) => d.id));
  const removed: string[] = [];
  for (const d of ours) {
    signal?.throwIfAborted();
    const t = now.get(d.id);
    // Gone from the target too (the live delete got there after the write), or someone else's content.
    if (!t || contentHash(t.doc.fields, ignore) !== contentHash(d.fields, ignore)) continue;
    const r = await target.deleteIfUnchanged(d.id, t.version, d.routing);
    if (r === 'applied') removed.push(d.id);
  }
  return { removed };
}
