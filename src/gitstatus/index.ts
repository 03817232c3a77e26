export { setAnnotations, readAnnotations, locateObject } from './annotate.js';
export type { ObjectLocation } from './annotate.js';
