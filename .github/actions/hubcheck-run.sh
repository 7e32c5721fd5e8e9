#!/usr/bin/env bash
# The steps of hubcheck's GitHub Action (action.yml at the repository root), in a file of their own so
# that they run, and are tested, the same way outside GitHub (tests/test_action.py).
#
#   hubcheck-run.sh install   install hubcheck from the action's own checkout, $HUBCHECK_ACTION_PATH
#   hubcheck-run.sh check     check the models, write the reports, set the step's outputs and summary,
#                             exit with hubcheck's exit code
#
# The action's inputs arrive as environment variables, never pasted into a script (a path or an
# argument may hold any character): HUBCHECK_MODELS and HUBCHECK_ARGS (words as a shell splits them:
# spaces or newlines between, quotes around a word with spaces), HUBCHECK_CATALOG, HUBCHECK_REPORT_DIR.
# GitHub's GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are used when set. HUBCHECK_PYTHON names the Python
# (default: python, else python3).
set -uo pipefail

SUMMARY_LIMIT=$((1000 * 1024))  # GitHub refuses a step summary over 1 MiB; stay under it

python_command() {
  if [ -n "${HUBCHECK_PYTHON:-}" ]; then echo "$HUBCHECK_PYTHON"
  elif command -v python >/dev/null 2>&1; then echo python
  else echo python3
  fi
}

# The words of $2, NUL-terminated, into the file $3; a usage error (exit 2) naming input $1 if unbalanced.
split_words() {
  if ! "$(python_command)" -c '
import shlex, sys
try:
    words = shlex.split(sys.argv[1])
except ValueError as exc:
    sys.exit(f"::error title=hubcheck action::input {sys.argv[2]}: {exc} (quote a word with spaces)")
sys.stdout.write("".join(word + "\0" for word in words))' "$2" "$1" >"$3"; then
    exit 2
  fi
}

install() {
  local source=${HUBCHECK_ACTION_PATH:?HUBCHECK_ACTION_PATH must name the action checkout}
  "$(python_command)" -m pip install --disable-pip-version-check --quiet "$source"
}

# The Markdown summary, whole if it fits GitHub's limit, else the catalog overview (or its start) and a note.
summarize() {
  local markdown=$1 code=$2 html=$3
  if [ ! -f "$markdown" ]; then
    printf '## hubcheck: no report\n\nhubcheck exited with code %s before writing a report; the step log says why.\n' \
      "$code"
    return
  fi
  local size
  size=$(wc -c <"$markdown")
  if [ "$size" -le "$SUMMARY_LIMIT" ]; then
    cat "$markdown"
    return
  fi
  awk '/^### /{exit} {print}' "$markdown" | head -c $((SUMMARY_LIMIT - 1024))
  printf '\n\n_The per-model sections (%s bytes in all) do not fit a step summary; see %s in the reports._\n' \
    "$size" "$(basename "$html")"
}

check() {
  local report_dir=${HUBCHECK_REPORT_DIR:-hubcheck-report}
  case $report_dir in
    *$'\n'*) echo "::error title=hubcheck action::input report-dir must not contain a newline"; exit 2 ;;
  esac
  mkdir -p -- "$report_dir" || exit 2
  report_dir=$(cd -- "$report_dir" && pwd) || exit 2
  local json=$report_dir/hubcheck.json html=$report_dir/hubcheck.html markdown=$report_dir/hubcheck.md
  rm -f -- "$json" "$html" "$markdown"  # an earlier run's report must not pass for this run's

  WORDS=$(mktemp) || exit 2
  trap 'rm -f -- "$WORDS"' EXIT
  local -a models extra
  split_words models "${HUBCHECK_MODELS:-}" "$WORDS"
  mapfile -d '' models <"$WORDS"
  split_words args "${HUBCHECK_ARGS:-}" "$WORDS"
  mapfile -d '' extra <"$WORDS"

  local -a command=(hubcheck "${models[@]}")
  if [ -n "${HUBCHECK_CATALOG:-}" ]; then command+=(--catalog "$HUBCHECK_CATALOG"); fi
  command+=("${extra[@]}" --format github --report "json=$json" --report "html=$html" --report "markdown=$markdown")
  printf 'running:'; printf ' %q' "${command[@]}"; printf '\n'

  "${command[@]}"
  local code=$?

  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    summarize "$markdown" "$code" "$html" >>"$GITHUB_STEP_SUMMARY"
  fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "json-report=$json"
      echo "html-report=$html"
      echo "markdown-report=$markdown"
      echo "exit-code=$code"
    } >>"$GITHUB_OUTPUT"
  fi
  return "$code"
}

case ${1:-} in
  install) install ;;
  check) check ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
