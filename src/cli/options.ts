import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { pemFileProblem, type PemKind } from '../config/pem';
import { loadFixture } from '../fixture';
import { describeZodError } from '../shared/commands';
import { FaultConfig } from '../vdsm-sim/faults';

/** TCP port; 0 lets the command pick a free one. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new InvalidArgumentError('must be a port number (0-65535).');
  return port;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

/** A PEM file of `kind`, checked when the flag is parsed (exit 2 naming the flag, not a TLS error later). */
export function pemFileOption(kind: PemKind): (value: string) => string {
  return (value) => {
    const problem = pemFileProblem(value, kind);
    if (problem) throw new InvalidArgumentError(`${problem}.`);
    return value;
  };
}

/** A data center fixture file, read and validated when the flag is parsed, before anything starts. */
export function parseFixtureFile(value: string): string {
  try {
    loadFixture(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
  return value;
}

/**
 * `--faults <json|file>`: JSON text (starts with `{`) or a JSON file, validated against the fault
 * schema so an unknown key is named here, not thrown later as a raw schema error. The flag's
 * own text is kept: the simulator reads it again.
 */
export function parseFaultsOption(value: string): string {
  let text: string;
  if (value.trim().startsWith('{')) text = value;
  else {
    try {
      text = readFileSync(value, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(
        `neither JSON text nor a readable file (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON: ${(err as Error).message}.`);
  }
  const parsed = FaultConfig.safeParse(json);
  if (!parsed.success) throw new InvalidArgumentError(`${describeZodError(parsed.error)}.`);
  return value;
}
