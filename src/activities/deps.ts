import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import type { InventoryRepository } from '../inventory/port';
import type { VdsmConnector } from '../vdsm/port';

/** The ports activities are built from; tests wire real or fake adapters. */
export interface ActivityDeps {
  vdsm: VdsmConnector;
  inventory: InventoryRepository;
  config: Config;
  /** Lets the janitor ask whether the owner of a task or a lock is still running. */
  temporal?: Client;
  now?: () => Date;
}
