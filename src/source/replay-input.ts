/**
 * The input side of `das-exporter replay <file…|->`: turns a file of saved
 * DAS records into SourceRecords, whatever tool saved them. Recognised
 * without being told, and gzipped or not:
 * - Firehose/S3 objects: envelopes back to back with no separator;
 * - newline-delimited envelopes;
 * - newline-delimited Kinesis records (`Data`/`SequenceNumber` as
 *   `aws kinesis get-records` prints them, `data`/`sequenceNumber` as the SDKs
 *   and Lambda do), and `get-records` output `{"Records":[…]}`;
 * - Lambda Kinesis events `{"Records":[{"kinesis":…}]}`.
 *
 * The file is streamed: memory stays bounded by the largest single object
 * (capped, `too_large` beyond). A value that breaks becomes one failure item
 * with its position and reading carries on with the next one. Records that do
 * not say where they came from get a stable stand-in (stream = origin, shard
 * `replay`, sequence = item index) so event ids repeat across replays.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FailureReason } from '../errors.ts';
import { ENVELOPE_TYPE } from './envelope.ts';
import { readKinesisRecord, readLambdaEntry, type FieldsResult } from './lambda-event.ts';
import type { SourceRecord } from './record.ts';

export type ReplayItem =
  | { ok: true; record: SourceRecord }
  | { ok: false; reason: FailureReason; message: string; /** e.g. `file.json: object 12 (byte 34567)` */ where: string };

export interface ReplayOptions {
  /** Largest single JSON value kept in memory (default 8 MiB; a Kinesis record is at most 1 MiB, 1.4 MB as base64). */
  maxObjectBytes?: number;
}

export const DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024;
export const SYNTHETIC_SHARD = 'replay';

export async function* readReplayInput(
  stream: NodeJS.ReadableStream,
  origin: string,
  options: ReplayOptions = {},
): AsyncGenerator<ReplayItem> {
  const splitter = new JsonValueSplitter(options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES);
  const { gzipped, chunks } = await detectGzip(stream);
  const offsets = gzipped ? 'of the decompressed data' : '';
  let index = 0;
  const toItems = function* (pieces: SplitPiece[]): Generator<ReplayItem> {
    for (const piece of pieces) yield itemOf(piece, index++, origin, offsets);
  };

  if (!gzipped) {
    for await (const chunk of chunks) yield* toItems(splitter.push(chunk));
    yield* toItems(splitter.end());
    return;
  }

  const source = Readable.from(chunks);
  const gunzip = createGunzip();
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  let broken: Error | undefined;
  try {
    for await (const chunk of gunzip) yield* toItems(splitter.push(chunk as Buffer));
  } catch (error) {
    if (!isZlibError(error)) throw error;
    broken = error;
  } finally {
    source.destroy();
  }
  yield* toItems(splitter.end());
  if (broken) {
    yield { ok: false, reason: 'not_gzip', message: `gzip data is corrupt or cut short (${broken.message})`, where: `${origin}: gzip stream` };
  }
}

/** Reads just enough to see the gzip magic (1f 8b), then hands back every byte, those included. */
async function detectGzip(stream: NodeJS.ReadableStream): Promise<{ gzipped: boolean; chunks: AsyncIterable<Buffer> }> {
  const iterator = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < 2) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = toBuffer(next.value);
    head.push(chunk);
    headBytes += chunk.length;
  }
  const first = Buffer.concat(head);
  const chunks = async function* (): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      while (!done) {
        const next = await iterator.next();
        done = next.done === true;
        if (!done) yield toBuffer(next.value as Buffer | string);
      }
    } finally {
      // A reader that stops early closes the input (a file stream releases its descriptor).
      if (!done) await iterator.return?.();
    }
  };
  return { gzipped: first[0] === 0x1f && first[1] === 0x8b, chunks: chunks() };
}

function itemOf(piece: SplitPiece, index: number, origin: string, offsets: string): ReplayItem {
  const at = `byte ${piece.start}${offsets ? ` ${offsets}` : ''}`;
  const where = `${origin}: object ${index} (${piece.label ? `${piece.label}, ` : ''}${at})`;
  if (!piece.ok) return { ok: false, reason: piece.reason, message: piece.message, where };

  let value: unknown;
  try {
    value = JSON.parse(piece.bytes.toString('utf8'));
  } catch (error) {
    // V8's message quotes the text around the fault; keep only the position.
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    return { ok: false, reason: 'invalid_json', message: `not valid JSON${position === undefined ? '' : ` (syntax error at offset ${position})`}`, where };
  }
  const read = classify(value, piece.bytes);
  if (!read.ok) return { ok: false, reason: read.reason, message: read.message, where };
  const { data, stream, shardId, sequenceNumber, approximateArrivalTimestamp } = read.fields;
  const record: SourceRecord = {
    stream: stream ?? origin,
    shardId: shardId ?? SYNTHETIC_SHARD,
    sequenceNumber: sequenceNumber ?? String(index),
    data,
  };
  if (approximateArrivalTimestamp) record.approximateArrivalTimestamp = approximateArrivalTimestamp;
  return { ok: true, record };
}

/**
 * Which of the saved shapes one value is. An envelope is passed on byte for
 * byte (it is the Kinesis data) and judged by the decoding path like any
 * live record; the other shapes carry the envelope base64-encoded.
 */
function classify(value: unknown, bytes: Buffer): FieldsResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'not_das_envelope', message: `a JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}, expected an object` };
  }
  const fields = value as Record<string, unknown>;
  if (fields.type === ENVELOPE_TYPE) return { ok: true, fields: { data: bytes } };
  if ('kinesis' in fields) return readLambdaEntry(fields);
  if ('Data' in fields || 'data' in fields) return readKinesisRecord(fields);
  if ('Records' in fields) return { ok: false, reason: 'invalid_source_record', message: '"Records" is not an array' };
  return {
    ok: false,
    reason: 'not_das_envelope',
    message: `an object that is neither a DAS envelope (type "${ENVELOPE_TYPE}"), a Kinesis record (Data) nor a Lambda event entry (kinesis)`,
  };
}

function toBuffer(chunk: Buffer | string | Uint8Array): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
}

function isZlibError(error: unknown): error is Error {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('Z_');
}

// ---------------------------------------------------------------------------
// Splitting a byte stream into JSON values.

/** One value as cut from the stream, or the bytes that could not be one. `start` is a byte offset. */
export type SplitPiece =
  | { ok: true; bytes: Buffer; start: number; label?: string }
  | { ok: false; reason: 'invalid_json' | 'too_large'; message: string; start: number; label?: string };

const SP = 0x20, TAB = 0x09, CR = 0x0d, NL = 0x0a;
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;
const RECORDS = Buffer.from('Records');

const TOP = 0; // between top-level values
const GARBAGE = 1; // after a broken top-level value: skipping to where the next may start
const VALUE = 2; // inside a value
const SKIP = 3; // after a broken element of a Records array: skipping to the next element

const E_VALUE = 0, E_VALUE_OR_END = 1, E_KEY_OR_END = 2, E_KEY = 3, E_COLON = 4, E_COMMA_OR_END = 5;

/**
 * How deep a value may nest (a Lambda event, the deepest input read here, is
 * 4 deep). The splitter remembers each open level, so an input of nothing
 * but `[[[[…` or `{"a":{"a":…` would otherwise make it hold one entry per
 * byte until memory ran out; past this depth the value is broken
 * (`invalid_json`) and read on from as any other broken value.
 */
export const MAX_INPUT_DEPTH = 256;

/**
 * Cuts top-level JSON values out of a byte stream, fed in chunks of any size.
 * It follows the grammar (strings, escapes, nesting) without building values,
 * and keeps only the bytes of the value in progress.
 *
 * A top-level array, or the `Records` array of a top-level object (Lambda
 * event, get-records output), is not kept whole: its elements come out one by
 * one, labelled `Records[i]`.
 *
 * How it finds its feet after a broken value:
 * - a `{` inside a string of the broken value is where a value cut short
 *   swallowed the next one (Firehose writes them back to back): read on from there;
 * - in newline-delimited input (the first value was one line followed by a
 *   line break) a line break ends any value;
 * - otherwise skip to the next `{` (inside `Records`, to the next `{` that
 *   follows a comma or starts a line, or to the closing `]`).
 */
export class JsonValueSplitter {
  readonly #max: number;
  readonly #out: SplitPiece[] = [];
  #pos = 0;
  #mode = TOP;

  #stack: number[] = [];
  #expect = E_VALUE;
  #inString = false;
  #escape = false;
  #isKey = false;
  #bareword = false;
  #keyMatch = -1;
  #recordsKeyPending = false;

  #capturing = false;
  #captureStart = 0;
  #captureLabel: string | undefined;
  #from = -1;
  #parts: Buffer[] = [];
  #oversize = false;
  #lastBraceInString = -1;

  #emitDepth = 0;
  #elementsOpen = false;
  #label = '';
  #element = 0;

  #tailStart = 0;
  #tailReason: 'invalid_json' | 'too_large' = 'invalid_json';
  #tailMessage = '';
  #tailLabel: string | undefined;
  #skipComma = false;
  #skipLineStart = false;

  #lineMode: boolean | undefined;
  #lineDecision = false;
  #valueHadNewline = false;

  constructor(maxValueBytes: number) {
    this.#max = maxValueBytes;
  }

  push(chunk: Buffer): SplitPiece[] {
    const end = this.#pos + chunk.length;
    let buf = chunk;
    let base = this.#pos;
    for (;;) {
      const rewind = this.#scan(buf, base);
      if (!rewind) break;
      ({ buf, base } = rewind);
    }
    this.#pos = end;
    return this.#out.splice(0);
  }

  end(): SplitPiece[] {
    const p = this.#pos;
    if (this.#mode === VALUE) {
      if (this.#capturing) {
        this.#out.push(this.#broken(this.#oversize ? 'too_large' : 'invalid_json', 'the input ends before this value closes', this.#captureStart, this.#captureLabel));
      } else {
        this.#out.push(this.#broken('invalid_json', `the input ends inside ${this.#label || 'an array'} before it closes`, p, undefined));
      }
    } else if (this.#mode === GARBAGE || this.#mode === SKIP) {
      this.#emitTail();
    }
    this.#dropCapture();
    this.#resetTop();
    return this.#out.splice(0);
  }

  /** Scans `buf` (whose first byte is at offset `base`); returns where to scan again after a rewind. */
  #scan(buf: Buffer, base: number): { buf: Buffer; base: number } | undefined {
    const n = buf.length;
    this.#from = this.#capturing ? 0 : -1;
    let i = 0;
    while (i < n) {
      const c = buf[i]!;
      if (this.#mode === TOP) {
        if (this.#lineDecision && c !== SP && c !== TAB) {
          this.#lineMode = (c === NL || c === CR) && !this.#valueHadNewline;
          this.#lineDecision = false;
        }
        if (c === SP || c === TAB || c === CR || c === NL || (base + i < 3 && c === [0xef, 0xbb, 0xbf][base + i])) {
          i++;
        } else if (c === LBRACE || c === LBRACKET) {
          this.#valueHadNewline = false;
          this.#stack = [c];
          this.#expect = c === LBRACE ? E_KEY_OR_END : E_VALUE_OR_END;
          this.#mode = VALUE;
          if (c === LBRACE) this.#beginCapture(i, base, undefined);
          else this.#openElements(1, '');
          i++;
        } else {
          this.#startTail(GARBAGE, base + i, 'invalid_json', 'not a JSON object', undefined);
          i++;
        }
        continue;
      }

      if (this.#mode === GARBAGE) {
        if (this.#lineMode ? c === NL : c === LBRACE) {
          this.#emitTail();
          this.#mode = TOP;
        } else i++;
        continue;
      }

      if (this.#mode === SKIP) {
        if (c === NL && this.#lineMode) {
          this.#emitTail();
          this.#resetTop();
        } else if (c === LBRACE && (this.#skipComma || this.#skipLineStart)) {
          this.#emitTail();
          this.#resumeElements(E_VALUE);
        } else if (c === RBRACKET) {
          this.#emitTail();
          this.#resumeElements(E_COMMA_OR_END);
        } else {
          if (c === COMMA) this.#skipComma = true;
          else if (c === NL) this.#skipLineStart = true;
          else if (c !== SP && c !== TAB && c !== CR) this.#skipComma = this.#skipLineStart = false;
          i++;
        }
        continue;
      }

      // VALUE
      if (this.#inString) {
        if (this.#escape) {
          this.#escape = false;
          if (c === NL) {
            const r = this.#fail(buf, base, i, 'a line break inside a string');
            if (typeof r === 'number') i = r;
            else return r;
            continue;
          }
          i++;
          continue;
        }
        let j = i;
        while (j < n) {
          const d = buf[j]!;
          if (d === QUOTE || d === BACKSLASH || d === NL) break;
          if (d === LBRACE) this.#lastBraceInString = base + j;
          j++;
        }
        if (this.#keyMatch >= 0) this.#matchKey(buf, i, j);
        i = j;
        if (i === n) break;
        const d = buf[i]!;
        if (d === BACKSLASH) {
          this.#escape = true;
          this.#keyMatch = -1;
          i++;
        } else if (d === NL) {
          const r = this.#fail(buf, base, i, 'a line break inside a string');
          if (typeof r === 'number') i = r;
          else return r;
        } else {
          this.#inString = false;
          i++;
          if (this.#isKey) {
            this.#isKey = false;
            this.#recordsKeyPending = this.#keyMatch === RECORDS.length;
            this.#keyMatch = -1;
            this.#expect = E_COLON;
          } else this.#valueDone(buf, base, base + i);
        }
        continue;
      }

      if (this.#bareword) {
        if (isWordByte(c)) i++;
        else {
          this.#bareword = false;
          this.#valueDone(buf, base, base + i);
        }
        continue;
      }

      if (c === SP || c === TAB || c === CR) {
        i++;
        continue;
      }
      let problem: string | undefined;
      if (c === NL) {
        if (this.#lineMode === true) problem = 'the line ends before this value closes';
        else {
          this.#valueHadNewline = true;
          i++;
          continue;
        }
      } else {
        switch (this.#expect) {
          case E_VALUE:
          case E_VALUE_OR_END:
            if (c === RBRACKET && this.#expect === E_VALUE_OR_END) {
              this.#close(buf, base, i++);
            } else if (c === LBRACKET && this.#recordsKeyPending && this.#stack.length === 1 && this.#emitDepth === 0) {
              // `{"Records":[…]}`: hand out the elements instead of keeping the whole object.
              this.#dropCapture();
              this.#stack.push(c);
              this.#expect = E_VALUE_OR_END;
              this.#recordsKeyPending = false;
              this.#openElements(2, 'Records');
              i++;
            } else if ((c === LBRACE || c === LBRACKET) && this.#stack.length >= MAX_INPUT_DEPTH) {
              problem = `a value nests deeper than ${MAX_INPUT_DEPTH} levels`;
            } else if (c === LBRACE || c === LBRACKET || c === QUOTE || isWordStart(c)) {
              this.#recordsKeyPending = false;
              if (this.#elementsOpen && this.#stack.length === this.#emitDepth) {
                this.#beginCapture(i, base, `${this.#label}[${this.#element++}]`);
              }
              if (c === LBRACE) {
                this.#stack.push(c);
                this.#expect = E_KEY_OR_END;
              } else if (c === LBRACKET) {
                this.#stack.push(c);
                this.#expect = E_VALUE_OR_END;
              } else if (c === QUOTE) {
                this.#inString = true;
                this.#isKey = false;
              } else this.#bareword = true;
              i++;
            } else problem = 'expected a value';
            break;
          case E_KEY_OR_END:
          case E_KEY:
            if (c === QUOTE) {
              this.#inString = true;
              this.#isKey = true;
              this.#keyMatch = this.#stack.length === 1 && this.#capturing && this.#emitDepth === 0 ? 0 : -1;
              i++;
            } else if (c === RBRACE && this.#expect === E_KEY_OR_END) {
              this.#close(buf, base, i++);
            } else problem = 'expected a quoted key';
            break;
          case E_COLON:
            if (c === COLON) {
              this.#expect = E_VALUE;
              i++;
            } else problem = "expected ':' after a key";
            break;
          default: {
            const top = this.#stack[this.#stack.length - 1];
            if (c === COMMA) {
              this.#expect = top === LBRACE ? E_KEY : E_VALUE;
              i++;
            } else if ((c === RBRACE && top === LBRACE) || (c === RBRACKET && top === LBRACKET)) {
              this.#close(buf, base, i++);
            } else problem = `expected ',' or '${top === LBRACE ? '}' : ']'}'`;
          }
        }
      }
      if (problem !== undefined) {
        const r = this.#fail(buf, base, i, problem);
        if (typeof r === 'number') i = r;
        else return r;
      }
    }
    if (this.#capturing && !this.#oversize) {
      if (base + n - this.#captureStart > this.#max) {
        this.#oversize = true;
        this.#parts = [];
      } else if (this.#from < n) this.#parts.push(buf.subarray(this.#from));
    }
    return undefined;
  }

  #matchKey(buf: Buffer, from: number, to: number): void {
    for (let k = from; k < to && this.#keyMatch >= 0; k++) {
      this.#keyMatch = this.#keyMatch < RECORDS.length && buf[k] === RECORDS[this.#keyMatch] ? this.#keyMatch + 1 : -1;
    }
  }

  /** The closing bracket at `i` ends a container. */
  #close(buf: Buffer, base: number, i: number): void {
    this.#stack.pop();
    const end = base + i + 1;
    if (this.#stack.length === 0) {
      if (this.#capturing) this.#emitCaptured(buf, base, end);
      this.#resetTop();
      this.#lineDecision = this.#lineMode === undefined;
      return;
    }
    if (this.#elementsOpen && this.#stack.length < this.#emitDepth) this.#elementsOpen = false;
    this.#valueDone(buf, base, end);
  }

  #valueDone(buf: Buffer, base: number, end: number): void {
    this.#expect = E_COMMA_OR_END;
    if (this.#capturing && this.#elementsOpen && this.#stack.length === this.#emitDepth) this.#emitCaptured(buf, base, end);
  }

  #beginCapture(i: number, base: number, label: string | undefined): void {
    this.#capturing = true;
    this.#captureStart = base + i;
    this.#captureLabel = label;
    this.#from = i;
    this.#parts = [];
    this.#oversize = false;
    this.#lastBraceInString = -1;
  }

  #dropCapture(): void {
    this.#capturing = false;
    this.#parts = [];
    this.#from = -1;
    this.#oversize = false;
  }

  #emitCaptured(buf: Buffer, base: number, end: number): void {
    const size = end - this.#captureStart;
    if (this.#oversize || size > this.#max) {
      this.#out.push(this.#broken('too_large', `a value of ${size} bytes, over the ${this.#max}-byte limit`, this.#captureStart, this.#captureLabel));
    } else {
      const last = buf.subarray(this.#from, end - base);
      const bytes = this.#parts.length > 0 ? Buffer.concat([...this.#parts, last]) : Buffer.from(last);
      this.#out.push(this.#captureLabel === undefined ? { ok: true, bytes, start: this.#captureStart } : { ok: true, bytes, start: this.#captureStart, label: this.#captureLabel });
    }
    this.#dropCapture();
  }

  #openElements(depth: number, label: string): void {
    this.#emitDepth = depth;
    this.#elementsOpen = true;
    this.#label = label;
    this.#element = 0;
  }

  #resumeElements(expect: number): void {
    this.#stack.length = this.#emitDepth;
    this.#expect = expect;
    this.#inString = this.#isKey = this.#bareword = this.#escape = false;
    this.#mode = VALUE;
  }

  #resetTop(): void {
    this.#mode = TOP;
    this.#stack = [];
    this.#emitDepth = 0;
    this.#elementsOpen = false;
    this.#inString = this.#isKey = this.#bareword = this.#escape = false;
    this.#recordsKeyPending = false;
    this.#keyMatch = -1;
  }

  /** The byte at `i` cannot continue the value: report it and find where to read on. */
  #fail(buf: Buffer, base: number, i: number, problem: string): number | { buf: Buffer; base: number } {
    const p = base + i;
    const inElements = this.#elementsOpen && this.#capturing;
    if (!this.#capturing) {
      // The frame around the elements (`{"Records":[…]}` or `[…]`) broke; what follows is read as top-level values.
      this.#resetTop();
      this.#startTail(GARBAGE, p, 'invalid_json', `${problem} at byte ${p}`, undefined);
      return i;
    }
    const message = `${problem} at byte ${p}`;
    // Judged by the bytes seen, not by #oversize (set only at a chunk's end), so the outcome never depends on how the input was cut.
    const oversize = p - this.#captureStart > this.#max;
    const brace = this.#lastBraceInString;
    if (brace > this.#captureStart && !oversize) {
      const seen = Buffer.concat([...this.#parts, buf.subarray(this.#from, i)]);
      const rest = Buffer.concat([seen.subarray(brace - this.#captureStart), buf.subarray(i)]);
      this.#out.push(this.#broken('invalid_json', `${message}; reading on from byte ${brace}`, this.#captureStart, this.#captureLabel));
      this.#dropCapture();
      if (inElements) this.#resumeElements(E_VALUE);
      else this.#resetTop();
      return { buf: rest, base: brace };
    }
    const reason = oversize ? 'too_large' : 'invalid_json';
    const start = this.#captureStart;
    const label = this.#captureLabel;
    this.#dropCapture();
    if (inElements) {
      this.#inString = this.#isKey = this.#bareword = this.#escape = false;
      this.#startTail(SKIP, start, reason, message, label);
      this.#skipComma = this.#skipLineStart = false;
    } else {
      this.#resetTop();
      this.#startTail(GARBAGE, start, reason, message, label);
    }
    return i;
  }

  #startTail(mode: number, start: number, reason: 'invalid_json' | 'too_large', message: string, label: string | undefined): void {
    this.#mode = mode;
    this.#tailStart = start;
    this.#tailReason = reason;
    this.#tailMessage = message;
    this.#tailLabel = label;
  }

  #emitTail(): void {
    this.#out.push(this.#broken(this.#tailReason, this.#tailMessage, this.#tailStart, this.#tailLabel));
  }

  #broken(reason: 'invalid_json' | 'too_large', message: string, start: number, label: string | undefined): SplitPiece {
    return label === undefined ? { ok: false, reason, message, start } : { ok: false, reason, message, start, label };
  }
}

function isWordStart(c: number): boolean {
  return c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;
}

function isWordByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e;
}
