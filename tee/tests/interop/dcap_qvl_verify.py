"""Verify a TDX quote with its QuoteCollateralV3 JSON using Phala's dcap-qvl (PyPI bindings),
anchored at a given root CA, at a given time. Prints the verified report as JSON.

usage: dcap_qvl_verify.py QUOTE COLLATERAL_JSON ROOT_DER UNIX_SECS
"""
import json
import sys

import dcap_qvl


def main() -> None:
    quote_path, collateral_path, root_path, now = sys.argv[1:5]
    with open(collateral_path, encoding="utf-8") as f:
        c = json.load(f)
    collateral = dcap_qvl.QuoteCollateralV3(
        c["pck_crl_issuer_chain"],
        bytes.fromhex(c["root_ca_crl"]),
        bytes.fromhex(c["pck_crl"]),
        c["tcb_info_issuer_chain"],
        c["tcb_info"],
        bytes.fromhex(c["tcb_info_signature"]),
        c["qe_identity_issuer_chain"],
        c["qe_identity"],
        bytes.fromhex(c["qe_identity_signature"]),
    )
    with open(quote_path, "rb") as f:
        quote = f.read()
    with open(root_path, "rb") as f:
        root = f.read()
    report = dcap_qvl.verify_with_root_ca(quote, collateral, root, int(now))
    print(report.to_json())


if __name__ == "__main__":
    main()
