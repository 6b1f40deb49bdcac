/**
 * Copies of small byte strings packed side by side into shared slabs, each copy a view into its
 * slab. Used where bytes are kept well past the frame or buffer they arrived in:
 *
 * - a file's value (store.ts): kept as it came, a view into the frame or log entry it was decoded
 *   from would keep that whole buffer alive for as long as the file lives; a buffer of its own
 *   costs an ArrayBuffer, a backing store and a malloc chunk per value (≈ 300 bytes beyond the
 *   value, and the allocator's fragmentation once they are freed). The store keeps two sets of
 *   slabs, by age, so that values that die young free whole slabs;
 * - a log entry's encoded command (commands.ts): kept by the log's tail cache for a while, long
 *   enough to outlive the young generation, so each buffer of its own would die as old garbage
 *   that only a full collection frees. Entries leave the cache in order, so their slabs empty in
 *   order too.
 *
 * A slab is freed when no view into it is left. Bytes of at least `ownBufferFrom` get a buffer of
 * their own: a slab would hold few of them, and one long-lived view would keep the rest.
 */
export class ByteSlabs {
  private slab = new Uint8Array(0);
  private used = 0;
  /** This instance's slabs (a view into one of them is a copy it made). */
  private readonly slabs = new WeakSet<ArrayBufferLike>();

  constructor(private readonly slabBytes: number, private readonly ownBufferFrom: number) {}

  /** A copy of `bytes`. */
  copy(bytes: Uint8Array): Uint8Array {
    const n = bytes.byteLength;
    if (n >= this.ownBufferFrom) return new Uint8Array(bytes);
    if (this.used + n > this.slab.byteLength) {
      this.slab = new Uint8Array(this.slabBytes);
      this.slabs.add(this.slab.buffer);
      this.used = 0;
    }
    const start = this.used;
    this.slab.set(bytes, start);
    this.used += n;
    return this.slab.subarray(start, start + n);
  }

  /** True if `bytes` is a copy this instance made into one of its slabs. */
  holds(bytes: Uint8Array): boolean {
    return this.slabs.has(bytes.buffer);
  }

  /** True if a copy of `bytes` would be a buffer of its own, not a view into a slab. */
  ownsBufferFor(bytes: Uint8Array): boolean {
    return bytes.byteLength >= this.ownBufferFrom;
  }
}
