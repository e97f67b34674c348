// Keys the local providers keep across restarts: an RS256 signing key per issuer (with an
// RFC 7638 thumbprint as its `kid`), generated on first start into an owner-only file.

import crypto from 'node:crypto';

import { loadOrCreate } from './private-files.mjs';

export function jwkThumbprint(jwk) {
  // RFC 7638: SHA-256 over the required members in lexicographic order.
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

/** The private JWK in `file`, created (RSA-2048) on first start. */
export function loadOrCreateSigningKey(file) {
  return loadOrCreate(file, () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    return { ...jwk, kid: jwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
  });
}
