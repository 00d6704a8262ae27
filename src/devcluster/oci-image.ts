import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

/** This file: the packer is part of every packed image's recipe (an image cache's key counts it). */
export const OCI_IMAGE_SOURCE = import.meta.filename;

/** What an image runs: the parts of an OCI image configuration that the dev cluster's images set. */
export interface ImageRuntime {
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly user?: string;
  readonly workingDir?: string;
}

export interface PackOptions {
  /** A folder holding the image's root file system. */
  readonly rootfs: string;
  /** The full reference the image gets when imported, e.g. `capstan.local/pause:1`. */
  readonly reference: string;
  readonly runtime: ImageRuntime;
  /** Where the OCI archive (a tar of an OCI image layout) is written. */
  readonly output: string;
}

export interface PackedImage {
  readonly archive: string;
  readonly reference: string;
  /** The manifest's digest: the same inputs give the same digest. */
  readonly digest: string;
}

/** Options for GNU tar that make the same files give the same bytes: order, times and owners fixed. */
const REPRODUCIBLE_TAR = [
  '--sort=name',
  '--mtime=@0',
  '--owner=0',
  '--group=0',
  '--numeric-owner',
  '--format=gnu',
];

const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  index: 'application/vnd.oci.image.index.v1+json',
} as const;

interface Blob {
  readonly digest: string;
  readonly size: number;
}

async function writeBlob(layout: string, bytes: Buffer): Promise<Blob> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/**
 * Packs a root file system into a single-layer OCI image archive, reproducibly: no timestamps, fixed
 * owners, sorted entries, so the same files give the same manifest digest on every machine.
 */
export async function packImage(options: PackOptions): Promise<PackedImage> {
  const layout = `${options.output}.layout`;
  await rm(layout, { recursive: true, force: true });
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  try {
    // Step 1: the layer, an uncompressed tar of the root file system.
    const layerTar = join(layout, 'layer.tar');
    await run('tar', [...REPRODUCIBLE_TAR, '-C', options.rootfs, '-cf', layerTar, '.'], {
      timeoutMs: 120_000,
    });
    const layer = await writeBlob(layout, await readFile(layerTar));
    await rm(layerTar);
    // Step 2: the configuration and the manifest that names both.
    const config = await writeBlob(layout, Buffer.from(JSON.stringify(imageConfig(options.runtime, layer))));
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, ...config },
        layers: [{ mediaType: MEDIA.layer, ...layer }],
      }),
    );
    const manifest = await writeBlob(layout, manifestBytes);
    // Step 3: the layout's index, naming the image, and the archive of the whole layout.
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layout, 'index.json'), JSON.stringify(layoutIndex(options.reference, manifest)));
    await run('tar', [...REPRODUCIBLE_TAR, '-C', layout, '-cf', options.output, '.'], { timeoutMs: 120_000 });
    return { archive: options.output, reference: options.reference, digest: manifest.digest };
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}

function imageConfig(runtime: ImageRuntime, layer: Blob): unknown {
  return {
    architecture: 'amd64',
    os: 'linux',
    config: {
      Entrypoint: runtime.entrypoint,
      ...(runtime.cmd ? { Cmd: runtime.cmd } : {}),
      Env: runtime.env ?? ['PATH=/bin:/usr/bin:/sbin:/usr/sbin'],
      ...(runtime.user ? { User: runtime.user } : {}),
      ...(runtime.workingDir ? { WorkingDir: runtime.workingDir } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  };
}

function layoutIndex(reference: string, manifest: Blob): unknown {
  const tag = reference.slice(reference.lastIndexOf(':') + 1);
  return {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [
      {
        mediaType: MEDIA.manifest,
        ...manifest,
        annotations: {
          'io.containerd.image.name': reference,
          'org.opencontainers.image.ref.name': tag,
        },
      },
    ],
  };
}
