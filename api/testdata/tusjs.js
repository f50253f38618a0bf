// tusjs.js uploads TUS_FILE to TUS_ENDPOINT with tus-js-client (loaded
// from TUS_MODULE) in pieces of 64 KiB: it aborts the upload after two
// pieces, then resumes it from its URL with a new Upload (a HEAD, then
// PATCHes from the server's offset). Run by TestTusJSClient.
const tus = require(process.env.TUS_MODULE);
const fs = require('fs');

const data = fs.readFileSync(process.env.TUS_FILE);
const base = {
  endpoint: process.env.TUS_ENDPOINT,
  chunkSize: 65536,
  retryDelays: null,
  metadata: { filename: process.env.TUS_NAME, filetype: 'application/octet-stream' },
};

(async () => {
  const first = await new Promise((resolve, reject) => {
    const u = new tus.Upload(data, Object.assign({}, base, {
      onError: reject,
      onSuccess: () => reject(new Error('the upload finished before the abort')),
      onChunkComplete: (chunk, sent) => {
        if (sent >= 2 * base.chunkSize) {
          u.abort().then(() => resolve(u), reject);
        }
      },
    }));
    u.start();
  });
  console.log('aborted', first.url);
  const second = await new Promise((resolve, reject) => {
    const u = new tus.Upload(data, Object.assign({}, base, {
      uploadUrl: first.url,
      onError: reject,
      onSuccess: () => resolve(u),
    }));
    u.start();
  });
  console.log('done', second.url);
})().catch((e) => {
  console.error(String(e));
  process.exit(1);
});
