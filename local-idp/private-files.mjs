// Owner-only files, written atomically (the same rules as chalicelib/private_files.py):
// directories 0700, files 0600.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export function privateDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  return dir;
}

export function writePrivateJson(file, value) {
  privateDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value), { mode: FILE_MODE, flag: 'wx' });
  fs.renameSync(tmp, file);
}

export function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    if (err instanceof SyntaxError) return undefined; // a torn file is treated as absent
    throw err;
  }
}

export function removeFile(file) {
  fs.rmSync(file, { force: true });
}

/** Read `file`, or create it with `make()` (0600) on first start. */
export function loadOrCreate(file, make) {
  const existing = readJson(file);
  if (existing !== undefined) return existing;
  const value = make();
  writePrivateJson(file, value);
  return value;
}

export function sha256(value) {
  return crypto.createHash('sha256').update(String(value), 'utf8').digest();
}
