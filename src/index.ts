/** The package's API for applications (the read router comes with cutover). */
export { loadSpec, validateSpec, type Spec } from './config/spec';
export { EXIT, UserError } from './errors';
