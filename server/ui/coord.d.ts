/* The page imports the SDK's browser bundle, served beside it as /ui/coord.js (esbuild keeps the import). */
export * from '../../client/browser.ts';
