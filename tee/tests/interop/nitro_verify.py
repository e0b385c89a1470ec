"""Verify an AWS Nitro Enclaves attestation document with python `cbor2` and `cryptography`
only: COSE_Sign1 ES384 over the Sig_structure, the cabundle chain from a pinned root (DER
equality) to the leaf, every certificate valid at the given time. Prints the document's fields
as JSON (bytes as hex).

usage: nitro_verify.py DOCUMENT ROOT_DER UNIX_SECS
"""
import datetime
import json
import sys

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils


def main() -> None:
    doc_path, root_path, now = sys.argv[1:4]
    at = datetime.datetime.fromtimestamp(int(now), tz=datetime.timezone.utc)
    with open(doc_path, "rb") as f:
        raw = f.read()
    with open(root_path, "rb") as f:
        pinned_root = f.read()
    sign1 = cbor2.loads(raw)
    if isinstance(sign1, cbor2.CBORTag):
        sign1 = sign1.value
    protected, unprotected, payload, signature = sign1
    header = cbor2.loads(protected)
    if header != {1: -35}:
        raise SystemExit(f"protected header is not ES384: {header}")
    doc = cbor2.loads(payload)
    if doc["digest"] != "SHA384":
        raise SystemExit("digest is not SHA384")

    leaf = x509.load_der_x509_certificate(doc["certificate"])
    bundle = [x509.load_der_x509_certificate(c) for c in doc["cabundle"]]
    if doc["cabundle"][0] != pinned_root:
        raise SystemExit("cabundle[0] is not the pinned root")
    chain = bundle + [leaf]
    chain[0].verify_directly_issued_by(chain[0])
    for parent, child in zip(chain, chain[1:]):
        child.verify_directly_issued_by(parent)
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise SystemExit(f"{cert.subject.rfc4514_string()} is not valid at {at}")

    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    half = len(signature) // 2
    der_sig = utils.encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
    leaf.public_key().verify(der_sig, to_sign, ec.ECDSA(hashes.SHA384()))

    def show(v):
        return v.hex() if isinstance(v, bytes) else v

    print(
        json.dumps(
            {
                "module_id": doc["module_id"],
                "timestamp": doc["timestamp"],
                "pcrs": {str(k): show(v) for k, v in doc["pcrs"].items()},
                "public_key": show(doc.get("public_key")),
                "user_data": show(doc.get("user_data")),
                "nonce": show(doc.get("nonce")),
                "root_subject": chain[0].subject.rfc4514_string(),
            }
        )
    )


if __name__ == "__main__":
    main()
