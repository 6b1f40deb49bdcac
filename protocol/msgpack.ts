/**
 * The one msgpack configuration, for everything coord encodes: protocol messages (codec.ts), the
 * messages between servers, the commands in log entries, storage records and snapshots. Plain
 * msgpack (no msgpackr records, structures or extensions), so that a client or a tool in any
 * language can read any of it; binary values as `bin`; integers beyond 2^53 decoded as numbers
 * (none is valid anywhere: validation refuses what is not a safe integer); no bundled strings.
 *
 * One instance serves every caller: with records off a Packr keeps no state between calls (the
 * buffer msgpackr packs into is shared by the whole process whatever the instance).
 */
import { Packr } from 'msgpackr';

export const msgpack = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  moreTypes: false,
  bundleStrings: false,
});
