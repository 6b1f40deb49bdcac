/**
 * The native modules coord depends on load from the prebuilt binaries shipped inside their npm
 * packages (npm 11 may skip install scripts, so nothing may rely on a build step): LevelDB
 * through classic-level, and msgpackr's native decoder on the platforms it ships for.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isNativeAccelerationEnabled } from 'msgpackr';

const require = createRequire(import.meta.url);

describe('native modules', () => {
  it('loads classic-level\'s LevelDB binding', () => {
    const binding = require('classic-level/binding.js');
    expect(typeof binding.db_init).toBe('function');
  });

  it('enables msgpackr\'s native acceleration where a prebuilt package exists', () => {
    const platform = `${process.platform}-${process.arch}`;
    const shipped = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'];
    if (shipped.includes(platform)) expect(isNativeAccelerationEnabled).toBe(true);
  });
});
