#!/bin/sh
# The compose stack's Kafka certificates, made on the host, never committed:
#   sh deploy/kafka/make-certs.sh [FOLDER [NAME...]]
# FOLDER (default deploy/site/secrets/kafka) receives
#   ca.pem        the private CA's certificate: every client trusts it (DOSSIERFLOW_KAFKA_SSL_CAFILE)
#   keystore.pem  the broker's key (PKCS#8, unencrypted) and certificate chain, as Kafka's
#                 ssl.keystore.type=PEM reads it: the broker's only
#   ca-key.pem    the CA's key: keep it off the Docker host once the certificates are made
# The broker's certificate names each NAME (default: kafka, its compose service name; an
# IPv4 address becomes an IP name). Valid 825 days; run again to renew (a new CA: restart
# every service). Files are created 0600; give keystore.pem to the broker's user (uid
# 1000 in apache/kafka), ca.pem 0644 (not a secret).
set -eu
folder=${1:-deploy/site/secrets/kafka}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- kafka
names=""
for name in "$@"; do
    case $name in
        *[!0-9.]*) names="${names:+$names,}DNS:$name" ;;
        *) names="${names:+$names,}IP:$name" ;;
    esac
done
umask 077
mkdir -p "$folder"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 825 \
    -subj "/O=dossierflow/CN=dossierflow Kafka CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$folder/ca-key.pem" -out "$folder/ca.pem" 2>/dev/null
openssl req -new -newkey rsa:3072 -nodes -sha256 -subj "/O=dossierflow/CN=$1" \
    -keyout "$work/broker-key.pem" -out "$work/broker.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
    "$names" > "$work/broker.ext"
openssl x509 -req -in "$work/broker.csr" -CA "$folder/ca.pem" -CAkey "$folder/ca-key.pem" \
    -CAcreateserial -CAserial "$work/ca.srl" -days 825 -sha256 -extfile "$work/broker.ext" \
    -out "$work/broker.pem" 2>/dev/null
# Kafka's PEM keystore wants a PKCS#8 key followed by the chain.
openssl pkcs8 -topk8 -nocrypt -in "$work/broker-key.pem" > "$work/keystore.pem"
cat "$work/broker.pem" "$folder/ca.pem" >> "$work/keystore.pem"
mv "$work/keystore.pem" "$folder/keystore.pem"
chmod 0644 "$folder/ca.pem"
echo "make-certs.sh: $folder/ca.pem, $folder/keystore.pem for $names (CA key: $folder/ca-key.pem)"
