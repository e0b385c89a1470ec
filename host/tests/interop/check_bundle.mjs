// Verifies the Sigstore bundle of a kiln output offline with the npm @sigstore/verify
// (pinned by scripts/interop-setup into .tools/npm), independently of kiln.
//
//     node check_bundle.mjs OUT_DIR [NODE_MODULES_PARENT]
//
// NODE_MODULES_PARENT (default: the repository's .tools/npm) holds node_modules/@sigstore/*.
// The bundle is parsed and checked as a v0.3 bundle by @sigstore/bundle (bundleFromJSON,
// assertBundleLatest), turned into a signed entity by @sigstore/verify's toSignedEntity, and
// verified by its Verifier with a trust material that knows one public key: public-key.pem,
// under the key id computed here (SHA-256 of its DER SubjectPublicKeyInfo). No transparency
// log, CT log or timestamp is required (kiln's bundle has none: tlogThreshold,
// ctlogThreshold and timestampThreshold are 0). Exit 0 and "OK ..." when it verifies, 1 with
// the reason otherwise.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [outDir, prefixArg] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node check_bundle.mjs OUT_DIR [NODE_MODULES_PARENT]');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const prefix = resolve(prefixArg ?? join(here, '..', '..', '..', '.tools', 'npm'));
const require = createRequire(join(prefix, 'package.json'));
const { bundleFromJSON, assertBundleLatest } = require('@sigstore/bundle');
const { toSignedEntity, Verifier } = require('@sigstore/verify');
const verifyVersion = require('@sigstore/verify/package.json').version;

// The provenance's bundle, or another of the output's (KILN_CHECK_BUNDLE=sbom.spdx.sigstore.json).
const bundleName = process.env.KILN_CHECK_BUNDLE ?? 'provenance.sigstore.json';
const json = JSON.parse(readFileSync(join(outDir, bundleName), 'utf8'));
const publicKey = createPublicKey(
  readFileSync(join(outDir, process.env.KILN_CHECK_KEY ?? 'public-key.pem')),
);
const keyId = createHash('sha256')
  .update(publicKey.export({ type: 'spki', format: 'der' }))
  .digest('hex');

const trustMaterial = {
  certificateAuthorities: [],
  timestampAuthorities: [],
  tlogs: [],
  ctlogs: [],
  publicKey(hint) {
    if (hint !== keyId) {
      throw new Error(`bundle names key ${JSON.stringify(hint)}, public-key.pem is ${keyId}`);
    }
    return { publicKey, validFor: () => true };
  },
};

try {
  const bundle = bundleFromJSON(json);
  assertBundleLatest(bundle);
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new Error(`bundle content is ${bundle.content.$case}, not a DSSE envelope`);
  }
  const verifier = new Verifier(trustMaterial, {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    timestampThreshold: 0,
  });
  verifier.verify(toSignedEntity(bundle));
  const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
  console.log(
    `OK @sigstore/verify ${verifyVersion} verified the bundle (${json.mediaType}) offline ` +
      `with key ${keyId} (${statement._type}, ${statement.subject.length} subject(s))`,
  );
} catch (e) {
  console.log(`FAIL @sigstore/verify ${verifyVersion} rejected the bundle: ${e.name}: ${e.message}`);
  process.exit(1);
}
