import { UsageError } from './exit-codes';

/** Registered commands whose implementation is another issue's: they fail honestly (exit 2). */
export function notImplemented(command: string): never {
  throw new UsageError(`\`ovirt-tasks ${command}\` is not implemented yet`);
}
