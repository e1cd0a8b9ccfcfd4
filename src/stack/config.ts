/**
 * Fast status polling for stacks that wait on purpose (tests, the bench's checks,
 * record-histories): tasks are seen ending within a second, not ten. The step's waiting happens
 * inside one activity, so polling speed changes no workflow history.
 */
export const FAST_POLL_OVERRIDES = {
  POLL_MIN_INTERVAL_MS: '200',
  POLL_MAX_INTERVAL_MS: '1000',
  POLL_FAST_PHASE_MS: '2000',
  VDSM_REQUEST_TIMEOUT_MS: '5000',
} as const;
