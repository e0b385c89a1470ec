"""Verify an SEV-SNP report with python `cryptography` only: ARK self-signature, ARK -> ASK
-> VCEK with RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48), and the report's ECDSA P-384
signature over bytes 0..0x2A0 (r and s little-endian, 72 bytes each). Prints report fields as
JSON.

usage: snp_verify.py REPORT VCEK_DER CHAIN_PEM ROOT_DER
"""
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.serialization import Encoding


def pss_verify(issuer: x509.Certificate, cert: x509.Certificate) -> None:
    issuer.public_key().verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
        hashes.SHA384(),
    )


def main() -> None:
    report_path, vcek_path, chain_path, root_path = sys.argv[1:5]

    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    report = read(report_path)
    vcek = x509.load_der_x509_certificate(read(vcek_path))
    ask, ark = x509.load_pem_x509_certificates(read(chain_path))
    if ark.public_bytes(Encoding.DER) != read(root_path):
        raise SystemExit("chain.pem's ARK is not root.der")
    pss_verify(ark, ark)
    pss_verify(ark, ask)
    pss_verify(ask, vcek)
    if len(report) != 1184:
        raise SystemExit(f"report is {len(report)} bytes")
    r = int.from_bytes(report[0x2A0 : 0x2A0 + 72], "little")
    s = int.from_bytes(report[0x2E8 : 0x2E8 + 72], "little")
    vcek.public_key().verify(
        utils.encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384())
    )
    print(
        json.dumps(
            {
                "version": int.from_bytes(report[0:4], "little"),
                "report_data": report[0x50:0x90].hex(),
                "measurement": report[0x90:0xC0].hex(),
                "chip_id": report[0x1A0:0x1E0].hex(),
                "ask": ask.subject.rfc4514_string(),
            }
        )
    )


if __name__ == "__main__":
    main()
