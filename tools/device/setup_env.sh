# Sourced by the device scripts: installs the carried wheels ($WHEELS, cp312) into /tmp/site and stands in
# for the two compiled modules the lent machine lacks and training never calls (kornia.io's Rust backend,
# PyAV) — only where they are really missing, so a CPU dry run keeps its own.
if [ -d "$WHEELS" ]; then $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1; fi
for module in kornia_rs av; do
  PYTHONPATH=/tmp/site $PY -c "import $module" 2>/dev/null || { mkdir -p /tmp/stubs/$module && touch /tmp/stubs/$module/__init__.py /tmp/stubs/$module/io.py; }
done
export PYTHONPATH=/tmp/site:/tmp/stubs:. PYTHONUNBUFFERED=1
