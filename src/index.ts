/** The package's API for applications: the read router, and the spec loader for tools built on bluegreen. */
export { ReadRouter } from './cutover/readRouter';
export { readSideFor, type CutoverState, type ReadSide } from './cutover/cutover';
export { loadSpec, validateSpec, type Spec } from './config/spec';
export { EXIT, UserError } from './errors';
