/** Health of PersistentVolumeClaim and PersistentVolume, from their phase. */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import { degraded, healthy, progressing, str, unknown } from './fields.ts';

export function assessPersistentVolumeClaim(object: KubeObject): Health {
  const phase = str(object, 'status', 'phase') ?? 'Pending';
  const volume = str(object, 'spec', 'volumeName');
  switch (phase) {
    case 'Bound':
      return healthy(volume ? `bound to PersistentVolume/${volume}` : 'bound');
    case 'Pending':
      return progressing('waiting for a volume to be provisioned or bound');
    case 'Lost':
      return degraded(
        volume ? `lost its volume: PersistentVolume/${volume} no longer exists` : 'lost its volume',
      );
    default:
      return unknown(`phase ${phase}`);
  }
}

export function assessPersistentVolume(object: KubeObject): Health {
  const phase = str(object, 'status', 'phase') ?? 'Pending';
  const claimNamespace = str(object, 'spec', 'claimRef', 'namespace');
  const claimName = str(object, 'spec', 'claimRef', 'name');
  switch (phase) {
    case 'Bound':
      return healthy(
        claimName ? `bound to PersistentVolumeClaim/${claimNamespace ?? ''}/${claimName}` : 'bound',
      );
    case 'Available':
      return healthy('available');
    case 'Released':
      return healthy('released by its claim');
    case 'Pending':
      return progressing('pending');
    case 'Failed':
      return degraded(str(object, 'status', 'message') ?? 'failed to be reclaimed');
    default:
      return unknown(`phase ${phase}`);
  }
}
