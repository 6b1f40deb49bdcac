export * from './errors.ts';
export * from './limits.ts';
export * from './messages.ts';
export * from './path.ts';
export * from './codec.ts';
export * from './validate.ts';
export * from './describe.ts';
