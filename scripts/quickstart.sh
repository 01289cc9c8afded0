#!/usr/bin/env bash
# A newcomer's first run: installs the Temporal CLI, starts a local Temporal dev server on
# loopback, and syncs examples/ into it so that real schedules appear.
#   PORT=7233 bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-7233}

bash scripts/install-deps.sh quickstart
mkdir -p .tools/run
if ! .tools/bin/temporal operator namespace describe --address "127.0.0.1:${PORT}" default >/dev/null 2>&1; then
  echo "starting Temporal dev server on 127.0.0.1:${PORT} (log: .tools/run/temporal.log)"
  nohup .tools/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "${PORT}" \
    --db-filename .tools/run/temporal.db --log-level warn >.tools/run/temporal.log 2>&1 &
  echo $! >.tools/run/temporal.pid
  for _ in $(seq 1 60); do
    .tools/bin/temporal operator namespace describe --address "127.0.0.1:${PORT}" default >/dev/null 2>&1 && break
    sleep 1
  done
fi
cargo build --quiet
./target/debug/curator-operator sync -f examples/ --temporal-address "127.0.0.1:${PORT}"
echo
.tools/bin/temporal schedule list --address "127.0.0.1:${PORT}"
echo
echo "Stop the server with: kill \$(cat .tools/run/temporal.pid)"
