#!/usr/bin/env bash
# The main job: Debias Studio in the browser on the embedded demo project, created in
# demo-project/ on first run (progress in the terminal). Open the printed URL.
# Usage: ./run.sh [app options]          e.g. ./run.sh --port 7861 --project my-project
#        ./run.sh --cli [project dir]    the demo on the command line: per-group table + ERM
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
if [ "${1:-}" = "--cli" ]; then
  project=${2:-demo-project}
  if [ ! -f "$project/project.db" ]; then
    python -m debias_core init "$project" --dataset colored-digits --bias-ratio 0.99
  fi
  python -m debias_core stats "$project"
  exec python -m debias_core train "$project" --method erm --seed 0
fi
exec python app.py "$@"
