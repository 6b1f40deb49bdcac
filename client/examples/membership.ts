/**
 * A service registry: register this process, see who else is there, follow joins and leaves.
 *
 *   COORD_URL=ws://127.0.0.1:7070 node --import tsx client/examples/membership.ts
 *
 * The registration is ephemeral: it goes when the process stops, or when its session expires
 * (a crashed process is gone from the list within its session TTL). For the demo this instance
 * leaves right after its first look, and stops once it has seen itself leave (or after 5 s).
 */
import { connect, text } from 'coordkit-client';

const client = await connect({ urls: process.env.COORD_URL ?? 'ws://127.0.0.1:7070' });
const dir = '/examples/services/api';
const me = `api-${process.pid}`;
const registration = await client.register(dir, me, JSON.stringify({ host: '127.0.0.1', port: 8080 }));

for await (const update of client.members(dir, { signal: AbortSignal.timeout(5000) })) {
  for (const change of update.changes) {
    console.log(`${change.kind} ${change.id}${change.info ? ` ${text(change.info)}` : ''}`);
  }
  if (!update.members.has(me)) break;
  console.log(`members: ${[...update.members.keys()].join(', ')}`);
  await registration.deregister(); // a real service stays registered while it runs
}
await client.close();
