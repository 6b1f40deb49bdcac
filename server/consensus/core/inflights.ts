/**
 * The flow-control window towards one follower: the append messages sent and not yet
 * acknowledged, oldest first, each remembered by the last index it carried and its bytes.
 * The window is full at `maxMessages` messages or `maxBytes` bytes; an acknowledgement
 * through index i frees every message that ended at or before i.
 */
import { assert } from '../../assert.ts';

export class Inflights {
  private readonly queue: { index: number; bytes: number }[] = [];
  private bytes = 0;

  constructor(readonly maxMessages: number, readonly maxBytes: number) {
    assert(maxMessages >= 1, 'the window must hold at least one message');
  }

  get count(): number {
    return this.queue.length;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.queue.length >= this.maxMessages || this.bytes >= this.maxBytes;
  }

  /** A message ending at `index` was sent. Indexes rise from one message to the next. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'sent into a full window');
    const last = this.queue[this.queue.length - 1];
    assert(last === undefined || index > last.index, `inflight ${index} after ${last?.index}`);
    this.queue.push({ index, bytes });
    this.bytes += bytes;
  }

  /** The follower acknowledged everything through `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.index <= index) this.bytes -= this.queue[n++]!.bytes;
    this.queue.splice(0, n);
  }

  /**
   * Frees the oldest message: the follower answered a heartbeat, so it is alive, and a window
   * kept full by lost appends must not stall replication forever.
   */
  freeFirst(): void {
    const first = this.queue.shift();
    if (first !== undefined) this.bytes -= first.bytes;
  }

  reset(): void {
    this.queue.length = 0;
    this.bytes = 0;
  }
}
