import type { DataCenterFixture } from '../fixture/schema';

/**
 * Where each simulated host listens: the fixture's SPM host on `basePort` (so `--port P` is the
 * pool's SPM, as a client configured with one VDSM address expects), the other hosts on the next
 * ports in fixture order. With the built-in fixture (SPM first) this equals hostPort(). `basePort`
 * 0 gives every host an ephemeral port. Keyed by host id.
 */
export function simulatorHostPorts(fixture: DataCenterFixture, basePort: number): Map<string, number> {
  const ordered = [
    ...fixture.hosts.filter((h) => h.id === fixture.spmHostId),
    ...fixture.hosts.filter((h) => h.id !== fixture.spmHostId),
  ];
  return new Map(ordered.map((h, i) => [h.id, basePort === 0 ? 0 : basePort + i]));
}
