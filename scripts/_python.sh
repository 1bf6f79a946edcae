# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: find a Python >= 3.13 without hard-coded paths.
#   TEMPLATE_PYTHON=/path/to/python   use this interpreter
#   otherwise: python3.14, python3.13, python3 on PATH; then pyenv's 3.14 / 3.13; then uv's.

python_ok() {
    # A pyenv shim for a version that is not active exits non-zero here, so it is skipped.
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate prefix
    if [ -n "${TEMPLATE_PYTHON:-}" ]; then
        if python_ok "$TEMPLATE_PYTHON"; then
            echo "$TEMPLATE_PYTHON"
            return 0
        fi
        echo "TEMPLATE_PYTHON=$TEMPLATE_PYTHON is not a Python >= 3.13 with venv" >&2
        return 1
    fi
    for candidate in python3.14 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in 3.14 3.13; do
            prefix=$(pyenv prefix "$candidate" 2>/dev/null | head -n 1) || continue
            if [ -n "$prefix" ] && python_ok "$prefix/bin/python"; then
                echo "$prefix/bin/python"
                return 0
            fi
        done
    fi
    if command -v uv >/dev/null 2>&1; then
        candidate=$(uv python find ">=3.13" 2>/dev/null) || candidate=""
        if [ -n "$candidate" ] && python_ok "$candidate"; then
            echo "$candidate"
            return 0
        fi
    fi
    echo "No Python >= 3.13 found: install one (python.org, pyenv or 'uv python install 3.13')," >&2
    echo "or point TEMPLATE_PYTHON at it." >&2
    return 1
}

# make_venv DIR: a virtualenv in DIR with uv inside it (from PyPI); reuses a good one.
make_venv() {
    local dir=$1 python
    if ! python_ok "$dir/bin/python"; then
        python=$(find_python) || return 1
        echo "Creating $dir with $python" >&2
        rm -rf "$dir"
        if ! "$python" -m venv "$dir" >&2; then
            # e.g. Debian's python3 without python3-venv: let uv make it, with pip inside
            command -v uv >/dev/null 2>&1 || return 1
            rm -rf "$dir"
            uv venv --seed --python "$python" "$dir" >&2 || return 1
        fi
    fi
    if ! "$dir/bin/python" -m uv --version >/dev/null 2>&1; then
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check uv >&2 || return 1
    fi
}

# template_venv: the template's tooling venv ($TEMPLATE_VENV, default ./.venv-template) with
# requirements-test.txt installed; reinstalls only when that file changes. Prints its path.
template_venv() {
    local root=$1 venv want stamp
    venv=${TEMPLATE_VENV:-$root/.venv-template}
    make_venv "$venv" || return 1
    stamp="$venv/.requirements-test.sha256"
    want=$("$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$root/requirements-test.txt")
    if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
        echo "Installing requirements-test.txt into $venv" >&2
        "$venv/bin/python" -m uv pip install --quiet --python "$venv/bin/python" \
            -r "$root/requirements-test.txt" >&2 || return 1
        echo "$want" >"$stamp"
    fi
    echo "$venv"
}
