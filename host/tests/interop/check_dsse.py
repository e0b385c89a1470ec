#!/usr/bin/env python3
"""Verifies the DSSE envelope of a kiln output with securesystemslib (pinned by
scripts/interop-setup), independently of kiln.

    check_dsse.py OUT_DIR

Reads OUT_DIR/provenance.sigstore.json (or the bundle named by $KILN_CHECK_BUNDLE, such as
sbom.spdx.sigstore.json) and OUT_DIR/public-key.pem (or the key named by $KILN_CHECK_KEY). The key id is computed
here, as SHA-256 of the key's DER SubjectPublicKeyInfo (kiln's documented key id), not taken
from the bundle, so a bundle naming another key is rejected. Exit 0 and "OK ..." when
securesystemslib's Envelope.verify accepts the signature; exit 1 with the reason otherwise.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main(out_dir: str) -> int:
    out = Path(out_dir)
    name = os.environ.get("KILN_CHECK_BUNDLE", "provenance.sigstore.json")
    bundle = json.loads((out / name).read_text())
    key_name = os.environ.get("KILN_CHECK_KEY", "public-key.pem")
    public = serialization.load_pem_public_key((out / key_name).read_bytes())
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keyid = hashlib.sha256(spki).hexdigest()
    key = SSlibKey.from_crypto(public, keyid=keyid, scheme="ecdsa-sha2-nistp256")

    # securesystemslib's DSSE JSON form is exactly the bundle's dsseEnvelope
    # ({payload, payloadType, signatures: [{keyid, sig}]}, standard base64).
    envelope = Envelope.from_dict(bundle["dsseEnvelope"])
    if envelope.payload_type != "application/vnd.in-toto+json":
        print(f"FAIL payloadType is {envelope.payload_type!r}")
        return 1
    try:
        accepted = envelope.verify([key], 1)
    except Exception as e:  # securesystemslib's VerificationError and anything else
        print(f"FAIL securesystemslib rejected the envelope: {type(e).__name__}: {e}")
        return 1
    statement = json.loads(envelope.payload)
    print(
        f"OK securesystemslib verified the DSSE envelope with key {sorted(accepted)[0]} "
        f"({statement['_type']}, {len(statement['subject'])} subject(s))"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_dsse.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
