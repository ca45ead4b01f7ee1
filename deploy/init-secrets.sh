#!/usr/bin/env bash
# Creates what the compose stack's Docker secrets point at, under deploy/secrets/ (never committed; the directory is
# its owner's alone):
# random passwords for PostgreSQL, the bot's and the operator's MQTT accounts and Grafana's admin, the command
# signing secret, the database URL built from its password, empty exchange keys (paper; fill them for live or
# shadow mode), an alert webhook placeholder to replace, Mosquitto's password file for the two accounts and the
# certificates of its TLS listener.
# A file that exists is kept: run it again after adding an account or deleting a file to regenerate it.
#   deploy/init-secrets.sh            (needs openssl, and mosquitto_passwd or Docker and the stack's Mosquitto image)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir="$here/secrets"
mkdir -p "$dir"
# the directory is the lock (0700, its owner only); the files in it are 0644, because Compose mounts a file secret
# with the host file's owner and mode and the services run as users of their own (carrybot 10001, postgres,
# mosquitto, grafana) that must read theirs
chmod 700 "$dir"
umask 022

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
keep_or() {  # keep_or NAME VALUE: write VALUE to NAME unless NAME exists
  [ -e "$dir/$1" ] || printf '%s' "$2" >"$dir/$1"
}

for name in db_password mqtt_password operator_password command_secret grafana_admin_password; do
  keep_or "$name" "$(random)"
done
keep_or db_url "postgresql+asyncpg://carrybot:$(cat "$dir/db_password")@postgres:5432/carrybot"
keep_or binance_api_key ""
keep_or binance_secret ""
keep_or alert_webhook_url "https://hooks.example.invalid/replace-with-your-webhook"

if [ ! -e "$dir/mosquitto_passwd" ]; then  # made aside and moved in whole: a failed run leaves none, not an empty one
  new="$dir/mosquitto_passwd.new"
  rm -f "$new"
  : >"$new"
  if command -v mosquitto_passwd >/dev/null 2>&1; then
    mosquitto_passwd -b "$new" carrybot "$(cat "$dir/mqtt_password")"
    mosquitto_passwd -b "$new" operator "$(cat "$dir/operator_password")"
  else  # the passwords go in as environment variables of the one-off container, expanded there, never in argv
    docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/s" \
      -e BOT_PW="$(cat "$dir/mqtt_password")" -e OP_PW="$(cat "$dir/operator_password")" \
      "${MOSQUITTO_IMAGE:-eclipse-mosquitto:2}" \
      sh -c 'mosquitto_passwd -b /s/mosquitto_passwd.new carrybot "$BOT_PW" && mosquitto_passwd -b /s/mosquitto_passwd.new operator "$OP_PW"'
  fi
  mv "$new" "$dir/mosquitto_passwd"
fi

# the broker's TLS listener (8883, for operators' machines): a CA of the stack's own and a server certificate for
# the names the broker is reached by; operators' clients trust secrets/mqtt-ca.crt. Bring your own by putting
# mqtt-ca.crt, mqtt-server.crt and mqtt-server.key here before running the script.
if [ ! -e "$dir/mqtt-server.crt" ]; then
  tmp=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=carrybot stack CA" \
    -keyout "$tmp/ca.key" -out "$dir/mqtt-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mosquitto" -keyout "$dir/mqtt-server.key" -out "$tmp/server.csr" \
    2>/dev/null
  printf 'subjectAltName=DNS:mosquitto,DNS:localhost,IP:127.0.0.1\n' >"$tmp/ext"
  openssl x509 -req -in "$tmp/server.csr" -CA "$dir/mqtt-ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -days 825 \
    -extfile "$tmp/ext" -out "$dir/mqtt-server.crt" 2>/dev/null
  rm -rf "$tmp" "$dir/mqtt-ca.srl"  # the CA's key is not kept: a new certificate means a new CA
  chmod 644 "$dir/mqtt-server.key"  # openssl writes keys 0600; the broker's own user reads it in its container
fi
echo "deploy/secrets: $(ls "$dir" | tr '\n' ' ')"
