/**
 * The contract every PolicyImages passes (DESIGN.md, "Tests": one contract suite per port, run against
 * the real adapter and any fake): every tag listed, a tag's digest as pushed, a tag pushed again
 * moved to its new digest, a tag the repository lacks refused. The fake (fake-policy-images.ts) runs
 * it in the unit tier; the OCI adapter against a real registry (test/integration/image-policy.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedEnvironment } from '../contracts/environment.ts';
import type { PolicyImages } from '../ports/policy-images.ts';

export interface PolicyImagesHarness {
  readonly images: PolicyImages;
  /** An Environment whose policy names an empty repository of its own. */
  readonly environment: ResolvedEnvironment;
  /** Pushes an image of its own under `tag` of that repository; resolves with its digest. */
  push(tag: string): Promise<string>;
}

export function policyImagesContract(name: string, open: () => Promise<PolicyImagesHarness>): void {
  describe(`PolicyImages contract: ${name}`, () => {
    it('lists every tag, gives each tag’s digest, follows a tag pushed again, refuses a missing one', async () => {
      const h = await open();
      const env = h.environment;
      const policy = env.fromImagePolicy;
      assert.ok(policy, 'the harness’s Environment follows a repository');
      const pushed = new Map<string, string>();
      for (const tag of ['1.0.0', '1.1.0', 'latest']) pushed.set(tag, await h.push(tag));
      assert.deepEqual([...(await h.images.tags(env, policy))].sort(), ['1.0.0', '1.1.0', 'latest']);
      for (const [tag, digest] of pushed) {
        assert.match(digest, /^sha256:[0-9a-f]{64}$/);
        assert.equal(await h.images.digest(env, policy, tag), digest, tag);
      }
      const moved = await h.push('latest');
      assert.notEqual(moved, pushed.get('latest'), 'the harness pushes another image');
      assert.equal(await h.images.digest(env, policy, 'latest'), moved, 'the tag moved');
      assert.equal((await h.images.tags(env, policy)).length, 3);
      await assert.rejects(h.images.digest(env, policy, '9.9.9'));
    });
  });
}
