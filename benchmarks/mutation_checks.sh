#!/usr/bin/env bash
# Mutation testing of the check engine (infra/checks.py) and the `lab test` runner's judging functions
# (infra/commands.py), with mutmut 3 (pip install 'mutmut>=3' in your venv: not a project dependency).
# Runs on a copy of the working tree (mutmut writes mutants/ and needs its config there), prints the score
# and the surviving mutants. Usage: benchmarks/mutation_checks.sh [mutant name globs...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)/k8s-labs"
mkdir -p "$work"
(cd "$root" && tar --exclude=.venv --exclude=.git --exclude=mutants -cf - .) | tar -xf - -C "$work"
cat > "$work/setup.cfg" <<'CFG'
[mutmut]
source_paths=infra
only_mutate=
    infra/checks.py
    infra/commands.py
also_copy=
    labs
    tests
    tasks.py
    pyproject.toml
pytest_add_cli_args=-p no:cacheprovider -m "not controlplane" -q
pytest_add_cli_args_test_selection=
    tests/test_check_kinds.py
    tests/test_checks.py
    tests/test_cli.py
CFG
# The engine (every function of infra/checks.py) and the runner's judging of a lab.
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("infra.checks.*" "infra.commands.x__starter_fails*" "infra.commands.x__solution_passes*"
           "infra.commands.x_starter_rollouts*" "infra.commands.x__settle_starter*" "infra.commands.x_lab_test*")
fi
cd "$work"
"$python" -m mutmut run "${targets[@]}" > "$work/mutmut-run.log" 2>&1 || { tail -20 "$work/mutmut-run.log" >&2; }
"$python" -m mutmut results --all true 2>/dev/null | awk '
  / killed$/ {k++} / survived$/ {s++; print "survived:", $1} / timeout$/ {t++} / no tests$/ {n++; print "no tests:", $1}
  END {total = k + s + t + n; printf "killed %d, survived %d, timeout %d, no tests %d of %d: score %.1f%%\n", k, s, t, n, total, total ? 100 * (k + t) / total : 0}'
echo "work copy: $work"
