/**
 * The failure policy of a slice, free of I/O: when an attempt counts as failed, when a slice that
 * keeps killing its workers is given up, when a page's rejections mean a broken target rather than
 * poison documents. The copier asks; the work node remembers (failures, stalls, rejections).
 */
import type { Spec } from '../config/spec';
import type { Rejection, WorkNode } from '../coordination/workNode';

/**
 * Claims that ended with neither progress nor a recorded failure (the worker died on the slice: out
 * of memory on a huge page, say). Past twice maxAttempts the slice is failed with this reason.
 */
export function stalledTooOften(node: WorkNode, spec: Spec): string | null {
  const stalls = (node.stalls ?? 0) - node.failures;
  if (stalls <= spec.worker.maxAttempts * 2) return null;
  return `claimed ${stalls} times without progress: do workers crash on it (out of memory on a large page?); lower batch.docs / batch.bytes, then release --retry`;
}

/** The work node after a failed attempt: failed for good at maxAttempts, else left to be tried again. */
export function afterFailure(node: WorkNode, message: string, spec: Spec): WorkNode {
  const failures = node.failures + 1;
  return { ...node, failures, lastError: message, owner: null, status: failures >= spec.worker.maxAttempts ? 'failed' : node.status };
}

/**
 * Not poison documents but a target that refuses everything (schema or mapping mismatch): the
 * attempt fails instead of "finishing" the slice with nothing copied. Null when the page is fine.
 */
export function refusesEverything(pageSize: number, rejected: Rejection[]): string | null {
  if (pageSize < 10 || rejected.length !== pageSize) return null;
  return `the target rejected every document of a page (${rejected[0].reason}); check the target's schema/mapping`;
}

/** Rejections kept in the work node: the first `keep` (the counts are always exact). */
export function keptRejections(before: Rejection[], now: Rejection[], keep: number): Rejection[] {
  return [...before, ...now].slice(0, keep);
}
