import type { Inventory } from '../core/inventory.ts';

/** Where each application's inventory (what Capstan owns) is kept, shared by the CLI and the agent. */
export interface InventoryStore {
  read(application: string): Promise<Inventory | undefined>;
  write(inventory: Inventory): Promise<void>;
  delete(application: string): Promise<void>;
}
