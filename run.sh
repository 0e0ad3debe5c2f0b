#!/usr/bin/env bash
# The main job: the embedded demo (Colored Digits project, ERM baseline, per-group table).
# Usage: ./run.sh [project dir]   (default: demo-project)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
project=${1:-demo-project}
if [ ! -f "$project/project.db" ]; then
  python -m debias_core init "$project" --dataset colored-digits --bias-ratio 0.99
fi
python -m debias_core stats "$project"
python -m debias_core train "$project" --method erm --seed 0
