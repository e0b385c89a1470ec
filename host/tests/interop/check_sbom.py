#!/usr/bin/env python3
"""Validates the SBOMs of a kiln output with the formats' own tools (pinned by
scripts/interop-setup into .tools/py-sbom and .tools/py):

    check_sbom.py OUT_DIR

- OUT_DIR/sbom.spdx.json: parsed by spdx-tools (pyspdxtools' parser) and validated with
  validate_full_spdx_document (SPDX 2.3);
- OUT_DIR/sbom.cyclonedx.json: cyclonedx-python-lib's JsonStrictValidator for schema 1.6
  (no unknown fields);
- OUT_DIR/sbom.spdx.sigstore.json and sbom.cyclonedx.sigstore.json: the DSSE payload parsed
  strictly into in-toto-attestation's Statement v1 protobuf and validated; its predicateType is
  the format's and its predicate is the plain document.

Exit 0 and "OK ..." when all pass; exit 1 with "FAIL <tool> ..." and the reason otherwise.
This checks formats; the signatures are check_dsse.py's and check_bundle.mjs's job.
"""

import base64
import json
import sys
from pathlib import Path


def spdx(path: Path) -> str:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    try:
        document = parse_file(str(path))
    except Exception as e:  # the parser raises SPDXParsingError with every message
        raise SystemExit(f"FAIL spdx-tools could not parse {path.name}: {e}")
    messages = validate_full_spdx_document(document, "SPDX-2.3")
    if messages:
        text = "; ".join(m.validation_message for m in messages[:5])
        raise SystemExit(f"FAIL spdx-tools: {len(messages)} validation error(s): {text}")
    return f"{len(document.packages)} packages, {len(document.relationships)} relationships"


def cyclonedx(path: Path) -> str:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = path.read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SystemExit(f"FAIL cyclonedx-python-lib: {error}")
    bom = json.loads(text)
    return f"{len(bom.get('components', []))} components"


def statement(out: Path, bundle_name: str, document_name: str, predicate_type: str) -> None:
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    bundle = json.loads((out / bundle_name).read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True)
    try:
        st = json_format.Parse(payload, statement_pb2.Statement(), ignore_unknown_fields=False)
        Statement.copy_from_pb(st).validate()
    except (json_format.ParseError, ValueError) as e:
        raise SystemExit(f"FAIL in-toto-attestation rejected {bundle_name}: {type(e).__name__}: {e}")
    if st.predicate_type != predicate_type:
        raise SystemExit(f"FAIL in-toto-attestation: {bundle_name} predicateType {st.predicate_type!r}")
    if json.loads(payload)["predicate"] != json.loads((out / document_name).read_text()):
        raise SystemExit(f"FAIL in-toto-attestation: the predicate of {bundle_name} is not {document_name}")


def main(out_dir: str) -> int:
    out = Path(out_dir)
    spdx_summary = spdx(out / "sbom.spdx.json")
    cdx_summary = cyclonedx(out / "sbom.cyclonedx.json")
    statement(out, "sbom.spdx.sigstore.json", "sbom.spdx.json", "https://spdx.dev/Document")
    statement(out, "sbom.cyclonedx.sigstore.json", "sbom.cyclonedx.json", "https://cyclonedx.org/bom")
    print(
        f"OK spdx-tools validated SPDX 2.3 ({spdx_summary}); cyclonedx-python-lib validated "
        f"CycloneDX 1.6 strictly ({cdx_summary}); in-toto-attestation parsed both statements"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_sbom.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code)
            sys.exit(1)
        raise
