#!/bin/sh
# One-off (vdsm-pki): the certificates for mutual TLS between the worker and the VDSM simulator,
# as the engine and VDSM use them. VDSM's broker lets any connected peer subscribe to any
# destination (and so read or answer other clients' requests): only a client certificate signed by
# the engine CA keeps strangers out, so the simulator runs with mTLS here as VDSM does.
#
#   vdsm-pki.sh CA_DIR SIM_DIR WORKER_DIR [OWNER]
#
# CA_DIR keeps the CA key (only this job mounts it); SIM_DIR gets the simulator's certificate, key
# and the CA certificate (to check clients); WORKER_DIR the worker's. Certificates are made once:
# a later run with the files present changes nothing. OWNER (uid:gid) owns the service files, so
# the image's unprivileged user can read its key. Server names: $VDSM_PKI_SERVER_NAMES
# (subjectAltName entries; default DNS:vdsm-sim,DNS:localhost,IP:127.0.0.1).
set -eu
ca_dir="$1"
sim_dir="$2"
worker_dir="$3"
owner="${4:-}"
names="${VDSM_PKI_SERVER_NAMES:-DNS:vdsm-sim,DNS:localhost,IP:127.0.0.1}"
days=3650
umask 077
mkdir -p "$ca_dir" "$sim_dir" "$worker_dir"

if [ ! -f "$ca_dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
    -subj '/CN=ovirt-tasks engine CA' -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.pem" 2>/dev/null
fi

# issue DIR NAME CN EXTENSIONS: a key and a certificate signed by the CA, and the CA certificate.
issue() {
  dir="$1"
  if [ ! -f "$dir/$2.pem" ]; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$3" \
      -keyout "$dir/$2.key" -out "$dir/$2.csr" 2>/dev/null
    printf '%s\n' "$4" >"$dir/$2.ext"
    openssl x509 -req -in "$dir/$2.csr" -CA "$ca_dir/ca.pem" -CAkey "$ca_dir/ca.key" \
      -CAcreateserial -days "$days" -extfile "$dir/$2.ext" -out "$dir/$2.pem" 2>/dev/null
    rm -f "$dir/$2.csr" "$dir/$2.ext"
  fi
  cp "$ca_dir/ca.pem" "$dir/ca.pem"
  chmod 0644 "$dir/$2.pem" "$dir/ca.pem"
  chmod 0600 "$dir/$2.key"
  if [ -n "$owner" ]; then chown "$owner" "$dir" "$dir/$2.pem" "$dir/$2.key" "$dir/ca.pem"; fi
}

issue "$sim_dir" vdsm-sim vdsm-sim "subjectAltName=$names
extendedKeyUsage=serverAuth"
issue "$worker_dir" worker ovirt-tasks-worker 'extendedKeyUsage=clientAuth'
echo "vdsm-pki: certificates in $sim_dir and $worker_dir (CA $ca_dir/ca.pem)"
