#!/usr/bin/env python3
"""Parses the in-toto Statement v1 and its SLSA Provenance v1 predicate of a kiln output
strictly with in-toto-attestation's protobuf types (pinned by scripts/interop-setup).

    check_statement.py OUT_DIR

The DSSE payload of OUT_DIR/provenance.sigstore.json is parsed with
google.protobuf.json_format.Parse(ignore_unknown_fields=False) into
in_toto_attestation.v1.statement_pb2.Statement, then validated with the package's
Statement.validate(); the predicate is re-serialised and parsed the same way into
in_toto_attestation.predicates.provenance.v1.provenance_pb2.Provenance. in-toto-attestation
0.9.3 has no Python validate() for the provenance, so the checks of the reference Go
implementation (provenance.go: buildDefinition, buildType, externalParameters, runDetails,
builder, builder.id required; every ResourceDescriptor valid) are applied here, through the
package's ResourceDescriptor.validate(). Exit 0 and "OK ..." on success, 1 with the reason.

This checks the format only; the signature is check_dsse.py's and check_bundle.mjs's job.
"""

import base64
import json
import sys
from pathlib import Path

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


def validate_provenance(p) -> None:
    if not p.HasField("build_definition"):
        raise ValueError("buildDefinition required")
    bd = p.build_definition
    if bd.build_type == "":
        raise ValueError("buildDefinition.buildType required")
    if len(bd.external_parameters) == 0:
        raise ValueError("buildDefinition.externalParameters required")
    for i, rd in enumerate(bd.resolved_dependencies):
        try:
            ResourceDescriptor.copy_from_pb(rd).validate()
        except ValueError as e:
            raise ValueError(f"buildDefinition.resolvedDependencies[{i}]: {e}") from e
    if not p.HasField("run_details"):
        raise ValueError("runDetails required")
    rd = p.run_details
    if not rd.HasField("builder"):
        raise ValueError("runDetails.builder required")
    if rd.builder.id == "":
        raise ValueError("runDetails.builder.id required")
    for what, items in (
        ("runDetails.builder.builderDependencies", rd.builder.builder_dependencies),
        ("runDetails.byproducts", rd.byproducts),
    ):
        for i, d in enumerate(items):
            try:
                ResourceDescriptor.copy_from_pb(d).validate()
            except ValueError as e:
                raise ValueError(f"{what}[{i}]: {e}") from e


def main(out_dir: str) -> int:
    bundle = json.loads((Path(out_dir) / "provenance.sigstore.json").read_text())
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"], validate=True)
    try:
        statement = json_format.Parse(
            payload, statement_pb2.Statement(), ignore_unknown_fields=False
        )
        Statement.copy_from_pb(statement).validate()
        if statement.predicate_type != SLSA_PROVENANCE_V1:
            raise ValueError(f"predicateType is {statement.predicate_type!r}")
        predicate = json.dumps(json.loads(payload)["predicate"])
        provenance = json_format.Parse(
            predicate, provenance_pb2.Provenance(), ignore_unknown_fields=False
        )
        validate_provenance(provenance)
    except (json_format.ParseError, ValueError) as e:
        print(f"FAIL in-toto-attestation rejected the statement: {type(e).__name__}: {e}")
        return 1
    rd = provenance.run_details
    print(
        f"OK in-toto-attestation parsed Statement v1 ({len(statement.subject)} subject(s)) "
        f"and SLSA Provenance v1 (buildType {provenance.build_definition.build_type}, "
        f"builder {rd.builder.id}, "
        f"{len(provenance.build_definition.resolved_dependencies)} resolved dependencies, "
        f"{len(rd.byproducts)} byproducts)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_statement.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
