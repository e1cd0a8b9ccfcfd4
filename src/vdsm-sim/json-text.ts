/**
 * What JSON.parse loses or cannot guard, read from a request's text in one linear pass:
 *
 * - the exact text of numeric ids. Python keeps `12345678901234567890` (and `1.0`) as sent and
 *   VDSM echoes it; JSON.parse rounds it to a double, so the answer would carry another id;
 * - the nesting depth. V8 parses any depth, but everything after it (repr, zod, stringify) recurses
 *   and a 100k-deep id overflowed the stack. Python's json gives up near 1,000 levels
 *   (RecursionError, which yajsonrpc answers as a parse error): we refuse deeper text the same way.
 */

/** Deeper nesting is answered -32700, like VDSM's json.loads failing with RecursionError. */
export const MAX_JSON_DEPTH = 512;

/** A numeric JSON-RPC id kept as its source text, so the answer carries it unchanged. */
export class RawJsonNumber {
  constructor(readonly text: string) {}

  /** Anywhere else (logs, messages) it is just a number. */
  toJSON(): number {
    return Number(this.text);
  }
}

export interface JsonTextFacts {
  tooDeep: boolean;
  /**
   * The raw text of the numeric `id` member of each request object: index 0 for a single request,
   * the element's index for a batch. Absent when that id is not a number.
   */
  numericIds: Map<number, string>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Scans text that JSON.parse has accepted (so it need not validate anything). */
export function scanJsonText(text: string, maxDepth = MAX_JSON_DEPTH): JsonTextFacts {
  const numericIds = new Map<number, string>();
  /** Open containers: true for an object. */
  const stack: boolean[] = [];
  const rootIsArray = text.trimStart().startsWith('[');
  let element = 0; // index of the current element of a top-level batch
  let lastKey: string | undefined; // the key whose value comes next, in the innermost object
  let expectingKey = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      let end = i + 1;
      while (text.charCodeAt(end) !== QUOTE) end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
      if (expectingKey) {
        // Keys may be escaped ("\u0069d" is "id"); only the short ones can be "id".
        lastKey = end - i <= 16 ? (JSON.parse(text.slice(i, end + 1)) as string) : undefined;
        expectingKey = false;
      }
      i = end;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      stack.push(ch === 0x7b);
      if (stack.length > maxDepth) return { tooDeep: true, numericIds };
      expectingKey = ch === 0x7b;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectingKey = false;
    } else if (ch === 0x2c /* , */) {
      expectingKey = stack[stack.length - 1] === true;
      if (rootIsArray && stack.length === 1) element += 1;
    } else if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      let end = i + 1;
      while (end < text.length && /[0-9eE+.-]/.test(text[end]!)) end += 1;
      const requestLevel = rootIsArray ? stack.length === 2 : stack.length === 1;
      if (requestLevel && stack[stack.length - 1] === true && lastKey === 'id') {
        numericIds.set(rootIsArray ? element : 0, text.slice(i, end));
      }
      i = end - 1;
    }
  }
  return { tooDeep: false, numericIds };
}
