/**
 * The trace of an Application's workloads, joined from records that exist (DESIGN.md: "the trace is
 * a join of them, not a log search"): the syncs in its status history (configuration commits), the
 * images its Pods run (by digest: from an `@sha256:` reference, or the running container's imageID),
 * and the pipeline runs of the Store whose pushed images have those digests (the code commit built).
 * Pure: the Pods and runs come in as parameters.
 */
import type { Application } from '../contracts/application.ts';
import type { Trace } from '../contracts/server-api.ts';
import type { KubeObject } from '../core/resource.ts';
import type { RunRecord } from '../ports/store.ts';

/** Syncs shown, newest first. */
export const TRACE_SYNCS = 5;
const DIGEST = /sha256:[0-9a-f]{64}/;

interface PodImage {
  readonly pod: string;
  readonly image: string;
  readonly digest: string | undefined;
}

export function traceOf(app: Application, pods: readonly KubeObject[], runs: readonly RunRecord[]): Trace {
  const images = groupByImage(pods.flatMap(imagesOfPod));
  const byDigest = new Map<string, RunRecord>();
  for (const run of runs)
    for (const image of run.images) if (!byDigest.has(image.digest)) byDigest.set(image.digest, run);
  const joined = images.map((entry) => {
    const run = entry.digest === undefined ? undefined : byDigest.get(entry.digest);
    return { ...entry, ...(run ? { run: runSummary(run) } : {}) };
  });
  return {
    application: `Application/${app.metadata.namespace ?? ''}/${app.metadata.name}`,
    syncs: [...(app.status?.history ?? [])]
      .reverse()
      .slice(0, TRACE_SYNCS)
      .map((h) => ({
        revision: h.revision,
        ...(h.author === undefined ? {} : { author: h.author }),
        ...(h.message === undefined ? {} : { message: h.message }),
        result: h.result,
        ...(h.finishedAt === undefined ? {} : { finishedAt: h.finishedAt }),
      })),
    images: joined,
    missing: missingLinks(joined, pods.length),
  };
}

/** Each container's image and its digest, from the reference or, once running, the container's imageID. */
function imagesOfPod(pod: KubeObject): PodImage[] {
  const id = `Pod/${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const spec = (pod['spec'] ?? {}) as { containers?: { name: string; image?: string }[] };
  const statuses = ((pod['status'] ?? {}) as { containerStatuses?: { name: string; imageID?: string }[] })
    .containerStatuses;
  return (spec.containers ?? []).flatMap((c) => {
    if (c.image === undefined) return [];
    const running = statuses?.find((s) => s.name === c.name)?.imageID;
    const digest = DIGEST.exec(c.image)?.[0] ?? (running ? DIGEST.exec(running)?.[0] : undefined);
    return [{ pod: id, image: c.image, digest }];
  });
}

function groupByImage(found: readonly PodImage[]): Trace['images'] {
  const groups = new Map<string, { image: string; digest?: string; pods: string[] }>();
  for (const { pod, image, digest } of found) {
    const key = `${image}|${digest ?? ''}`;
    const group = groups.get(key) ?? { image, ...(digest === undefined ? {} : { digest }), pods: [] };
    group.pods.push(pod);
    groups.set(key, group);
  }
  return [...groups.values()];
}

function runSummary(run: RunRecord): NonNullable<Trace['images'][number]['run']> {
  return {
    id: run.id,
    namespace: run.namespace,
    pipeline: run.pipeline,
    revision: run.revision,
    ...(run.branch === undefined ? {} : { branch: run.branch }),
    ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
  };
}

/** The links the records could not make, said plainly. */
function missingLinks(images: Trace['images'], podCount: number): string[] {
  const missing: string[] = [];
  if (podCount === 0)
    missing.push('no Pod of its workloads was found (nothing runs, or no workload kind it follows)');
  for (const entry of images) {
    if (entry.digest === undefined)
      missing.push(`${entry.image}: no digest (a tag, and no running container reported one)`);
    else if (entry.run === undefined)
      missing.push(
        `${entry.image}: no pipeline run you may read recorded the digest ${entry.digest.slice(0, 19)}…`,
      );
  }
  missing.push('which configuration commit wrote each image reference is not recorded (image write-back)');
  return missing;
}
