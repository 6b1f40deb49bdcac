#!/usr/bin/env node
// The `coord` command. The sources are TypeScript; tsx compiles them as they load.
import { register } from 'tsx/esm/api';

register();
await import('../client/cli/main.ts');
