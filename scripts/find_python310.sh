#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (lava-nc 0.10 needs Python < 3.11).
# Looks at $PYTHON, then python3.10 on PATH, then pyenv's versions; exits 1 with advice if none.
set -u
is310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
    if is310 "$PYTHON"; then echo "$PYTHON"; exit 0; fi
    echo "error: PYTHON=$PYTHON is not a working Python 3.10 interpreter" >&2; exit 1
fi
for cand in python3.10 python3 python; do
    p=$(command -v "$cand" 2>/dev/null) || continue
    if is310 "$p"; then echo "$p"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1 || [ -d "${PYENV_ROOT:-$HOME/.pyenv}" ]; then
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    for p in $(ls -d "$root"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
        if is310 "$p"; then echo "$p"; exit 0; fi
    done
fi
cat >&2 <<'MSG'
error: no Python 3.10 found (lava-nc 0.10.0 requires Python >=3.10,<3.11).
Install one and retry, for example:
  pyenv install 3.10.13          (then `make` finds it through pyenv)
  apt install python3.10 python3.10-venv
or point to one: make test PYTHON=/path/to/python3.10
MSG
exit 1
