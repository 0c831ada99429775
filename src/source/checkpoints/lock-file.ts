/**
 * The lock file that makes one process the owner of a stream's checkpoint
 * file, in a state directory that may be a volume shared by several hosts.
 *
 * The holder writes its pid, host, a random token and a heartbeat (a counter
 * and a timestamp) into the lock, and the checkpoint store rewrites the
 * heartbeat every third of the timeout. Another process decides the holder
 * is gone:
 * - on the same host, at once, when the holder's pid is dead (a live pid is
 *   refused at once);
 * - from any host, once it has watched the lock not change for the timeout
 *   on its own clock. No clocks are compared across hosts (as with the
 *   DynamoDB leases); a heartbeat seen to move proves the holder alive.
 *
 * Taking over cannot let two takers both win: the taker renames the lock it
 * judged stale to a name of its own (of several renames of one file, one
 * succeeds), checks that what it moved is what it judged (otherwise it was a
 * heartbeat that just landed, or another taker's new lock, and it puts it
 * back), and then creates its own lock with an exclusive create, which
 * exactly one process wins. The holder checks that the lock still carries
 * its token before each heartbeat and each checkpoint write: one that was
 * only paused finds another token there and stops as "lease lost".
 */
import * as fsp from 'node:fs/promises';

export interface LockHolder {
  pid: number;
  hostname: string;
  token: string;
  startedAt: string;
  /** Heartbeats written so far (absent in locks of earlier versions): with the token, what a watcher sees move. */
  heartbeat?: number;
  heartbeatAt?: string;
}

export interface StreamLockOptions {
  file: string;
  token: string;
  hostname: string;
  pid: number;
  /** A lock that did not change for this long, as watched on this process's clock, is stale. */
  timeoutMs: number;
  /** A monotonic clock in ms. */
  now: () => number;
  /** Whether a process with this pid exists on this host. */
  isAlive: (pid: number) => boolean;
}

/** What an attempt to take the lock found. */
export type LockAttempt =
  | { status: 'acquired'; from: LockHolder | undefined }
  /** `live`: proven alive (its pid, or its heartbeat moved); otherwise watched, and not stale yet. */
  | { status: 'held'; holder: LockHolder; live: boolean };

/** Whether the lock is still this process's, and if not, what is there now (undefined: nothing). */
export type LockCheck = { mine: true } | { mine: false; holder: LockHolder | undefined };

export class StreamLock {
  readonly file: string;
  readonly #o: StreamLockOptions;
  /** The content this process last wrote into the lock. */
  #mine: LockHolder | undefined;
  /** The other holder's lock as last seen, and since when (this clock) it has not changed. */
  #watched: { key: string; since: number } | undefined;

  constructor(options: StreamLockOptions) {
    this.#o = options;
    this.file = options.file;
  }

  /** Takes the lock if it is free, this process's already, or stale; never waits. */
  async tryAcquire(): Promise<LockAttempt> {
    let from: LockHolder | undefined;
    let holder: LockHolder | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.#create()) return { status: 'acquired', from };
      holder = await readLock(this.file);
      if (!holder) continue;
      // Ours already: a heartbeat found it missing while a taker had it moved aside, and the taker put it back.
      if (holder.token === this.#o.token) {
        this.#mine = holder;
        return { status: 'acquired', from: undefined };
      }
      const verdict = this.#judge(holder);
      if (verdict !== 'stale') return { status: 'held', holder, live: verdict === 'live' };
      if (!(await this.#moveAside(holder))) return { status: 'held', holder, live: true };
      from = holder;
    }
    return { status: 'held', holder: holder ?? placeholder(), live: true };
  }

  /** Rewrites the heartbeat, unless the lock is no longer this process's. */
  async renew(): Promise<LockCheck> {
    if (!this.#mine) return { mine: false, holder: await readLock(this.file) };
    const next: LockHolder = { ...this.#mine, heartbeat: (this.#mine.heartbeat ?? 0) + 1, heartbeatAt: new Date().toISOString() };
    const temp = `${this.file}.${this.#o.token}.tmp`;
    await writeSynced(temp, next, 'w');
    const check = await this.check();
    // Nothing of this process runs between the check and the rename, so only a pause of the whole process separates them.
    if (!check.mine) {
      await fsp.rm(temp, { force: true });
      return check;
    }
    await fsp.rename(temp, this.file);
    this.#mine = next;
    return check;
  }

  /** Whether the lock on disk still carries this process's token. */
  async check(): Promise<LockCheck> {
    const holder = await readLock(this.file);
    if (this.#mine && holder?.token === this.#o.token) return { mine: true };
    return { mine: false, holder };
  }

  /** Removes the lock if it is still this process's, and what this process left beside it. */
  async release(): Promise<void> {
    const holder = await readLock(this.file);
    if (this.#mine && holder?.token === this.#o.token) await fsp.rm(this.file, { force: true });
    this.#mine = undefined;
    await fsp.rm(`${this.file}.${this.#o.token}.tmp`, { force: true });
  }

  /** Exclusive create: of every process trying at once, exactly one succeeds. */
  async #create(): Promise<boolean> {
    const at = new Date().toISOString();
    const mine: LockHolder = { pid: this.#o.pid, hostname: this.#o.hostname, token: this.#o.token, startedAt: at, heartbeat: 0, heartbeatAt: at };
    try {
      await writeSynced(this.file, mine, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    this.#mine = mine;
    this.#watched = undefined;
    return true;
  }

  #judge(holder: LockHolder): 'live' | 'stale' | 'watching' {
    if (holder.hostname === this.#o.hostname && holder.pid > 0) {
      if (holder.pid !== this.#o.pid) return this.#o.isAlive(holder.pid) ? 'live' : 'stale';
      // Same pid: this very process (refuse), or an earlier incarnation that had our pid, as PID 1 in a container does.
      const thisProcessStarted = Date.now() - process.uptime() * 1000;
      return Date.parse(holder.startedAt) < thisProcessStarted ? 'stale' : 'live';
    }
    const key = keyOf(holder);
    const now = this.#o.now();
    if (this.#watched?.key !== key) {
      const moved = this.#watched !== undefined;
      this.#watched = { key, since: now };
      return moved ? 'live' : 'watching';
    }
    return now - this.#watched.since >= this.#o.timeoutMs ? 'stale' : 'watching';
  }

  /** Moves the stale lock out of the way; false when what it moved was not the lock judged stale (then put back). */
  async #moveAside(stale: LockHolder): Promise<boolean> {
    const aside = `${this.file}.${this.#o.token}.stale`;
    try {
      await fsp.rename(this.file, aside);
    } catch (error) {
      // Gone already: released, or another taker moved it; the exclusive create decides.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw error;
    }
    const moved = await readLock(aside);
    if (moved && keyOf(moved) === keyOf(stale)) {
      await fsp.rm(aside, { force: true });
      return true;
    }
    this.#watched = undefined;
    try {
      // link, not rename: it must not replace a lock someone created meanwhile (whose holder then keeps it).
      await fsp.link(aside, this.file);
    } catch (error) {
      // EEXIST: the holder just moved aside has lost the lock, and notices at its next heartbeat or write.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await fsp.rm(aside, { force: true });
    }
    return false;
  }
}

/** The lock's content, or undefined when there is none; a lock cut short by a crash reads as pid 0 keyed by its size and time. */
export async function readLock(file: string): Promise<LockHolder | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as LockHolder;
    if (typeof parsed.token === 'string' && typeof parsed.hostname === 'string') return parsed;
  } catch {
    // Unreadable: being written this instant (its next reading differs), or cut short by a crash (it never changes).
  }
  const stat = await fsp.stat(file).catch(() => undefined);
  return { pid: 0, hostname: '', token: `unreadable:${stat?.size ?? 0}:${stat?.mtimeMs ?? 0}`, startedAt: new Date(stat?.mtimeMs ?? 0).toISOString() };
}

/** What a watcher compares: it changes with every heartbeat and with every new holder. */
function keyOf(holder: LockHolder): string {
  return `${holder.token}#${holder.heartbeat ?? ''}#${holder.heartbeatAt ?? ''}`;
}

function placeholder(): LockHolder {
  return { pid: 0, hostname: 'unknown', token: '', startedAt: new Date(0).toISOString() };
}

async function writeSynced(file: string, holder: LockHolder, flags: 'w' | 'wx'): Promise<void> {
  const handle = await fsp.open(file, flags);
  try {
    await handle.writeFile(JSON.stringify(holder) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
