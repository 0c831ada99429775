/**
 * A Prometheus remote-write 1.0 client for the tests, as Tempo's metrics
 * generator speaks it: a `prometheus.WriteRequest` (prompb/remote.proto:
 * timeseries = 1 { labels = 1 { name = 1, value = 2 }, samples = 2
 * { value = 1 (double), timestamp = 2 (int64 ms) } }) in protobuf, compressed
 * with snappy's block format, POSTed with the protocol's headers. The snappy
 * encoder writes literals only: valid snappy that any decoder reads, just not
 * smaller.
 */
export interface RemoteSeries {
  /** `__name__` and the other labels. */
  labels: Record<string, string>;
  samples: { value: number; timestampMs: number }[];
}

export async function remoteWrite(url: string, series: readonly RemoteSeries[]): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
    body: snappyBlock(writeRequest(series)),
  });
}

function writeRequest(series: readonly RemoteSeries[]): Uint8Array {
  const out = new Writer();
  for (const s of series) {
    const ts = new Writer();
    // Labels sorted by name, as the protocol asks.
    for (const [name, value] of Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      ts.message(1, new Writer().string(1, name).string(2, value).bytes());
    }
    for (const sample of s.samples) ts.message(2, new Writer().double(1, sample.value).varintField(2, sample.timestampMs).bytes());
    out.message(1, ts.bytes());
  }
  return out.bytes();
}

class Writer {
  readonly #parts: number[] = [];

  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }

  varint(n: number): this {
    let v = BigInt(n);
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      this.#parts.push(byte);
    } while (v > 0n);
    return this;
  }

  varintField(field: number, n: number): this {
    return this.varint(field << 3).varint(n);
  }

  double(field: number, value: number): this {
    const buf = Buffer.alloc(8);
    buf.writeDoubleLE(value);
    this.varint((field << 3) | 1);
    this.#parts.push(...buf);
    return this;
  }

  string(field: number, value: string): this {
    return this.message(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, body: Uint8Array): this {
    this.varint((field << 3) | 2).varint(body.length);
    this.#parts.push(...body);
    return this;
  }
}

/** Snappy block format (format_description.txt): the length as a varint, then literal elements of at most 64 KiB. */
function snappyBlock(data: Uint8Array): Uint8Array {
  const out = new Writer().varint(data.length);
  const parts: Uint8Array[] = [out.bytes()];
  for (let at = 0; at < data.length; at += 65_536) {
    const chunk = data.subarray(at, Math.min(data.length, at + 65_536));
    const n = chunk.length - 1;
    // Tag: literal (low bits 00); lengths up to 60 in the tag, else 1 or 2 little-endian bytes after it (tag 60, 61).
    parts.push(n < 60 ? Uint8Array.of(n << 2) : n < 256 ? Uint8Array.of(60 << 2, n) : Uint8Array.of(61 << 2, n & 0xff, n >> 8), chunk);
  }
  return Buffer.concat(parts);
}
