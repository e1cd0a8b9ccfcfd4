/**
 * Python's repr() for JSON-like values. VDSM builds its error messages with `"%s: %s" % (msg,
 * repr(value))`, so exact messages (e.g. `Task id unknown: ('<id>',)`) need Python's quoting rules.
 */

/** A Python tuple: JS arrays render as lists. */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export type PyValue =
  string | number | boolean | null | undefined | PyTuple | readonly PyValue[] | { [key: string]: PyValue };

export function tuple(...items: PyValue[]): PyTuple {
  return new PyTuple(items);
}

export function pyRepr(value: PyValue): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return pyStr(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? value.toFixed(0) : String(value);
  if (value instanceof PyTuple) {
    const inner = value.items.map(pyRepr);
    return inner.length === 1 ? `(${inner[0]},)` : `(${inner.join(', ')})`;
  }
  if (Array.isArray(value)) return `[${value.map((v: PyValue) => pyRepr(v)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, PyValue>).map(
    ([k, v]) => `${pyStr(k)}: ${pyRepr(v)}`,
  );
  return `{${entries.join(', ')}}`;
}

/** Python 3 str repr: single quotes unless the text has a single quote and no double quote. */
function pyStr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}
