#!/usr/bin/env bash
# A throwaway Kubernetes control plane on loopback for the cluster tests.
#
#   scripts/cluster.sh up DIR     start one; its admin kubeconfig is DIR/kubeconfig
#   scripts/cluster.sh down DIR   stop it
#   scripts/cluster.sh source     say where a control plane would come from (exit 1: nowhere)
#   scripts/cluster.sh up-restartable DIR
#                                 start one from envtest-style assets (KUBEBUILDER_ASSETS, else
#                                 `../shared/k8s/cluster assets`), whose kube-apiserver can be
#                                 stopped and started again on the same data and port:
#   scripts/cluster.sh apiserver-stop DIR
#   scripts/cluster.sh apiserver-start DIR   (returns once it answers /readyz)
#
# Where the binaries come from, in order:
#   1. KUBEBUILDER_ASSETS (envtest's layout, e.g. from `setup-envtest use -p path`): etcd and
#      kube-apiserver, and kube-controller-manager when the directory has it (envtest's assets do
#      not: garbage collection and namespace deletion then never finish, and the tests that need
#      them say so);
#   2. ../shared/k8s/cluster next to this repository, which starts all three.
# A user's own cluster needs none of this: CURATOR_TEST_KUBECONFIG=path runs the tests there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared="$here/../../shared/k8s/cluster"

source_of() {
  if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    echo "KUBEBUILDER_ASSETS ($KUBEBUILDER_ASSETS)"
  elif [[ -x "$shared" ]]; then
    echo "../shared/k8s/cluster"
  else
    echo "none: set CURATOR_TEST_KUBECONFIG or KUBEBUILDER_ASSETS, or check out ../shared/k8s" >&2
    return 1
  fi
}

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Own start from envtest-style assets: etcd, kube-apiserver, and kube-controller-manager if present.
assets_up() {
  local dir=$1 bin=$KUBEBUILDER_ASSETS
  for b in etcd kube-apiserver; do
    [[ -x "$bin/$b" ]] || { echo "$bin/$b is missing" >&2; return 1; }
  done
  mkdir -p "$dir/pki" "$dir/logs" "$dir/data"
  local pki=$dir/pki
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=test-ca -keyout ca.key -out ca.crt 2>/dev/null
    issue() { # name subject extensions
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile <(printf '%s\n' "$3") -out "$1.crt" 2>/dev/null
    }
    issue server /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,DNS:localhost"
    issue admin "/O=system:masters/CN=test-admin" "extendedKeyUsage=clientAuth"
    issue manager /CN=system:kube-controller-manager "extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  local etcd_port peer_port api_port
  etcd_port=$(port) peer_port=$(port) api_port=$(port)
  local url="https://127.0.0.1:$api_port"
  write_kubeconfig "$dir/kubeconfig" "$url" "$pki" admin
  write_kubeconfig "$dir/manager.kubeconfig" "$url" "$pki" manager
  : >"$dir/pids"
  # Real etcd insists on an advertised URL when the listen URL is set; passed by environment,
  # which the minimal etcd builds that some asset sets carry simply ignore.
  ETCD_ADVERTISE_CLIENT_URLS="http://127.0.0.1:$etcd_port" \
    "$bin/etcd" --data-dir "$dir/data/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" >"$dir/logs/etcd.log" 2>&1 &
  echo $! >>"$dir/pids"
  # The API server's command line is kept in DIR/apiserver.sh, so that it can be started
  # again on the same data, port and certificates (apiserver-stop / apiserver-start).
  cat >"$dir/apiserver.sh" <<EOF
exec "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \\
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \\
  --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \\
  --client-ca-file "$pki/ca.crt" --authorization-mode RBAC \\
  --service-account-issuer https://kubernetes.default.svc \\
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \\
  --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \\
  --cert-dir "$dir/data/apiserver"
EOF
  echo "$url" >"$dir/url"
  apiserver_start "$dir"
  if [[ -x "$bin/kube-controller-manager" ]]; then
    "$bin/kube-controller-manager" --kubeconfig "$dir/manager.kubeconfig" \
      --authentication-kubeconfig "$dir/manager.kubeconfig" \
      --authorization-kubeconfig "$dir/manager.kubeconfig" \
      --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
      --use-service-account-credentials --leader-elect=false --bind-address 127.0.0.1 \
      --secure-port 0 --cert-dir "$dir/data/manager" >"$dir/logs/kube-controller-manager.log" 2>&1 &
    echo $! >>"$dir/pids"
  fi
}

admin_curl() { # dir path
  curl -sf --cacert "$1/pki/ca.crt" --cert "$1/pki/admin.crt" --key "$1/pki/admin.key" "$(cat "$1/url")$2"
}

apiserver_start() {
  local dir=$1
  bash "$dir/apiserver.sh" >>"$dir/logs/kube-apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
  echo $! >>"$dir/pids"
  for _ in $(seq 1 240); do admin_curl "$dir" /readyz >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "kube-apiserver not ready; see $dir/logs" >&2
  return 1
}

apiserver_stop() {
  local dir=$1 p
  p=$(cat "$dir/apiserver.pid")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$p" 2>/dev/null || true
}

write_kubeconfig() { # file url pki user
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "$2", certificate-authority: "$3/ca.crt"}}]
users: [{name: $4, user: {client-certificate: "$3/$4.crt", client-key: "$3/$4.key"}}]
contexts: [{name: test, context: {cluster: test, user: $4, namespace: default}}]
current-context: test
EOF
}

up() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  source_of >/dev/null
  if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    assets_up "$dir"
    echo "assets" >"$dir/source"
  else
    "$shared" up "$dir" >/dev/null
    echo "shared" >"$dir/source"
  fi
}

up_restartable() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -z "${KUBEBUILDER_ASSETS:-}" ]]; then
    [[ -x "$shared" ]] || { source_of >/dev/null; return 1; }
    KUBEBUILDER_ASSETS=$("$shared" assets)
    export KUBEBUILDER_ASSETS
  fi
  echo "assets" >"$dir/source"
  assets_up "$dir"
}

down() {
  local dir=$1
  [[ -d "$dir" ]] || return 0
  if [[ "$(cat "$dir/source" 2>/dev/null)" == shared ]]; then
    "$shared" down "$dir" >/dev/null 2>&1 || true
    return 0
  fi
  [[ -f "$dir/pids" ]] || return 0
  local p
  for p in $(tac "$dir/pids"); do kill "$p" 2>/dev/null || true; done
  for p in $(cat "$dir/pids"); do
    for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$p" 2>/dev/null || true
  done
  : >"$dir/pids"
}

case "${1:-}" in
  up) up "${2:?usage: cluster.sh up DIR}" ;;
  down) down "${2:?usage: cluster.sh down DIR}" ;;
  source) source_of ;;
  up-restartable) up_restartable "${2:?usage: cluster.sh up-restartable DIR}" ;;
  apiserver-stop) apiserver_stop "$(cd "${2:?usage: cluster.sh apiserver-stop DIR}" && pwd)" ;;
  apiserver-start) apiserver_start "$(cd "${2:?usage: cluster.sh apiserver-start DIR}" && pwd)" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
