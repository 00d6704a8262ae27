import type { KubeObject } from '../core/resource.ts';
import { structuralSchema, type JsonSchemaProps } from './structural.ts';

/** What a CustomResourceDefinition of Capstan's says: one served and stored version, from a TypeBox schema. */
export interface CrdDescription {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  /** The TypeBox schema of the whole object. */
  readonly schema: unknown;
  readonly printerColumns: readonly object[];
  /** Whether `status` is a subresource (written apart from the spec). */
  readonly statusSubresource: boolean;
}

/**
 * The root of a CRD's schema: the object's own schema, where the API server requires only `spec`
 * (it always sets apiVersion, kind and metadata); at the root, apiVersion and kind may only be typed
 * strings, and metadata is the API server's.
 */
export function crdRootSchema(description: CrdDescription): JsonSchemaProps {
  const root = structuralSchema(description.schema);
  const properties = root['properties'] as Record<string, JsonSchemaProps>;
  return {
    ...root,
    required: ['spec'],
    properties: {
      ...properties,
      apiVersion: { type: 'string', description: `${description.group}/${description.version}` },
      kind: { type: 'string', description: description.kind },
      metadata: { type: 'object' },
    },
  };
}

/** The CustomResourceDefinition, named `<plural>.<group>`, in the `capstan` category. */
export function customResourceDefinition(description: CrdDescription): KubeObject {
  const d = description;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${d.plural}.${d.group}`,
      labels: { 'app.kubernetes.io/name': 'capstan', 'app.kubernetes.io/part-of': 'capstan' },
    },
    spec: {
      group: d.group,
      scope: d.scope,
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.singular,
        shortNames: [...d.shortNames],
        categories: ['capstan'],
      },
      versions: [
        {
          name: d.version,
          served: true,
          storage: true,
          ...(d.statusSubresource ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: d.printerColumns,
          schema: { openAPIV3Schema: crdRootSchema(d) },
        },
      ],
    },
  };
}
