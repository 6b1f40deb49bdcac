/**
 * Telling a full disk from every other storage failure. A full disk (ENOSPC, or a quota: EDQUOT)
 * is an operating condition the server rides out (writes refused with NOSPACE until space is
 * back); anything else that fails in storage (EIO, corruption, a bug) stays fatal.
 *
 * Node's fs errors carry `code: 'ENOSPC'`. LevelDB (through classic-level) reports the same
 * condition as `code: 'LEVEL_IO_ERROR'` with the OS message in the text ("IO error:
 * /data/000028.log: No space left on device"), and a failed open wraps that as the `cause` of a
 * LEVEL_DATABASE_NOT_OPEN error: so the codes and the messages of the whole cause chain are read.
 */

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);
const NO_SPACE_TEXT = /No space left on device|Disk quota exceeded/i;

/** True if `err`, or any error in its `cause` chain, says the disk (or a quota) is full. */
export function isNoSpaceError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 8; depth++) {
    if (typeof e !== 'object') return typeof e === 'string' && NO_SPACE_TEXT.test(e);
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true;
    if (typeof message === 'string' && NO_SPACE_TEXT.test(message)) return true;
    e = cause;
  }
  return false;
}
