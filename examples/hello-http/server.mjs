// The demo's sample application: a tiny HTTP server that says which version runs (the VERSION
// environment variable, set by the Deployment in the demo's git repository). Plain Node.js, no
// dependencies; built into an image on the Node.js runtime base by `capstan demo up --real-node`.
import { createServer } from 'node:http';

const version = process.env['VERSION'] ?? 'unset';
const port = Number(process.env['PORT'] ?? '8080');

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok\n' : `hello from Capstan's demo, version ${version}\n`);
});
server.listen(port, () => {
  console.log(`hello-http version ${version} listening on :${String(port)}`);
});
process.on('SIGTERM', () => {
  server.close(() => {
    process.exit(0);
  });
  server.closeAllConnections();
});
