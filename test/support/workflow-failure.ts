import { WorkflowFailedError } from '@temporalio/client';

/** The WorkflowFailedError a run ended with (a test fails if it succeeded or failed otherwise). */
export async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof WorkflowFailedError) return err;
  throw new Error(`the workflow was expected to fail, got ${String(err)}`);
}
