#!/usr/bin/env bash
# Makes the test CA and the two leaf certificates of tests/tls (see README.md).
# Run from this directory; overwrites the files. The checked-in files are what
# the tests use: running this again makes new keys, and the tests read them.
set -euo pipefail
cd "$(dirname "$0")"
days=36500  # 100 years: the tests must not start failing one day

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days "$days" -sha256 \
    -subj "/CN=pushwire test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"

leaf() { # leaf NAME CN
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
    cat >"$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out "$1.pem" -days "$days" -sha256 -extfile "$1.ext"
    rm -f "$1.csr" "$1.ext"
    # The chain a server sends: the leaf, then the CA.
    cat "$1.pem" ca.pem >"$1-chain.pem"
}
leaf leaf "localhost"
leaf leaf2 "localhost (second)"
rm -f ca.srl
