// The benchmark's peer: node-oidc-provider issuing RS256 JWT access tokens with the
// client_credentials grant (RFC 6749 §4.4), one confidential client (client_secret_basic),
// in-memory adapter, 127.0.0.1 only. Started and stopped by bench/peer_bench.py.
//
// usage: node server.js [port]   (or PORT=...; 0 or nothing picks a free port)
// The client's secret comes from PEER_CLIENT_SECRET (a random one, printed to stderr, otherwise).
// Prints one line of JSON when it listens: {"ready": true, "url", "token_endpoint", ...}.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

import { Provider } from 'oidc-provider';

const HOST = '127.0.0.1';
const port = Number.parseInt(process.argv[2] ?? process.env.PORT ?? '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${process.argv[2] ?? process.env.PORT}`);
  process.exit(2);
}

const clientId = process.env.PEER_CLIENT_ID || 'bench-client';
let clientSecret = process.env.PEER_CLIENT_SECRET;
if (!clientSecret) {
  clientSecret = randomBytes(32).toString('base64url');
  console.error(`client secret: ${clientSecret}`);
}
const resource = 'urn:vaultguard:bench:api';

// A fresh RSA-2048 signing key per start, as VaultGuard's own key is one RSA-2048 key.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };

const { version } = JSON.parse(
  readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url), 'utf8'),
);

function configuration() {
  return {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [signingKey] },
    // The default adapter keeps everything in memory (an LRU inside the process).
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter: the token is for this one API, as VaultGuard's API tokens are.
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          audience: resource,
          scope: 'api',
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    scopes: ['api'],
    ttl: { ClientCredentials: 900 },
  };
}

// Listen first (port 0 gets a free one), then build the provider with the real issuer URL.
const server = createServer();
server.keepAliveTimeout = 60_000; // the load generator keeps its connections open between requests
server.listen(port, HOST, () => {
  const actual = server.address().port;
  const issuer = `http://${HOST}:${actual}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(JSON.stringify({
    ready: true,
    url: issuer,
    token_endpoint: `${issuer}/token`,
    client_id: clientId,
    resource,
    oidc_provider: version,
    node: process.version,
  }));
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
