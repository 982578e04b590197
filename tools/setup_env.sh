#!/usr/bin/env bash
# Creates .venv/ in the repository root with the pinned stack (see requirements.txt) and the toolkit installed
# in editable mode. Idempotent: each step checks whether it is already done, so a second run takes seconds.
#
# mmcv 2.1.0 has no binary wheel for this torch, and mmsegmentation needs its compiled ops (mmcv._ext), so it is
# built here from its source distribution, for the CPU (CUDA ops too when nvcc and a GPU build of torch are
# present). Two patches are needed for torch >= 2.10: its headers need C++20, and mmcv's setup.py imports
# pkg_resources (setuptools < 81). The built wheel is kept in $SCLIP_WHEEL_CACHE so a fresh .venv reuses it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
WHEELS="${SCLIP_WHEEL_CACHE:-$HOME/.cache/sclip_toolkit/wheels}"
STAMP="$VENV/.sclip_setup_stamp"
MMCV_VERSION=2.1.0

say() { printf '[setup] %s\n' "$*"; }

command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 9), sys.version' || {
  echo "[setup] Python >= 3.9 is needed (3.11 is tested); set PYTHON=/path/to/python3.11" >&2; exit 1; }

# The web app's browser tests drive the system's Chromium: Playwright's own browser download needs more than the
# package registries. Installed with apt when missing (seconds when present); without root apt-get the tests are
# skipped with a message, except in CI, which must run them.
if [[ -z "${SCLIP_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1 \
   && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    say "installing Chromium for the web app's browser tests (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null; then
      echo "[setup] apt-get could not install chromium; the browser tests will be skipped" >&2
      if [[ "${CI:-}" == true ]]; then exit 1; fi
    fi
  else
    say "no Chromium here (and no root apt-get): install the chromium package to run the browser tests"
  fi
fi

# Fonts for the words drawn into pictures (legends, titles): accented Latin, Chinese/Japanese/Korean, emoji as
# outlines (sclip_toolkit/apis/fonts.py). Installed with apt when missing; without them the legend falls back to
# Pillow's Latin-only font and says so.
FONT_PACKAGES=()
[[ -f /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf ]] || FONT_PACKAGES+=(fonts-noto-core)
[[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]] || FONT_PACKAGES+=(fonts-noto-cjk)
[[ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ]] || FONT_PACKAGES+=(fonts-symbola)
if (( ${#FONT_PACKAGES[@]} )); then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    say "installing fonts for the pictures' legends: ${FONT_PACKAGES[*]} (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${FONT_PACKAGES[@]}"; } \
        >/dev/null; then
      echo "[setup] apt-get could not install ${FONT_PACKAGES[*]}; legends will use Pillow's Latin-only font" >&2
    fi
  else
    say "fonts ${FONT_PACKAGES[*]} are missing (and no root apt-get): legends draw only Latin letters until installed"
  fi
fi

# The stamp holds a hash of everything that decides the environment: when nothing changed we are done.
want_stamp="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
   && "$VENV/bin/python" -c 'import mmcv._ext, mmseg, open_clip, sclip_toolkit' >/dev/null 2>&1; then
  say "environment in .venv is up to date"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pip_install() { "$VPY" -m pip install --disable-pip-version-check "$@"; }

say "installing build tools (setuptools<81 keeps pkg_resources, which mmcv's setup.py imports)"
pip_install -q "setuptools>=69,<81" wheel ninja

req_line() { grep -E "^$1[=<>~ ]" "$ROOT/requirements.txt" | head -n1 | sed 's/[[:space:]]*#.*//'; }

if ! "$VPY" -c 'import torch, torchvision' >/dev/null 2>&1; then
  say "installing $(req_line torch) $(req_line torchvision)"
  pip_install -q "$(req_line torch)" "$(req_line torchvision)"
fi

# mmcv's own imports (cv2, mmengine, addict, ...) come first, so that the check below tests only its compiled ops;
# mmsegmentation waits until mmcv is in place (its dependency on mmcv would make pip build one without ops).
say "installing requirements.txt except mmcv, mmsegmentation, sam2 and mess-benchmark"
pip_install -q -r <(grep -v -E '^(mmcv|mmsegmentation|sam2|mess-benchmark)[=<>~ ]' "$ROOT/requirements.txt")

# mess-benchmark (MESS's class names and dataset preparation) without its dependencies: they are in requirements.txt,
# except opencv-python-headless, whose cv2 would overwrite opencv-python's.
mess_version="$(req_line mess-benchmark | cut -d= -f3)"
if ! "$VPY" -c "import importlib.metadata as m; assert m.version('mess-benchmark') == '$mess_version'" >/dev/null 2>&1; then
  say "installing $(req_line mess-benchmark) (--no-deps)"
  pip_install -q --no-deps "$(req_line mess-benchmark)"
fi

# sam2 (CorrCLIP's SAM 2 masks) is a source distribution whose build requires torch: built against the venv's torch
# (--no-build-isolation; an isolated build would download a second torch with CUDA) and without its optional CUDA
# op (SAM2_BUILD_CUDA=0; only used for hole filling, which CorrCLIP's settings leave off).
if ! "$VPY" -c 'import importlib.metadata as m; assert m.version("sam2") == "'"$(req_line sam2 | cut -d= -f3)"'"' \
     >/dev/null 2>&1; then
  say "installing $(req_line sam2) (no CUDA op, built against the installed torch)"
  SAM2_BUILD_CUDA=0 pip_install -q --no-build-isolation "$(req_line sam2)"
fi

if ! "$VPY" -c 'import mmcv, mmcv._ext; assert mmcv.__version__ == "'$MMCV_VERSION'"' >/dev/null 2>&1; then
  mkdir -p "$WHEELS"
  torch_tag="$("$VPY" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
  wheel_dir="$WHEELS/mmcv-$MMCV_VERSION-torch$torch_tag"
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    say "downloading the mmcv $MMCV_VERSION source distribution"
    # --no-build-isolation: pip prepares metadata with the venv's torch instead of a throw-away env without it.
    "$VPY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$build" "mmcv==$MMCV_VERSION"
    tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
    src="$build/mmcv-$MMCV_VERSION"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q 'c++20' "$src/setup.py" || { echo "[setup] could not patch mmcv's setup.py for C++20" >&2; exit 1; }
    say "building mmcv $MMCV_VERSION with compiled ops against torch $torch_tag (about 10 minutes on 2 cores)"
    mkdir -p "$wheel_dir.tmp"
    (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
       "$VPY" -m pip wheel -q --no-deps --no-build-isolation -w "$wheel_dir.tmp" .)
    rm -rf "$wheel_dir" && mv "$wheel_dir.tmp" "$wheel_dir"
  else
    say "reusing the mmcv wheel built earlier in $wheel_dir"
  fi
  pip_install -q --no-deps "$wheel_dir"/mmcv-*.whl
  "$VPY" -c 'import mmcv._ext' || { echo "[setup] mmcv installed but its compiled ops do not import" >&2; exit 1; }
fi

say "installing mmsegmentation and the toolkit (editable)"
# mmcv's own dependencies (addict, yapf, ...) are listed in requirements.txt; the pin keeps pip from replacing it.
# sam2 and mess-benchmark are left out: installed above (this line would build sam2's sdist in an isolated
# environment and pull mess-benchmark's dependencies).
pip_install -q -r <(grep -v -E '^(sam2|mess-benchmark)[=<>~ ]' "$ROOT/requirements.txt") -e "$ROOT[test]"

"$VPY" -c 'import mmcv._ext, mmseg, open_clip, sclip_toolkit'
echo "$want_stamp" > "$STAMP"
say "done: $("$VPY" -c 'import torch, mmcv, mmseg, open_clip; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmseg {mmseg.__version__}, open_clip {open_clip.__version__}")')"
