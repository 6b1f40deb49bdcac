/**
 * A worker that claims one of N partitions and works on it while it holds the claim.
 *
 *   COORD_URL=ws://127.0.0.1:7070 node --import tsx client/examples/claim-worker.ts
 *
 * Start as many as you like: N of them work, the others wait and take over the partition of a
 * worker that stops (its claim goes with its session). `claim.lost` fires if the claim is lost
 * while working; stop then, as another worker may already have the partition.
 */
import { connect } from 'coordkit-client';

const partitions = 4;
const client = await connect({ urls: process.env.COORD_URL ?? 'ws://127.0.0.1:7070' });
try {
  const claim = await client.claimSlot('/examples/partitions', partitions, { timeoutMs: 10_000 });
  console.log(`partition ${claim.slot} of ${partitions}, token ${claim.token}`);
  for (let batch = 1; batch <= 3 && !claim.lost.aborted; batch++) {
    // The partition's real work goes here; whatever it writes to should check claim.token.
    await client.set(`/examples/progress/${claim.slot}`, `batch ${batch}, token ${claim.token}`);
    console.log(`partition ${claim.slot}: batch ${batch} done`);
  }
  await claim.release();
} finally {
  await client.close();
}
