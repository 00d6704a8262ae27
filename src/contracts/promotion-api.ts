/**
 * The server API's shapes for environments and promotions (docs/promotions.md): one definition for the
 * routes, the OpenAPI document, the CLI and the UI.
 */
import { Type, type Static } from '@sinclair/typebox';
import { PROMOTION_STATES } from '../core/promotion.ts';
import { oneOf } from './validate.ts';

const PromotionStepSchema = Type.Object(
  {
    state: oneOf(PROMOTION_STATES),
    at: Type.String(),
    by: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const PromotionSchema = Type.Object(
  {
    id: Type.String(),
    namespace: Type.String(),
    environment: Type.String(),
    project: Type.String(),
    image: Type.String({ description: 'The image, by digest.' }),
    fromRun: Type.Optional(Type.String()),
    fromEnvironment: Type.Optional(Type.String()),
    fromPromotion: Type.Optional(Type.String()),
    previousImage: Type.Optional(Type.String({ description: 'What the environment ran before.' })),
    state: oneOf(PROMOTION_STATES),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    requestedBy: Type.String(),
    approvedBy: Type.Optional(Type.String()),
    rejectedBy: Type.Optional(Type.String()),
    commit: Type.Optional(Type.String()),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    committedAt: Type.Optional(Type.String()),
    healthySince: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
    steps: Type.Array(PromotionStepSchema),
  },
  { additionalProperties: false, description: 'A promotion of one image to one environment.' },
);
export type PromotionView = Static<typeof PromotionSchema>;

export const PromotionListSchema = Type.Object(
  { items: Type.Array(PromotionSchema), nextCursor: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

export const PromotionListQuerySchema = Type.Object(
  {
    namespace: Type.Optional(Type.String({ maxLength: 253 })),
    environment: Type.Optional(Type.String({ maxLength: 253 })),
    state: Type.Optional(oneOf(PROMOTION_STATES)),
    before: Type.Optional(
      Type.String({ maxLength: 64, description: 'Promotions created before this one (a page).' }),
    ),
    limit: Type.Optional(
      Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1 to 1000; default 50.' }),
    ),
  },
  { additionalProperties: false },
);

export const PromotionParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const EnvironmentParamsSchema = Type.Object({
  namespace: Type.String({ minLength: 1, maxLength: 63 }),
  name: Type.String({ minLength: 1, maxLength: 63 }),
});

export const EnvironmentInfoSchema = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    project: Type.String(),
    application: Type.String(),
    repoURL: Type.String(),
    branch: Type.String(),
    file: Type.String(),
    fromPipeline: Type.Optional(Type.String()),
    fromEnvironment: Type.Optional(Type.String()),
    fromImagePolicy: Type.Optional(
      Type.Object(
        { repository: Type.String(), semver: Type.String() },
        { additionalProperties: false, description: 'The image repository it follows, and the range.' },
      ),
    ),
    imagePolicy: Type.Optional(
      Type.Object(
        {
          tag: Type.Optional(Type.String()),
          image: Type.Optional(Type.String()),
          chosenAt: Type.Optional(Type.String()),
          error: Type.Optional(Type.String()),
          errorAt: Type.Optional(Type.String()),
        },
        { additionalProperties: false, description: 'What its image policy chose last, or why nothing.' },
      ),
    ),
    approvalRequired: Type.Boolean(),
    healthyForSeconds: Type.Number(),
    currentImage: Type.Optional(Type.String({ description: 'The image of its latest Verified promotion.' })),
    lastPromotion: Type.Optional(
      Type.Object(
        {
          id: Type.String(),
          state: oneOf(PROMOTION_STATES),
          image: Type.String(),
          commit: Type.Optional(Type.String()),
          reason: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'An Environment, its current image and its latest promotion.' },
);
export type EnvironmentInfo = Static<typeof EnvironmentInfoSchema>;

export const EnvironmentListSchema = Type.Object(
  { items: Type.Array(EnvironmentInfoSchema) },
  { additionalProperties: false },
);

export const PromoteBodySchema = Type.Object(
  {
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'name@sha256:<64 hex>' })),
    fromRun: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'A Succeeded pipeline run: its (first) image.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of image and fromRun.' },
);
