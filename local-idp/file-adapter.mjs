// node-oidc-provider's storage in JSON files, so that sessions, grants and tokens survive a
// restart: one owner-only file per record under <store>/<Model>/, named by a hash of the id
// (a directory listing shows no token), plus small indexes for session uids, user codes and
// the records of a grant. Synchronous I/O keeps each read-modify-write whole.

import fs from 'node:fs';
import path from 'node:path';

import {
  readJson, removeFile, sha256, writePrivateJson,
} from './private-files.mjs';

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

const nowSeconds = () => Math.floor(Date.now() / 1000);

function readLive(file) {
  const record = readJson(file);
  if (!record) return undefined;
  if (record.expiresAt && record.expiresAt <= nowSeconds()) {
    removeFile(file);
    return undefined;
  }
  return record;
}

/** The adapter class node-oidc-provider instantiates per model, storing under `storeDir`. */
export function fileAdapter(storeDir) {
  const fileFor = (kind, id) => path.join(storeDir, kind, `${sha256(id).toString('hex')}.json`);

  return class FileAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? nowSeconds() + expiresIn : undefined;
      writePrivateJson(fileFor(this.model, id), { payload, expiresAt });
      if (this.model === 'Session' && payload.uid) {
        writePrivateJson(fileFor('SessionUid', payload.uid), { id, expiresAt });
      }
      if (payload.userCode) {
        writePrivateJson(fileFor('UserCode', payload.userCode), { id, expiresAt });
      }
      if (GRANTABLE.has(this.model) && payload.grantId) {
        const indexFile = fileFor('Grant-records', payload.grantId);
        const index = readJson(indexFile) || { records: [] };
        index.records.push([this.model, id]);
        const expiries = [index.expiresAt, expiresAt].filter(Boolean);
        index.expiresAt = expiries.length ? Math.max(...expiries) : undefined;
        writePrivateJson(indexFile, index);
      }
    }

    async find(id) {
      return readLive(fileFor(this.model, id))?.payload;
    }

    async findByUid(uid) {
      const entry = readLive(fileFor('SessionUid', uid));
      return entry ? this.find(entry.id) : undefined;
    }

    async findByUserCode(userCode) {
      const entry = readLive(fileFor('UserCode', userCode));
      return entry ? this.find(entry.id) : undefined;
    }

    async consume(id) {
      const file = fileFor(this.model, id);
      const record = readLive(file);
      if (record) {
        record.payload.consumed = nowSeconds();
        writePrivateJson(file, record);
      }
    }

    async destroy(id) {
      removeFile(fileFor(this.model, id));
    }

    async revokeByGrantId(grantId) {
      const indexFile = fileFor('Grant-records', grantId);
      const index = readJson(indexFile);
      for (const [model, id] of index?.records || []) removeFile(fileFor(model, id));
      removeFile(indexFile);
    }
  };
}

/** Expired records are dropped at start (and whenever one is read). */
export function sweepExpired(storeDir) {
  let removed = 0;
  for (const kind of fs.readdirSync(storeDir)) {
    const dir = path.join(storeDir, kind);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (name.endsWith('.tmp')) {
        removeFile(file);
      } else if (name.endsWith('.json') && !readLive(file)) {
        removed += 1;
      }
    }
  }
  return removed;
}
