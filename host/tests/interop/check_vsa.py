#!/usr/bin/env python3
"""Parses a kiln VSA strictly with in-toto-attestation's protobuf types (pinned by
scripts/interop-setup):

    check_vsa.py VSA_FILE

The DSSE payload of the Sigstore bundle VSA_FILE is parsed with
json_format.Parse(ignore_unknown_fields=False) into in_toto_attestation.v1 Statement (then
validated), and its predicate the same way into predicates.vsa.v1 VerificationSummary; the
predicateType must be https://slsa.dev/verification_summary/v1 and the result PASSED.

in-toto-attestation 0.9.3 (the newest release) still declares verifiedLevels a single string,
while the SLSA specification makes it a list (in-toto/attestation#425, fixed by #429 after
that release); so verifiedLevels is checked here as the specification says (a non-empty list
of strings) and taken out of the copy the protobuf parses, every other field strictly.
Exit 0 and "OK ..." on success, 1 with the reason. The signature is check_dsse.py's job.
"""

import base64
import json
import sys
from pathlib import Path

from google.protobuf import json_format
from in_toto_attestation.predicates.vsa.v1 import vsa_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

VSA_V1 = "https://slsa.dev/verification_summary/v1"


def main(path: str) -> int:
    bundle = json.loads(Path(path).read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True)
    try:
        st = json_format.Parse(payload, statement_pb2.Statement(), ignore_unknown_fields=False)
        Statement.copy_from_pb(st).validate()
        if st.predicate_type != VSA_V1:
            raise ValueError(f"predicateType is {st.predicate_type!r}")
        predicate = json.loads(payload)["predicate"]
        levels = predicate.pop("verifiedLevels", None)
        if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
            raise ValueError(f"verifiedLevels is not a non-empty list of strings: {levels!r}")
        vsa = json_format.Parse(
            json.dumps(predicate), vsa_pb2.VerificationSummary(), ignore_unknown_fields=False
        )
        if vsa.verification_result != "PASSED":
            raise ValueError(f"verificationResult is {vsa.verification_result!r}")
        if not vsa.verifier.id or not vsa.resource_uri or not vsa.policy.uri:
            raise ValueError("verifier.id, resourceUri and policy.uri are required")
    except (json_format.ParseError, ValueError) as e:
        print(f"FAIL in-toto-attestation rejected the VSA: {type(e).__name__}: {e}")
        return 1
    print(
        f"OK in-toto-attestation parsed the VSA v1 ({len(st.subject)} subject(s), "
        f"levels {', '.join(levels)}, {len(vsa.input_attestations)} input attestations)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_vsa.py VSA_FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
