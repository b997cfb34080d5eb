import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * How much nicer than the process the worker threads that file the log in
 * the background (the audit index, the ledger tree) run. On two cores, during
 * a first start, they and the fold of the read models share the CPU with the
 * event loop that answers requests; 10 nice levels give the event loop about
 * nine times their weight whenever it wants a core, and them the rest
 * (docs/startup.md, Background threads yield to the event loop).
 */
export const BACKGROUND_NICE = 10;

/**
 * Lower the priority of the calling thread alone, once, when it starts: on
 * Linux each thread has its own nice value, and `setpriority(PRIO_PROCESS,
 * tid)` (os.setPriority) changes only the thread with that id; the thread
 * learns its id from /proc/thread-self. The main thread and the other workers keep theirs.
 * Where there is no /proc (another OS, a sandbox) or the call is refused,
 * nothing changes: this is a preference, not a requirement.
 *
 * Returns the thread id that was lowered, or undefined.
 */
export function lowerThisThreadPriority(by: number = BACKGROUND_NICE): number | undefined {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return undefined;
    // Relative to what the thread inherited (a service started under `nice` stays below its own main thread); 19 is the lowest.
    setPriority(tid, Math.min(19, getPriority(tid) + by));
    return tid;
  } catch {
    return undefined;
  }
}
