// The fake PipelineDirectory of the unit tests passes the same contract as KubePipelineDirectory on a
// real API server (test/integration/pipeline-directory.test.ts).
import { FakePipelineDirectory, FakePipelines } from '../../../src/testing/fake-pipeline-directory.ts';
import { pipelineDirectoryContract } from '../../../src/testing/pipeline-directory-contract.ts';

pipelineDirectoryContract('fake', {
  open: () => {
    const pipelines = new FakePipelines();
    return Promise.resolve({
      directory: (requestKey) =>
        new FakePipelineDirectory(pipelines, requestKey === undefined ? {} : { requestKey }),
      namespaces: ['team-a', 'team-b'],
      create: (object) => {
        pipelines.add(object);
        return Promise.resolve();
      },
      requests: (namespace, name) => Promise.resolve(pipelines.requests(namespace, name)),
      status: (namespace, name) => Promise.resolve(pipelines.status(namespace, name)),
    });
  },
});
