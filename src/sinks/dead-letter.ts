/**
 * Records and events that can never be delivered are set aside here, with
 * their reason and position, so nothing is silently dropped. A dead letter
 * holds the record's original bytes (still encrypted: the data key never
 * leaves memory) or, for an event a backend refused, the event itself.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface DeadLetter {
  /** Closed set, used as a metric label: a FailureReason or `rejected_by_backend`. */
  reason: string;
  /** One line, safe to log: never key material. */
  message: string;
  stream: string;
  shardId: string;
  sequenceNumber: string;
  /** Set for an event refused by a backend. */
  eventId?: string;
  /** Base64 of the Kinesis record data, for a record that could not be opened. */
  data?: string;
  /** The event as JSON, for an event refused by a backend. */
  event?: unknown;
  at: string;
}

export interface DeadLetterSink {
  put(letter: DeadLetter): Promise<void>;
  close(): Promise<void>;
}

/** The dead-letter file inside a state directory. */
export function deadLetterFileIn(stateDir: string): string {
  return path.join(stateDir, 'dead-letters.jsonl');
}

/** Appends one JSON line per dead letter to a file (created with its directory if missing). */
export class FileDeadLetterSink implements DeadLetterSink {
  readonly file: string;
  #ready: Promise<unknown> | undefined;

  constructor(file: string) {
    this.file = file;
  }

  async put(letter: DeadLetter): Promise<void> {
    this.#ready ??= mkdir(path.dirname(this.file), { recursive: true });
    await this.#ready;
    await appendFile(this.file, JSON.stringify(letter) + '\n');
  }

  async close(): Promise<void> {}
}

export class MemoryDeadLetterSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];

  async put(letter: DeadLetter): Promise<void> {
    this.letters.push(letter);
  }

  async close(): Promise<void> {}
}
