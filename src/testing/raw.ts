import type { RequestOptions } from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import { requestJson, type RestResponse } from '../devcluster/rest.ts';

export type RawResponse = RestResponse;

/** One HTTPS request to the API server with a kubeconfig's credentials, for what the typed clients hide (headers). */
export async function rawRequest(
  config: k8s.KubeConfig,
  method: string,
  path: string,
  body?: unknown,
): Promise<RawResponse> {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const options: RequestOptions = { method, headers: {} };
  await config.applyToHTTPSOptions(options);
  return requestJson(new URL(path, server), { ...options, body });
}
