#!/bin/sh
# The compose stack's broker start (deploy/docker-compose.yml, service kafka): a private
# copy of server.properties with the admin's JAAS lines, the storage formatted on the
# first start with the admin's SCRAM credential (KRaft keeps credentials in its metadata
# log, so the first one must exist before the broker serves), then Kafka itself.
# The admin's password comes from the secret file and is written only to the private copy
# (mode 0600, on the container's tmpfs); it may hold letters, digits and ._~- only
# (`openssl rand -hex 24`): JAAS and the storage tool have no quoting of their own.
set -eu
bin=${KAFKA_BIN:-/opt/kafka/bin}
config=${KAFKA_CONFIG:-/etc/kafka/dossierflow/server.properties}
secrets=${KAFKA_SECRETS:-/run/secrets}
runtime=${KAFKA_RUNTIME_DIR:-/tmp/dossierflow}

last() { sed -n "s/^$1=//p" "$config" | tail -n 1; }   # a properties file's last value wins
data=$(last log.dirs)
admin=$(last super.users | sed 's/^User://')
password=$(cat "$secrets/kafka-admin-password")   # $(...) drops the trailing newline
case $password in
    '' | *[!A-Za-z0-9._~-]*)
        echo "start.sh: $secrets/kafka-admin-password must hold letters, digits and ._~- only" >&2
        exit 78 ;;
esac
case ${CLUSTER_ID:-} in
    '') echo "start.sh: set CLUSTER_ID (a base64url UUID)" >&2; exit 78 ;;
esac

umask 077
mkdir -p "$runtime"
properties=$runtime/server.properties
{
    cat "$config"
    echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$admin\" password=\"$password\";"
    echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$admin\" password=\"$password\" user_$admin=\"$password\";"
} > "$properties"
if [ ! -f "$data/meta.properties" ]; then
    "$bin/kafka-storage.sh" format --cluster-id "$CLUSTER_ID" --config "$properties" \
        --add-scram "SCRAM-SHA-512=[name=$admin,password=$password]"
fi
exec "$bin/kafka-server-start.sh" "$properties"
