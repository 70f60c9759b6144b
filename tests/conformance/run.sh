#!/usr/bin/env bash
# Conformance check: run three popular Python Jenkins clients, unmodified
# (python-jenkins, jenkinsapi and jenkinsflow, versions pinned in requirements.txt),
# against `jrun sandbox` started with sandbox.yaml.
#
# Usage: tests/conformance/run.sh        (from anywhere)
# Env:   CARGO_TARGET_DIR  where the binary and the venv live (default: target)
#        JRUN              use this jrun binary instead of building one
# Exit:  0 when every check passed, non-zero otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/conformance-venv"
nchecks=8

die() {
    echo "conformance: $*" >&2
    echo "conformance: 0 passed, $nchecks failed"
    exit 1
}

# --- Python venv with the pinned clients ---------------------------------
stamp="$venv/.conformance-requirements"
if [ ! -x "$venv/bin/python" ]; then
    timeout 120 python3 -m venv "$venv" || die "cannot create the venv at $venv"
fi
if ! cmp -s "$here/requirements.txt" "$stamp"; then
    timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$here/requirements.txt" || die "pip install of requirements.txt failed"
    cp "$here/requirements.txt" "$stamp"
fi

# --- jrun binary ------------------------------------------------------------
if [ -n "${JRUN:-}" ]; then
    bin="$JRUN"
else
    timeout 1800 cargo build --quiet || die "cargo build failed"
    bin="$target/debug/jrun"
fi
[ -x "$bin" ] || die "no jrun binary at $bin"

# --- start the sandbox --------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/jrun-conformance.XXXXXX")"
sandbox_pid=""
cleanup() {
    if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then
        kill "$sandbox_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$sandbox_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$sandbox_pid" 2>/dev/null || true
        wait "$sandbox_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$bin" sandbox --config "$here/sandbox.yaml" --port 0 \
    >"$work/sandbox.out" 2>"$work/sandbox.err" </dev/null &
sandbox_pid=$!

show_sandbox_output() {
    echo "--- sandbox stdout (first 20 lines):" >&2
    head -n 20 "$work/sandbox.out" >&2 || true
    echo "--- sandbox stderr (last 40 lines):" >&2
    tail -n 40 "$work/sandbox.err" >&2 || true
}

url=""
for _ in $(seq 300); do  # 30 s
    first="$(head -n 1 "$work/sandbox.out" 2>/dev/null || true)"
    if [ -n "$first" ] && [ "$(wc -l <"$work/sandbox.out")" -ge 1 ]; then
        if [[ "$first" =~ ^jrun\ sandbox\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
            url="${BASH_REMATCH[1]}"
            break
        fi
        show_sandbox_output
        die "unexpected first line from the sandbox: $first"
    fi
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then
        show_sandbox_output
        die "the sandbox exited before printing its URL"
    fi
    sleep 0.1
done
if [ -z "$url" ]; then
    show_sandbox_output
    die "the sandbox printed no URL within 30 s"
fi
echo "conformance: sandbox at $url (pid $sandbox_pid)"

# --- run the clients -----------------------------------------------------------
set +e
timeout -k 5 150 "$venv/bin/python" "$here/clients.py" --url "$url"
rc=$?
set -e
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "conformance: clients.py killed after 150 s" >&2
    echo "conformance: 0 passed, $nchecks failed"
fi
if [ "$rc" -ne 0 ]; then
    show_sandbox_output
    exit 1
fi

# --- jrun's JSON reports against their schema ----------------------------------
reports="$(mktemp -d)"
for pipeline in "$root"/pipelines/*.yaml; do
    name="$(basename "$pipeline" .yaml)"
    set +e
    timeout -k 5 120 "$bin" "$pipeline" --sandbox --progress never --output json \
        --report "$reports/$name.json" > /dev/null 2> "$reports/$name.err"
    code=$?
    set -e
    # Any exit code is fine here (a rehearsal may fail on purpose); the report must exist.
    [ -s "$reports/$name.json" ] || { cat "$reports/$name.err" >&2; die "no report for $name (exit $code)"; }
done
timeout -k 5 60 "$venv/bin/python" "$here/report_check.py" "$root/schemas/report.schema.json" "$reports"/*.json
rm -rf "$reports"
