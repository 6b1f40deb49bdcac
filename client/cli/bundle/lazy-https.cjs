'use strict';
// In the CLI bundle, node:https is loaded on first use: a plain ws:// command never needs it, and
// loading it costs a few milliseconds of every `coord` call (see package.json build:cli).
let loaded;
const load = () => (loaded ??= require('node:https'));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => Object.getOwnPropertyDescriptor(load(), key),
});
