/**
 * An SDK client in a child process, for tests that freeze a client with SIGSTOP (a GC pause, a
 * VM stall) or let its session lapse while the server and the test go on. Run it with
 * `node --import tsx test/helpers/sdk-child.ts '<json>'`, the JSON being a ChildSpec. It
 * connects, then either sets `path` as an ephemeral file or registers `dir/id`, makes one more
 * request and prints `ready`. Every line it prints is JSON: `{ev:'ready'|'state'|'registration'|
 * 'check', ...}` with the session id. On stdin, `check` makes a request and prints the answer,
 * `exit` closes the client and exits.
 */
import { createInterface } from 'node:readline';
import { connect, type Registration } from '../../client/index.ts';

export interface ChildSpec {
  url: string;
  ttlMs: number;
  /** Set this ephemeral file (mode 'set') ... */
  path?: string;
  /** ... or register `dir/id` with `info` (mode 'register'). */
  dir?: string;
  id?: string;
  info?: string;
}

export type ChildLine =
  | { ev: 'ready'; sessionId: string; rev: number }
  | { ev: 'state'; state: string; previous: string; sessionId: string | null; atMs: number }
  | { ev: 'registration'; state: string; rev: number; atMs: number }
  | { ev: 'check'; sessionId: string | null; state: string; rev: number };

const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
const say = (line: ChildLine): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const client = await connect({ urls: spec.url, sessionTtlMs: spec.ttlMs, backoffMs: [0, 20, 50, 100] });
client.onState((state, previous) => say({ ev: 'state', state, previous, sessionId: client.sessionId, atMs: Date.now() }));

let rev: number;
let registration: Registration | undefined;
if (spec.path !== undefined) {
  rev = await client.set(spec.path, 'child', { ephemeral: true });
} else {
  registration = await client.register(spec.dir!, spec.id!, spec.info ?? '');
  rev = registration.rev;
  registration.onState((s) => say({ ev: 'registration', state: s, rev: registration!.rev, atMs: Date.now() }));
}
await client.rev(); // the last request before `ready`: the test times the stall from here
say({ ev: 'ready', sessionId: client.sessionId!, rev });

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'check') {
    const head = await client.rev();
    say({ ev: 'check', sessionId: client.sessionId, state: client.state, rev: registration?.rev ?? head });
  } else if (line === 'exit') {
    await client.close();
    process.exit(0);
  }
}
