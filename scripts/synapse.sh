#!/usr/bin/env bash
# Set up the Synapse homeserver the Matrix integration tests run against:
# a Python virtualenv with matrix-synapse (pinned) from PyPI. The tests
# start and stop the server themselves (a fresh config and SQLite database
# in a temporary folder, on a free 127.0.0.1 port), so this only installs.
#
#   scripts/synapse.sh            # installs into ~/.cache/qunbot/synapse-venv
#   QUNBOT_SYNAPSE_VENV=/some/dir scripts/synapse.sh
#
# Then `cargo test --test main matrix` (with QUNBOT_SYNAPSE_VENV set if you
# chose another folder). Needs python3 with venv and pip; ~250 MB.
set -euo pipefail
VERSION=1.163.2
VENV=${QUNBOT_SYNAPSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/qunbot/synapse-venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import synapse, sys; sys.exit(synapse.__version__ != '$VERSION')" 2>/dev/null; then
  echo "matrix-synapse $VERSION already in $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "matrix-synapse==$VERSION"
echo "matrix-synapse $VERSION installed in $VENV"
