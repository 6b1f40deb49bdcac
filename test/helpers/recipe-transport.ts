/**
 * A real WebSocket transport with a tap, for tests that must catch a request in flight: `hold`
 * picks requests whose answers are kept back (the server has received and applied them; the
 * client has not heard) — or, with 'and-after', that answer and every frame after it on the same
 * connection, as when a connection dies. `release()` delivers what was kept back, and `cut()`
 * drops the connections so the client reconnects and re-sends whatever is unanswered.
 */
import { decode } from '../../protocol/codec.ts';
import { webSocketTransport, type Link, type Transport } from '../../client/transport.ts';

export interface Tap {
  transport: Transport;
  /** Answers held back so far, not yet released. */
  readonly held: number;
  release(): void;
  cut(): void;
}

/** `hold(request)` is asked once per request sent; true keeps its answer back. */
export function tappedTransport(hold: (request: Record<string, unknown>) => boolean | 'and-after'): Tap {
  const links = new Set<Link>();
  const heldIds = new Map<number, boolean | 'and-after'>();
  const deaf = new Set<Link>();
  let held: { link: Link; frame: Uint8Array; deliver: (f: Uint8Array) => void }[] = [];
  const transport: Transport = async (url, timeoutMs) => {
    const inner = await webSocketTransport(url, timeoutMs);
    const outer: Link = {
      send: (frame) => {
        const msg = decode(frame) as Record<string, unknown>;
        const how = typeof msg.id === 'number' ? hold(msg) : false;
        if (how !== false) heldIds.set(msg.id as number, how);
        inner.send(frame);
      },
      close: (code, reason) => inner.close(code, reason),
      onFrame: () => {},
      onClose: () => {},
    };
    inner.onFrame = (frame) => {
      const msg = decode(frame) as Record<string, unknown>;
      const how = typeof msg.id === 'number' ? heldIds.get(msg.id) : undefined;
      if (how === 'and-after') deaf.add(outer);
      if (how !== undefined || deaf.has(outer)) {
        heldIds.delete(msg.id as number);
        held.push({ link: outer, frame, deliver: (f) => outer.onFrame(f) });
      } else {
        outer.onFrame(frame);
      }
    };
    inner.onClose = (code, reason) => {
      links.delete(outer);
      outer.onClose(code, reason);
    };
    links.add(outer);
    return outer;
  };
  return {
    transport,
    get held() {
      return held.length;
    },
    release() {
      const now = held;
      held = [];
      deaf.clear();
      for (const h of now) if (links.has(h.link)) h.deliver(h.frame);
    },
    cut() {
      for (const l of [...links]) l.close(4000, 'cut by test');
    },
  };
}
