import fc from 'fast-check';
import {
  encodeFrame,
  StompParser,
  StompProtocolError,
  type StompFrame,
  type StompParsed,
} from '../src/stomp';

const NUM_RUNS = 300;

const COMMANDS = [
  'CONNECT',
  'CONNECTED',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'MESSAGE',
  'ERROR',
  'DISCONNECT',
  'RECEIPT',
] as const;
const RAW_HEADER_COMMANDS = new Set<string>(['CONNECT', 'CONNECTED']);

/** Characters that stress the escaping and framing, mixed with arbitrary unicode. */
const trickyChar = fc.oneof(
  fc.constantFrom(':', '\n', '\r', '\\', 'c', 'n', '\0', ' ', 'é', '😀'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const trickyString = (minLength: number) => fc.string({ unit: trickyChar, minLength, maxLength: 20 });

const frameArb: fc.Arbitrary<StompFrame> = fc
  .record({
    command: fc.constantFrom(...COMMANDS),
    entries: fc.array(fc.tuple(trickyString(1), trickyString(0)), { maxLength: 8 }),
    body: fc.uint8Array({ maxLength: 200 }),
  })
  .map(({ command, entries, body }) => {
    const headers: Record<string, string> = {};
    for (const [key, value] of entries) {
      // CONNECT/CONNECTED headers travel unescaped: keep only what they can carry.
      if (RAW_HEADER_COMMANDS.has(command) && (/[\r\n:]/.test(key) || /[\r\n]/.test(value))) continue;
      if (key === 'content-length') continue;
      headers[key] = value;
    }
    return { command, headers, body: Buffer.from(body) };
  });

/** What the parser must return for a frame that went through encodeFrame. */
function expectedAfterEncoding(frame: StompFrame): StompFrame {
  const headers = { ...frame.headers };
  if (frame.body.length > 0) headers['content-length'] = String(frame.body.length);
  return { command: frame.command, headers, body: frame.body };
}

function framesOf(parsed: StompParsed[]): StompFrame[] {
  return parsed.flatMap((item) => (item.kind === 'frame' ? [item.frame] : []));
}

/** Comparable form: null-prototype header objects and Buffers compare by content. */
function plain(frame: StompFrame): { command: string; headers: Record<string, string>; body: number[] } {
  return {
    command: frame.command,
    headers: Object.fromEntries(Object.entries(frame.headers)),
    body: [...frame.body],
  };
}

/** Splits `data` at the given (sorted, deduplicated) cut points. */
function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(data.subarray(start, point));
    start = point;
  }
  chunks.push(data.subarray(start));
  return chunks;
}

function parseAll(chunks: Buffer[], parser = new StompParser()): StompParsed[] {
  return chunks.flatMap((chunk) => parser.push(chunk));
}

describe('STOMP codec properties', () => {
  test('encode → parse round-trips any frame', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const parsed = new StompParser().push(encodeFrame(frame));
        expect(parsed).toHaveLength(1);
        expect(parsed[0]?.kind).toBe('frame');
        expect(framesOf(parsed).map(plain)).toEqual([plain(expectedAfterEncoding(frame))]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('any chunking of several frames and heart-beats parses to the same sequence', () => {
    const itemArb = fc.oneof(
      { weight: 3, arbitrary: frameArb.map((frame) => ({ frame })) },
      { weight: 1, arbitrary: fc.constantFrom('\n', '\r\n').map((eol) => ({ eol })) },
    );
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (items, cuts) => {
          const stream = Buffer.concat(
            items.map((item) => ('frame' in item ? encodeFrame(item.frame) : Buffer.from(item.eol))),
          );
          const expected = items.map((item) =>
            'frame' in item
              ? { kind: 'frame', frame: plain(expectedAfterEncoding(item.frame)) }
              : { kind: 'heartbeat' },
          );
          const toComparable = (parsed: StompParsed[]) =>
            parsed.map((item) =>
              item.kind === 'frame' ? { kind: 'frame', frame: plain(item.frame) } : item,
            );

          expect(toComparable(parseAll([stream]))).toEqual(expected);
          expect(toComparable(parseAll(splitAt(stream, cuts)))).toEqual(expected);
          expect(toComparable(parseAll([...stream].map((byte) => Buffer.from([byte]))))).toEqual(expected);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  test('garbage and corrupted frames either parse or throw StompProtocolError, in any chunking', () => {
    const corruptedFrame = fc
      .tuple(
        frameArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      )
      .map(([frame, flips]) => {
        const bytes = Buffer.from(encodeFrame(frame));
        for (const [index, value] of flips) bytes[index % bytes.length] = value;
        return bytes;
      });
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      corruptedFrame,
    );
    fc.assert(
      fc.property(garbage, fc.array(fc.nat(), { maxLength: 10 }), (data, cuts) => {
        const wholeOutcome = outcomeOf(() => parseAll([data]));
        const chunkedOutcome = outcomeOf(() => parseAll(splitAt(data, cuts)));
        for (const outcome of [wholeOutcome, chunkedOutcome]) {
          if (outcome.error !== undefined) expect(outcome.error).toBeInstanceOf(StompProtocolError);
        }
        // Chunking never changes the verdict on complete frames.
        if (wholeOutcome.error === undefined && chunkedOutcome.error === undefined) {
          expect(chunkedOutcome.frames).toEqual(wholeOutcome.frames);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

function outcomeOf(parse: () => StompParsed[]): { frames?: ReturnType<typeof plain>[]; error?: unknown } {
  try {
    return { frames: framesOf(parse()).map(plain) };
  } catch (error) {
    return { error };
  }
}

describe('STOMP codec rules', () => {
  const parseOne = (text: string | Buffer): StompFrame => {
    const frames = framesOf(
      new StompParser().push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text),
    );
    expect(frames).toHaveLength(1);
    return frames[0]!;
  };

  test('a repeated header keeps its first value', () => {
    expect(parseOne('MESSAGE\nfoo:first\nfoo:second\n\nhi\0').headers.foo).toBe('first');
  });

  test('accepts CRLF line endings', () => {
    const frame = parseOne('SEND\r\ndestination:/a\r\n\r\nbody\0');
    expect(plain(frame)).toEqual(
      plain({ command: 'SEND', headers: { destination: '/a' }, body: Buffer.from('body') }),
    );
  });

  test('content-length lets the body carry NULs; without it the body stops at the first NUL', () => {
    expect([...parseOne(Buffer.from('SEND\ncontent-length:3\n\na\0b\0')).body]).toEqual([0x61, 0, 0x62]);
    const parsed = new StompParser().push(Buffer.from('SEND\n\na\0b\0'));
    expect(framesOf(parsed).map((frame) => frame.body.toString())).toEqual(['a']);
  });

  test('encodeFrame adds content-length for a body, keeps a caller-set one, omits it for an empty body', () => {
    expect(encodeFrame({ command: 'SEND', headers: {}, body: Buffer.from('abc') }).toString()).toBe(
      'SEND\ncontent-length:3\n\nabc\0',
    );
    expect(
      encodeFrame({
        command: 'SEND',
        headers: { 'content-length': '3' },
        body: Buffer.from('abc'),
      }).toString(),
    ).toBe('SEND\ncontent-length:3\n\nabc\0');
    expect(encodeFrame({ command: 'DISCONNECT', headers: {}, body: Buffer.alloc(0) }).toString()).toBe(
      'DISCONNECT\n\n\0',
    );
  });

  test('escapes headers except in CONNECT/CONNECTED', () => {
    expect(
      encodeFrame({ command: 'SEND', headers: { 'a:b': 'x\\y\nz\r' }, body: Buffer.alloc(0) }).toString(),
    ).toBe('SEND\na\\cb:x\\\\y\\nz\\r\n\n\0');
    expect(
      encodeFrame({ command: 'CONNECT', headers: { host: 'a:b\\c' }, body: Buffer.alloc(0) }).toString(),
    ).toBe('CONNECT\nhost:a:b\\c\n\n\0');
    expect(parseOne('CONNECTED\nserver:a\\cb:c\n\n\0').headers.server).toBe('a\\cb:c');
    expect(() =>
      encodeFrame({ command: 'CONNECT', headers: { host: 'a\nb' }, body: Buffer.alloc(0) }),
    ).toThrow(StompProtocolError);
  });

  test('every EOL between frames is a heart-beat', () => {
    const parsed = new StompParser().push(Buffer.from('\n\r\n\nSEND\n\n\0\n'));
    expect(parsed.map((item) => item.kind)).toEqual([
      'heartbeat',
      'heartbeat',
      'heartbeat',
      'frame',
      'heartbeat',
    ]);
  });

  test.each([
    ['bad escape sequence', 'SEND\nkey:va\\tlue\n\n\0'],
    ['trailing backslash', 'SEND\nkey:value\\\n\n\0'],
    ['missing command', 'destination:/a\n\n\0'],
    ['lowercase command', 'send\n\n\0'],
    ['HTTP request', 'GET / HTTP/1.1\r\n\r\n'],
    ['header line without colon', 'SEND\nnocolon\n\n\0'],
    ['empty header name', 'SEND\n:value\n\n\0'],
    ['content-length not a number', 'SEND\ncontent-length:abc\n\n\0'],
    ['no NUL after content-length bytes', 'SEND\ncontent-length:1\n\nab\0'],
    ['CR not followed by LF between frames', '\rSEND\n\n\0'],
  ])('rejects %s', (_name, text) => {
    expect(() => new StompParser().push(Buffer.from(text))).toThrow(StompProtocolError);
  });

  test('a failed parser keeps failing', () => {
    const parser = new StompParser();
    expect(() => parser.push(Buffer.from('bad\n'))).toThrow(StompProtocolError);
    expect(() => parser.push(Buffer.from('SEND\n\n\0'))).toThrow(StompProtocolError);
  });

  test('header names are never inherited object properties', () => {
    const frame = parseOne('MESSAGE\n__proto__:x\nconstructor:y\n\n\0');
    expect(frame.headers.__proto__).toBe('x');
    expect(frame.headers.constructor).toBe('y');
    expect(Object.keys(frame.headers)).toEqual(['__proto__', 'constructor']);
  });
});

describe('STOMP parser limits', () => {
  test('maxFrameBytes: a declared content-length over the limit fails before the body arrives', () => {
    const parser = new StompParser({ maxFrameBytes: 100 });
    expect(() => parser.push(Buffer.from('SEND\ncontent-length:1000\n\n'))).toThrow(StompProtocolError);
  });

  test('maxFrameBytes: a body without content-length that never ends fails once over the limit', () => {
    const parser = new StompParser({ maxFrameBytes: 100 });
    expect(parser.push(Buffer.from('SEND\n\n'))).toEqual([]);
    expect(parser.push(Buffer.alloc(80, 0x61))).toEqual([]);
    expect(() => parser.push(Buffer.alloc(80, 0x61))).toThrow(StompProtocolError);
  });

  test('maxFrameBytes: a frame of exactly the limit passes, one byte more fails', () => {
    const frame = encodeFrame({ command: 'SEND', headers: {}, body: Buffer.alloc(50, 0x61) });
    expect(framesOf(new StompParser({ maxFrameBytes: frame.length }).push(frame))).toHaveLength(1);
    expect(() => new StompParser({ maxFrameBytes: frame.length - 1 }).push(frame)).toThrow(
      StompProtocolError,
    );
  });

  test('maxHeaders', () => {
    const headers = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`h${i}`, 'v']));
    const frame = encodeFrame({ command: 'SEND', headers, body: Buffer.alloc(0) });
    expect(framesOf(new StompParser({ maxHeaders: 5 }).push(frame))).toHaveLength(1);
    expect(() => new StompParser({ maxHeaders: 4 }).push(frame)).toThrow(StompProtocolError);
  });

  test('maxHeaderLineBytes: an endless header line fails without waiting for its end', () => {
    const parser = new StompParser({ maxHeaderLineBytes: 64 });
    parser.push(Buffer.from('SEND\nkey:'));
    expect(() => parser.push(Buffer.alloc(100, 0x61))).toThrow(StompProtocolError);
    expect(() => new StompParser({ maxHeaderLineBytes: 64 }).push(Buffer.alloc(100, 0x41))).toThrow(
      StompProtocolError,
    );
  });
});
