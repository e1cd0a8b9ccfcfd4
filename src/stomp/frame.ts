/**
 * STOMP 1.2 frame codec shared by the VDSM client and the simulator.
 *
 * Frame: `COMMAND EOL (key:value EOL)* EOL body NUL`, EOL being `\n` or `\r\n`. Header names and
 * values escape `\\ \n \r :` (as `\\ \n \r \c`), except in CONNECT/CONNECTED frames (STOMP 1.2
 * §"Value Encoding": those stay raw for 1.0 compatibility). With `content-length` the body is
 * exactly that many bytes (NULs allowed) followed by NUL; without it, the body runs to the first
 * NUL. A repeated header keeps its first value. EOLs between frames are heart-beats.
 */

export interface StompFrame {
  command: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The peer sent something that is not STOMP 1.2 (or exceeds the limits): close the connection. */
export class StompProtocolError extends Error {
  override readonly name = 'StompProtocolError';
}

export interface ParserLimits {
  /** Whole frame (command, headers and body). Default 16 MiB. */
  maxFrameBytes?: number;
  /** Default 128. */
  maxHeaders?: number;
  /** One command or header line, EOL excluded. Default 64 KiB. */
  maxHeaderLineBytes?: number;
}

export type StompParsed = { kind: 'frame'; frame: StompFrame } | { kind: 'heartbeat' };

const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_HEADERS = 128;
const DEFAULT_MAX_HEADER_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COMMAND_PATTERN = /^[A-Z]+$/;
const EMPTY = Buffer.alloc(0);

/** Frames whose headers are never escaped (STOMP 1.2). */
function isRawHeaderCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'CONNECTED';
}

function escapeHeader(text: string): string {
  return text.replace(/[\\\n\r:]/g, (ch) => {
    switch (ch) {
      case '\\':
        return '\\\\';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      default:
        return '\\c';
    }
  });
}

function unescapeHeader(text: string): string {
  return text.replace(/\\(.?)/gs, (_match, next: string) => {
    switch (next) {
      case '\\':
        return '\\';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 'c':
        return ':';
      default:
        throw new StompProtocolError(`invalid escape sequence in header: ${JSON.stringify(text)}`);
    }
  });
}

export function encodeFrame(frame: StompFrame): Buffer {
  if (!COMMAND_PATTERN.test(frame.command)) {
    throw new StompProtocolError(`invalid STOMP command: ${JSON.stringify(frame.command)}`);
  }
  const raw = isRawHeaderCommand(frame.command);
  const headers = { ...frame.headers };
  if (frame.body.length > 0 && headers['content-length'] === undefined) {
    headers['content-length'] = String(frame.body.length);
  }
  let head = `${frame.command}\n`;
  for (const [key, value] of Object.entries(headers)) {
    if (key === '') throw new StompProtocolError('empty header name');
    if (raw) {
      // Raw headers cannot carry what would end the line or split the name.
      if (/[\r\n:]/.test(key) || /[\r\n]/.test(value)) {
        throw new StompProtocolError(
          `header ${JSON.stringify(key)} cannot be sent unescaped in ${frame.command}`,
        );
      }
      head += `${key}:${value}\n`;
    } else {
      head += `${escapeHeader(key)}:${escapeHeader(value)}\n`;
    }
  }
  head += '\n';
  return Buffer.concat([Buffer.from(head, 'utf8'), frame.body, Buffer.from([NUL])]);
}

type ParserState =
  | { kind: 'idle' }
  | {
      kind: 'headers';
      command: string;
      headers: Record<string, string>;
      headerCount: number;
      frameBytes: number;
    }
  | {
      kind: 'body';
      command: string;
      headers: Record<string, string>;
      frameBytes: number;
      /** Body length from content-length; undefined → up to the first NUL. */
      contentLength: number | undefined;
      chunks: Buffer[];
      received: number;
    };

/**
 * Incremental parser: feed any split of the byte stream, get the same frames. Partial data is
 * copied, so callers may reuse their buffers. After a StompProtocolError the parser is unusable.
 */
export class StompParser {
  private readonly maxFrameBytes: number;
  private readonly maxHeaders: number;
  private readonly maxHeaderLineBytes: number;
  private state: ParserState = { kind: 'idle' };
  /** Unfinished line (bounded by maxHeaderLineBytes). */
  private partialLine: Buffer = EMPTY;
  private failed: StompProtocolError | undefined;

  constructor(limits: ParserLimits = {}) {
    this.maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
    this.maxHeaderLineBytes = limits.maxHeaderLineBytes ?? DEFAULT_MAX_HEADER_LINE_BYTES;
  }

  /** Bytes held for an unfinished frame (bounded by the limits). */
  get bufferedBytes(): number {
    const body = this.state.kind === 'body' ? this.state.received : 0;
    return this.partialLine.length + body;
  }

  /**
   * Drops whatever an unfinished frame holds, so a closed connection does not keep up to
   * maxFrameBytes alive for as long as something references it. The parser is unusable afterwards.
   */
  release(): void {
    this.state = { kind: 'idle' };
    this.partialLine = EMPTY;
    this.failed ??= new StompProtocolError('parser released');
  }

  push(chunk: Buffer): StompParsed[] {
    if (this.failed) throw this.failed;
    try {
      return this.consume(chunk);
    } catch (err) {
      this.failed =
        err instanceof StompProtocolError ? err : new StompProtocolError(String(err), { cause: err });
      throw this.failed;
    }
  }

  private consume(chunk: Buffer): StompParsed[] {
    const out: StompParsed[] = [];
    let data = chunk;
    if (this.partialLine.length > 0) {
      data = Buffer.concat([this.partialLine, chunk]);
      this.partialLine = EMPTY;
    }
    let pos = 0;
    while (pos < data.length) {
      if (this.state.kind === 'body') {
        pos = this.consumeBody(data, pos, out);
        continue;
      }
      if (this.state.kind === 'idle') {
        const byte = data[pos];
        if (byte === LF) {
          out.push({ kind: 'heartbeat' });
          pos += 1;
          continue;
        }
        if (byte === CR) {
          if (pos + 1 >= data.length) break; // need the next byte to tell "\r\n" from garbage
          if (data[pos + 1] !== LF) throw new StompProtocolError('CR not followed by LF between frames');
          out.push({ kind: 'heartbeat' });
          pos += 2;
          continue;
        }
      }
      const lineEnd = data.indexOf(LF, pos);
      if (lineEnd < 0) {
        // +1: the line may still end in the CR of a CRLF.
        if (data.length - pos > this.maxHeaderLineBytes + 1)
          throw new StompProtocolError('header line too long');
        break;
      }
      const line = data.subarray(pos, lineEnd > pos && data[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd);
      if (line.length > this.maxHeaderLineBytes) throw new StompProtocolError('header line too long');
      this.consumeLine(line, lineEnd + 1 - pos);
      pos = lineEnd + 1;
    }
    if (pos < data.length) this.partialLine = Buffer.from(data.subarray(pos));
    return out;
  }

  private consumeLine(line: Buffer, rawLength: number): void {
    const text = line.toString('utf8');
    if (this.state.kind === 'idle') {
      if (!COMMAND_PATTERN.test(text))
        throw new StompProtocolError(`invalid STOMP command: ${JSON.stringify(text.slice(0, 64))}`);
      // Null prototype: a header named "__proto__" or "constructor" is just a header.
      const headers = Object.create(null) as Record<string, string>;
      this.state = { kind: 'headers', command: text, headers, headerCount: 0, frameBytes: rawLength };
      this.checkFrameSize(rawLength);
      return;
    }
    if (this.state.kind !== 'headers') throw new Error('unreachable: line in body state');
    const headersState = this.state;
    headersState.frameBytes += rawLength;
    this.checkFrameSize(headersState.frameBytes);
    if (text === '') {
      this.startBody(headersState.command, headersState.headers, headersState.frameBytes);
      return;
    }
    const colon = text.indexOf(':');
    if (colon < 0)
      throw new StompProtocolError(`header line without colon: ${JSON.stringify(text.slice(0, 64))}`);
    headersState.headerCount += 1;
    if (headersState.headerCount > this.maxHeaders) throw new StompProtocolError('too many headers');
    const raw = isRawHeaderCommand(headersState.command);
    const key = raw ? text.slice(0, colon) : unescapeHeader(text.slice(0, colon));
    const value = raw ? text.slice(colon + 1) : unescapeHeader(text.slice(colon + 1));
    if (key === '') throw new StompProtocolError('empty header name');
    if (!(key in headersState.headers)) headersState.headers[key] = value;
  }

  private startBody(command: string, headers: Record<string, string>, frameBytes: number): void {
    const declared = headers['content-length'];
    let contentLength: number | undefined;
    if (declared !== undefined) {
      if (!/^\d{1,16}$/.test(declared))
        throw new StompProtocolError(`invalid content-length: ${JSON.stringify(declared)}`);
      contentLength = Number(declared);
      this.checkFrameSize(frameBytes + contentLength + 1);
    }
    this.state = { kind: 'body', command, headers, frameBytes, contentLength, chunks: [], received: 0 };
  }

  /** Returns the new position in `data`. */
  private consumeBody(data: Buffer, pos: number, out: StompParsed[]): number {
    if (this.state.kind !== 'body') throw new Error('unreachable: body outside body state');
    const body = this.state;
    let bodyEnd: number; // index in `data` of the terminating NUL, if present
    if (body.contentLength !== undefined) {
      const stillNeeded = body.contentLength - body.received;
      if (data.length - pos <= stillNeeded) {
        this.keepBodyPart(data.subarray(pos));
        return data.length;
      }
      bodyEnd = pos + stillNeeded;
      if (data[bodyEnd] !== NUL)
        throw new StompProtocolError('frame body not terminated by NUL after content-length bytes');
    } else {
      bodyEnd = data.indexOf(NUL, pos);
      if (bodyEnd < 0) {
        this.keepBodyPart(data.subarray(pos));
        this.checkFrameSize(body.frameBytes + body.received + 1);
        return data.length;
      }
      this.checkFrameSize(body.frameBytes + body.received + (bodyEnd - pos) + 1);
    }
    body.chunks.push(data.subarray(pos, bodyEnd));
    // Concat always copies, so the frame never aliases the caller's chunk.
    out.push({
      kind: 'frame',
      frame: { command: body.command, headers: body.headers, body: Buffer.concat(body.chunks) },
    });
    this.state = { kind: 'idle' };
    return bodyEnd + 1;
  }

  private keepBodyPart(part: Buffer): void {
    if (this.state.kind !== 'body') throw new Error('unreachable: body part outside body state');
    this.state.chunks.push(Buffer.from(part));
    this.state.received += part.length;
  }

  private checkFrameSize(bytes: number): void {
    if (bytes > this.maxFrameBytes)
      throw new StompProtocolError(`frame larger than ${this.maxFrameBytes} bytes`);
  }
}
