/** Health of Service and Ingress: both wait for an address when something outside must provide one. */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import { asList, get, healthy, progressing, str } from './fields.ts';

/** The first address under status.loadBalancer.ingress: an IP or a host name. */
function loadBalancerAddress(object: KubeObject): string | undefined {
  for (const entry of asList(get(object, 'status', 'loadBalancer', 'ingress'))) {
    const address = str(entry, 'ip') ?? str(entry, 'hostname');
    if (address) return address;
  }
  return undefined;
}

export function assessService(object: KubeObject): Health {
  const type = str(object, 'spec', 'type') ?? 'ClusterIP';
  if (type === 'LoadBalancer') {
    const address = loadBalancerAddress(object);
    return address
      ? healthy(`load balancer at ${address}`)
      : progressing('waiting for a load balancer address');
  }
  if (type === 'ExternalName') return healthy(`alias of ${str(object, 'spec', 'externalName') ?? '?'}`);
  return healthy();
}

/** Like Argo CD: an Ingress is Progressing until its controller publishes an address. */
export function assessIngress(object: KubeObject): Health {
  const address = loadBalancerAddress(object);
  return address
    ? healthy(`address ${address}`)
    : progressing('no address yet: the ingress controller has not published one');
}
