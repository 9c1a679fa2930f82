/** The package's transform API (defined in config/transformModule.ts: validating the spec loads the module). */
export { TRANSFORM_BRAND, defineTransform, transformProblem, type Doc, type Transform, type TransformContext, type TransformDefinition, type TransformOutput } from '../config/transformModule';
