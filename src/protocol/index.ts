export * from './content-disposition.js';
export * from './envelope.js';
export * from './errors.js';
export * from './ids.js';
export * from './range.js';
export * from './types.js';
