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
cat > "$work/setup.cfg" <<CFG
[mutmut]
# A mutant that makes a check retry (a pass turned into a failure) is a timeout after 3x the tests' time, not 15x.
# On cores shared with other work, a surviving mutant's tests can take that long too: re-run the timeouts
# with TIMEOUT_MULTIPLIER=10 on a quiet machine before counting them as killed.
timeout_multiplier=${TIMEOUT_MULTIPLIER:-3}
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
    tests/test_cli.py::test_lab_test_on_kwok_judges_decidable_checks_counts_skips_and_calls_all_skipped_labs_undecided
    tests/test_cli.py::test_lab_test_on_kind_decides_the_same_labs
    tests/test_cli.py::test_lab_test_judges_the_starter_once_its_rollouts_are_done
    tests/test_cli.py::test_lab_test_judges_a_starter_that_never_settles_as_it_is_and_says_so
CFG
# Only lab test's tests from test_cli.py: its `lab check` tests wait out their 30 s retry timeout
# under every mutant that turns a pass into a failure, which made the run take hours on 2 cores.
# The engine's judging functions and lab test's runner. Not mutated: ClusterReader and _connection_failure
# (the HTTP client glue, tested against a real socket) and lab_test's report rendering.
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in evaluate run_checks matches _dig path_keys _condition skips_for plural resource_path _prom_values \
           lab_start _epoch _last_spec_writer _default_storage_class _quantity; do targets+=("infra.checks.x_$f*"); done
  for f in _starter_fails _solution_passes starter_rollouts _settle_starter; do targets+=("infra.commands.x_$f*"); done
fi
cd "$work"
"$python" -m mutmut run "${targets[@]}" > "$work/mutmut-run.log" 2>&1 || { tail -20 "$work/mutmut-run.log" >&2; }
pattern="$(printf '%s\n' "${targets[@]}" | sed 's/[.]/\\./g; s/[*]/.*/g' | paste -sd'|')"
"$python" -m mutmut results --all true 2>/dev/null | grep -E "^ *($pattern)" | awk '
  / killed$/ {k++} / survived$/ {s++; print "survived:", $1} / timeout$/ {t++} / no tests$/ {n++; print "no tests:", $1}
  END {total = k + s + t + n; printf "killed %d, survived %d, timeout %d, no tests %d of %d: score %.1f%%\n", k, s, t, n, total, total ? 100 * (k + t) / total : 0}'
echo "work copy: $work"
