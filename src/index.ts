/** The package's API for applications: the read router, the dual writer, and the spec loader for tools built on bluegreen. */
export { ReadRouter } from './cutover/readRouter';
export { DualWriter, DualWriteError, type DualWriterOptions, type DualWriteResult, type WriteOptions, type DeleteOptions } from './dualwrite/dualWriter';
export { registry as metricsRegistry } from './metrics';
export { readSideFor, type CutoverState, type ReadSide } from './cutover/cutover';
export { loadSpec, validateSpec, type Spec } from './config/spec';
export { EXIT, UserError } from './errors';
export { defineTransform, type Transform, type TransformContext, type TransformDefinition, type TransformOutput } from './transform/define';
export type { Doc } from './backends/types';
export { RawNumber } from './backends/exactJson';
