// The demo's sample application: a tiny HTTP server that says which version runs (the file VERSION
// beside it, built into the image). Plain Node.js, no dependencies. `capstan demo up --real-node`
// builds it once, and puts it in the demo git server's repository hello-http.git, whose Pipeline tests
// it and builds its image at each push to main (change VERSION, push: the new version answers).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { answer } from './answer.mjs';

const version = readFileSync(new URL('./VERSION', import.meta.url), 'utf8').trim();
const port = Number(process.env['PORT'] ?? '8080');

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(answer(req.url, version));
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
