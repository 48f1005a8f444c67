// Writes <file>.gz next to every js/css/html/svg file in dist/ larger than 1 KiB,
// so the server can answer Accept-Encoding: gzip without compressing per request.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const MIN_SIZE = 1024;
const EXT = /\.(js|css|html|svg)$/;

let count = 0;
let before = 0;
let after = 0;
for (const entry of await readdir(DIST, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !EXT.test(entry.name)) continue;
  const file = join(entry.parentPath, entry.name);
  if ((await stat(file)).size <= MIN_SIZE) continue;
  const data = await readFile(file);
  const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
  await writeFile(`${file}.gz`, gz);
  count += 1;
  before += data.length;
  after += gz.length;
}
console.log(`gzip: ${count} files, ${(before / 1024).toFixed(1)} KiB -> ${(after / 1024).toFixed(1)} KiB`);
