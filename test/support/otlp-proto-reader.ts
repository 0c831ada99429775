/**
 * A small protobuf reader for the OTLP messages the test receivers decode
 * (loki-receiver.ts, trace-receiver.ts), written from the
 * opentelemetry-proto definitions, apart from das-exporter's own encoder:
 * @opentelemetry/otlp-transformer ships no generated decoder and protobufjs
 * is not installed.
 */

/** Decoded OTLP common values (common/v1/common.proto), close to the proto. */
export type AnyValue =
  | { string: string }
  | { bool: boolean }
  | { int: bigint }
  | { double: number }
  | { bytes: Uint8Array }
  | { array: AnyValue[] }
  | { kvlist: KeyValue[] }
  | { empty: true };
export interface KeyValue { key: string; value: AnyValue }

export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}
  done(): boolean {
    return this.pos >= this.end;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('proto: truncated varint');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('proto: varint too long');
    }
  }
  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new Error('proto: truncated fixed64');
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readBigUInt64LE();
    this.pos += 8;
    return v;
  }
  fixed32(): number {
    if (this.pos + 4 > this.end) throw new Error('proto: truncated fixed32');
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 4).readUInt32LE();
    this.pos += 4;
    return v;
  }
  double(): number {
    if (this.pos + 8 > this.end) throw new Error('proto: truncated double');
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE();
    this.pos += 8;
    return v;
  }
  bytes(): Uint8Array {
    const length = Number(this.varint());
    if (this.pos + length > this.end) throw new Error('proto: truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
  string(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes());
  }
  sub(): Reader {
    const b = this.bytes();
    return new Reader(b);
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`proto: unsupported wire type ${wire}`);
  }
  each(fn: (field: number, wire: number, reader: Reader) => boolean): void {
    while (!this.done()) {
      const tag = Number(this.varint());
      const field = tag >>> 3;
      const wire = tag & 7;
      if (!fn(field, wire, this)) this.skip(wire);
    }
  }
}

export function readKeyValue(r: Reader): KeyValue {
  const out: KeyValue = { key: '', value: { empty: true } };
  r.each((field, wire, r) => {
    if (field === 1 && wire === 2) out.key = r.string();
    else if (field === 2 && wire === 2) out.value = readAnyValue(r.sub());
    else return false;
    return true;
  });
  return out;
}

export function readAnyValue(r: Reader): AnyValue {
  let out: AnyValue = { empty: true };
  r.each((field, wire, r) => {
    if (field === 1 && wire === 2) out = { string: r.string() };
    else if (field === 2 && wire === 0) out = { bool: r.varint() !== 0n };
    else if (field === 3 && wire === 0) out = { int: BigInt.asIntN(64, r.varint()) };
    else if (field === 4 && wire === 1) out = { double: r.double() };
    else if (field === 5 && wire === 2) {
      const values: AnyValue[] = [];
      r.sub().each((f, w, rr) => {
        if (f !== 1 || w !== 2) return false;
        values.push(readAnyValue(rr.sub()));
        return true;
      });
      out = { array: values };
    } else if (field === 6 && wire === 2) {
      const values: KeyValue[] = [];
      r.sub().each((f, w, rr) => {
        if (f !== 1 || w !== 2) return false;
        values.push(readKeyValue(rr.sub()));
        return true;
      });
      out = { kvlist: values };
    } else if (field === 7 && wire === 2) out = { bytes: r.bytes() };
    else return false;
    return true;
  });
  return out;
}

