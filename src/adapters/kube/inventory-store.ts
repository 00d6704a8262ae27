import { CapstanError } from '../../core/errors.ts';
import { rememberSuccess } from '../../core/remember.ts';
import { decodeInventory, encodeInventory, type Inventory } from '../../core/inventory.ts';
import { FIELD_MANAGER } from '../../core/ownership.ts';
import type { KubeObject } from '../../core/resource.ts';
import type { Cluster, ResourceType } from '../../ports/cluster.ts';
import type { InventoryStore } from '../../ports/inventory.ts';

export const DEFAULT_INVENTORY_NAMESPACE = 'capstan-system';
const APP_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Application names are DNS labels: they name ConfigMaps, labels and events. */
export function validateApplicationName(name: string): void {
  if (!APP_NAME.test(name) || name.length > 45) {
    throw new CapstanError(
      'INVALID_APPLICATION_NAME',
      `application name '${name}' is not valid: use at most 45 lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
}

/**
 * Inventories as ConfigMaps `capstan-inventory-<application>` in one namespace of the target cluster
 * (capstan-system by default), so that every client of that cluster agrees on what is owned.
 */
export class ConfigMapInventoryStore implements InventoryStore {
  readonly #cluster: Cluster;
  readonly #namespace: string;
  /** Whether the inventory namespace was seen (or created) by this store. */
  #namespaceSeen = false;

  constructor(cluster: Cluster, namespace: string = DEFAULT_INVENTORY_NAMESPACE) {
    this.#cluster = cluster;
    this.#namespace = namespace;
  }

  #name(application: string): string {
    validateApplicationName(application);
    return `capstan-inventory-${application}`;
  }

  /** The served ConfigMap and Namespace types (a failed look-up is asked again next time). */
  readonly #typesOnce = rememberSuccess(async () => {
    const configMap = await this.#cluster.resourceType('v1', 'ConfigMap');
    const namespace = await this.#cluster.resourceType('v1', 'Namespace');
    if (!configMap || !namespace)
      throw new CapstanError('KUBE_DISCOVERY', 'the cluster does not serve v1 ConfigMap and Namespace');
    return { configMap, namespace };
  });

  async read(application: string): Promise<Inventory | undefined> {
    const { configMap } = await this.#typesOnce();
    const name = this.#name(application);
    const live = await this.#cluster.get(configMap, this.#namespace, name);
    if (!live) return undefined;
    const text = (live['data'] as Record<string, string> | undefined)?.['inventory'];
    const where = `ConfigMap/${this.#namespace}/${name}`;
    if (text === undefined)
      throw new CapstanError('INVENTORY_DAMAGED', `${where} has no 'inventory' key; fix or delete it`, {
        subject: where,
      });
    const inventory = decodeInventory(text, where);
    if (inventory.application !== application) {
      throw new CapstanError(
        'INVENTORY_DAMAGED',
        `${where} belongs to application '${inventory.application}', not '${application}'`,
        { subject: where },
      );
    }
    return inventory;
  }

  /**
   * Writes the record, creating the inventory namespace first when it is missing. Once the namespace
   * was seen it is not read again before each write (a request per sync); should it be deleted since,
   * the write's NotFound reads it again, creates it and writes once more.
   */
  async write(inventory: Inventory): Promise<void> {
    const { configMap, namespace } = await this.#typesOnce();
    const record: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.#name(inventory.application),
        namespace: this.#namespace,
        labels: {
          'app.kubernetes.io/managed-by': 'capstan',
          'capstan.dev/inventory-of': inventory.application,
        },
      },
      data: { inventory: encodeInventory(inventory) },
    };
    const apply = () => this.#cluster.apply(configMap, record, { fieldManager: FIELD_MANAGER, force: true });
    if (!this.#namespaceSeen) await this.#ensureNamespace(namespace);
    try {
      await apply();
    } catch (error) {
      if (!(error instanceof CapstanError && error.code === 'KUBE_NOT_FOUND')) throw error;
      this.#namespaceSeen = false;
      await this.#ensureNamespace(namespace);
      await apply();
    }
  }

  /** Creates the inventory namespace unless it is visible; remembers that it exists. */
  async #ensureNamespace(namespace: ResourceType): Promise<void> {
    if (!(await this.#namespaceVisible(namespace))) {
      await this.#cluster.apply(
        namespace,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.#namespace } },
        { fieldManager: FIELD_MANAGER },
      );
    }
    this.#namespaceSeen = true;
  }

  /**
   * Whether the inventory namespace exists. An identity limited to some namespaces (a registered
   * cluster's ServiceAccount) may not read Namespaces: it is then taken to exist, and the ConfigMap's
   * apply says so clearly if it does not.
   */
  async #namespaceVisible(namespace: ResourceType): Promise<boolean> {
    try {
      return (await this.#cluster.get(namespace, '', this.#namespace)) !== undefined;
    } catch (error) {
      if (error instanceof CapstanError && error.code === 'KUBE_FORBIDDEN') return true;
      throw error;
    }
  }

  async delete(application: string): Promise<void> {
    const { configMap } = await this.#typesOnce();
    await this.#cluster.delete(configMap, this.#namespace, this.#name(application));
  }
}
