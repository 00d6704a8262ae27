// What hello-http answers: its health at /healthz, else a greeting that says which version runs.
export function answer(path, version) {
  return path === '/healthz' ? 'ok\n' : `hello from Capstan's demo, version ${version}\n`;
}
