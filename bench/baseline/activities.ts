/** The baseline's only activity: nothing at all. */
export async function noop(): Promise<void> {}
