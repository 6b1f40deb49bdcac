/**
 * How the checker watches the Raft cores without touching production code: a wrapper around
 * RaftCore.prototype.ready that shows every Ready to the current observer as it is handed out.
 * Installed for the length of one simulation and removed after, so runs (and mutations, which
 * patch prototypes the same way) do not leak into each other.
 */
import { RaftCore } from '../../server/consensus/core/core.ts';
import type { Ready } from '../../server/consensus/core/ready.ts';

export type ReadyObserver = (core: RaftCore, rd: Ready) => void;

/** Shows every Ready to `observe` until the returned function is called. */
export function observeCores(observe: ReadyObserver): () => void {
  const proto = RaftCore.prototype;
  const original = Object.getOwnPropertyDescriptor(proto, 'ready')!;
  const ready = proto.ready;
  proto.ready = function (this: RaftCore): Ready {
    const rd = ready.call(this);
    observe(this, rd);
    return rd;
  };
  return () => {
    Object.defineProperty(proto, 'ready', original);
  };
}

/**
 * Replaces `name` on `proto` by `make(original)` until the returned function is called. For
 * private methods too (TypeScript's `private` is not enforced at run time).
 */
export function patchMethod<T extends object>(
  proto: T,
  name: string,
  make: (original: (...args: never[]) => unknown) => (this: never, ...args: never[]) => unknown,
): () => void {
  const descriptor = Object.getOwnPropertyDescriptor(proto, name);
  if (descriptor === undefined || typeof descriptor.value !== 'function') {
    throw new Error(`no method ${name} to patch on ${(proto as { constructor?: { name?: string } }).constructor?.name ?? 'prototype'}`);
  }
  Object.defineProperty(proto, name, { ...descriptor, value: make(descriptor.value as (...args: never[]) => unknown) });
  return () => {
    Object.defineProperty(proto, name, descriptor);
  };
}

/** Replaces `name` on `proto` by `result`, which ignores its arguments (see patchMethod). */
export function stubMethod<T extends object>(proto: T, name: string, result: () => unknown): () => void {
  return patchMethod(proto, name, () => result);
}
