/**
 * Coalescing writes: frames sent to one WebSocket during one turn of the event loop go out in
 * one write to the socket (one syscall) instead of one each. Corks the socket under the ws
 * connection on the first send of a turn and uncorks it when the turn's synchronous work is done.
 * ws keeps the underlying net.Socket as `_socket`; without one (not yet open), sends go as they are.
 */
interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

export function corkForThisTurn(ws: unknown): void {
  const socket = (ws as { _socket?: Corkable | null })._socket;
  if (socket == null || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
