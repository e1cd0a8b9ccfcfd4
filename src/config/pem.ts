import { readFileSync } from 'node:fs';

export type PemKind = 'certificate' | 'private key';

const MARKERS: Record<PemKind, RegExp> = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  'private key': /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
};

/** Larger than any certificate chain or key: a bigger file is not one (and must not be read whole). */
const MAX_PEM_BYTES = 1024 * 1024;

/**
 * Why `path` cannot serve as a PEM `kind` (missing, unreadable, too large, no PEM block of that
 * kind), or undefined when it can. Checked up front so a bad file is a configuration error naming
 * its setting, not a TLS library's message at the first connection.
 */
export function pemFileProblem(path: string, kind: PemKind): string | undefined {
  let text: string;
  try {
    const data = readFileSync(path);
    if (data.length > MAX_PEM_BYTES) return `${path} is not a PEM ${kind} (larger than 1 MiB)`;
    text = data.toString('latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${path} does not exist` : `cannot read ${path} (${code ?? String(err)})`;
  }
  return MARKERS[kind].test(text) ? undefined : `${path} is not a PEM ${kind} (no "-----BEGIN" block)`;
}

/** Same check for data already in memory (temporal.toml `*_data`, files envconfig has read). */
export function pemDataProblem(data: Uint8Array | string, kind: PemKind): string | undefined {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  return MARKERS[kind].test(text) ? undefined : `not a PEM ${kind} (no "-----BEGIN" block)`;
}
