#!/usr/bin/env bash
# Idempotent set-up of docker_image_manager on Debian 12 (as root): apt packages, an out-of-tree catkin
# workspace, a running Docker engine and, for `run`, a local registry on 127.0.0.1:5000.
#
# Usage: tools/setup.sh [all|deps|build|docker|registry|run [roslaunch args...]|test [pytest args...]|
#                        test-py38 [pytest args...]|test-sdk-latest [pytest args...]|lint|venvs]
#   all       deps + build + docker (the default)
#   deps      install the Debian packages that are missing (apt-get; quick when all are present)
#   build     catkin_make the workspace at $DIM_WS (default ~/.cache/docker_image_manager/ws)
#   docker    make sure a Docker engine answers on /var/run/docker.sock (starts dockerd if none does)
#   registry  make sure a registry listens on 127.0.0.1:5000 (starts docker-registry if nothing does)
#   run       all + registry, then roslaunch docker_image_manager image_manager.launch [args...]
#   test      all, then "$PYTHON -m pytest $DIM_TEST_PATHS -v [args...]"; fails if any test fails or none ran
#   test-py38 as test, for test/core, test/ros, test/clients and the stack's own tests, on Python 3.8 with the
#             Docker SDK 4.1.0 (Ubuntu 20.04's) and PyQt5 from PyPI and ROS from Debian; the node runs on it too
#   test-sdk-latest  as test, for test/core, with the newest Docker SDK from PyPI (on Debian's python3)
#   lint      vermin (nothing newer than Python 3.8) and ruff (ruff.toml) over src, scripts and test/install
#   venvs     make or refresh the virtual environments the last three use, in $DIM_STATE/venvs
#
# Environment: DIM_STATE (state dir, default ~/.cache/docker_image_manager), DIM_WS (workspace),
# PYTHON (interpreter for `test`, default /usr/bin/python3), DIM_TEST_PATHS (what `test` runs, default test),
# DIM_PY38 (a Python 3.8 interpreter; default: python3.8 on PATH or pyenv's 3.8.x),
# DIM_TEST_TIMEOUT (seconds, default 3600).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${DIM_STATE:-$HOME/.cache/docker_image_manager}
WS=${DIM_WS:-$STATE/ws}
PYTHON=${PYTHON:-/usr/bin/python3}
VENVS=$STATE/venvs
# Pinned so that a new release's rules cannot turn main red on their own; raise them on purpose.
LINT_REQUIREMENTS=(vermin==1.9.2 ruff==0.17.6)
# Ubuntu 20.04's python3-docker is 4.1.0; its requests must predate urllib3 2 (docker < 6.1 fails with it).
# Debian's PyQt5 is built for its own Python only: the widget's tests on 3.8 take PyQt5 from PyPI.
PY38_REQUIREMENTS=(docker==4.1.0 'requests<2.29' 'urllib3<2' 'PyQt5==5.15.*' pytest pytest-timeout pyyaml)
SDK_LATEST_REQUIREMENTS=(docker pytest pytest-timeout pyyaml)
PY38_TEST_PATHS="test/core test/ros test/clients test/install/test_node_interpreter.py test/test_stack.py"
DOCKER_SOCK=/var/run/docker.sock
REGISTRY_ADDR=127.0.0.1:5000

# ROS tools must run on Debian's python3, and Debian's docker CLI must win over any newer one in
# /usr/local/bin; dockerd lives in /usr/sbin.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH

# A ROS Noetic from packages.ros.org (Ubuntu 20.04) is used as it is: its dependencies come from
# `rosdep install --from-paths . --ignore-src -y`, and only the non-ROS packages are checked here.
NOETIC_SETUP=/opt/ros/noetic/setup.bash
ROS_APT_PACKAGES=(
  ros-core-dev python3-actionlib python3-actionlib-msgs ros-actionlib-msgs python3-rostest
  python3-diagnostic-msgs python3-visualization-msgs python3-python-qt-binding
)
APT_PACKAGES=(
  docker.io docker-registry python3-bcrypt python3-docker python3-yaml
  python3-pytest python3-pytest-timeout busybox-static xvfb build-essential cmake python3-venv
)
[ -f "$NOETIC_SETUP" ] || APT_PACKAGES=("${ROS_APT_PACKAGES[@]}" "${APT_PACKAGES[@]}")

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

have_package() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

do_deps() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    have_package "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "deps: all ${#APT_PACKAGES[@]} Debian packages present"
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]}
  Install them as root: apt-get update && apt-get install -y ${missing[*]}"
  log "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}" </dev/null
  for p in "${missing[@]}"; do
    have_package "$p" || die "apt-get did not install $p"
  done
}

source_ros() {
  [ -f "$NOETIC_SETUP" ] || return 0
  set +u
  # shellcheck disable=SC1090
  source "$NOETIC_SETUP"
  set -u
}

do_build() {
  source_ros
  command -v catkin_make >/dev/null || die "catkin_make not found: run 'tools/setup.sh deps' first"
  mkdir -p "$WS/src"
  local link="$WS/src/docker_image_manager"
  if [ -L "$link" ] && [ "$(readlink -f "$link")" != "$(readlink -f "$REPO")" ]; then
    # The workspace was built for another clone: start it afresh so nothing of that one is left.
    log "build: $WS was built for $(readlink "$link"); rebuilding it for $REPO"
    rm -rf "$WS/build" "$WS/devel"
    ln -sfn "$REPO" "$link"
  elif [ ! -e "$link" ] && [ ! -L "$link" ]; then
    ln -s "$REPO" "$link"
  elif [ ! -L "$link" ]; then
    die "$link exists and is not a symlink to $REPO; remove it or set DIM_WS to another workspace"
  fi
  log "build: catkin_make in $WS (log: $WS/catkin_make.log)"
  if ! (cd "$WS" && catkin_make -DPYTHON_EXECUTABLE=/usr/bin/python3 >"$WS/catkin_make.log" 2>&1); then
    tail -n 40 "$WS/catkin_make.log" >&2
    die "catkin_make failed; full log in $WS/catkin_make.log"
  fi
}

docker_answers() {
  docker -H "unix://$DOCKER_SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Starts dockerd in the background if no engine answers. Sets STARTED_DOCKERD_PID when it started one.
STARTED_DOCKERD_PID=
do_docker() {
  command -v docker >/dev/null || die "docker CLI not found: run 'tools/setup.sh deps' first"
  if docker_answers; then
    log "docker: engine $(docker -H "unix://$DOCKER_SOCK" version --format '{{.Server.Version}}') answers on $DOCKER_SOCK"
    return
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null; then
    die "no Docker engine answers on $DOCKER_SOCK.
  Start one as root (e.g. 'dockerd >/var/log/dockerd.log 2>&1 &' or 'service docker start'),
  or add your user to the 'docker' group and log in again."
  fi
  local i pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  # A stale pid file may name a recycled pid: only a live dockerd counts.
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    # A dockerd is starting (e.g. from docker.io's postinst): wait for it, never start a second one.
    log "docker: dockerd pid $pid is running but does not answer yet; waiting up to 60 s"
    for i in $(seq 1 60); do
      docker_answers && { log "docker: dockerd (pid $pid) answers"; return; }
      sleep 1
    done
    die "dockerd (pid $pid) runs but does not answer on $DOCKER_SOCK; see its log, or stop it and
  run 'tools/setup.sh docker' again."
  fi
  mkdir -p "$STATE"
  log "docker: starting dockerd (log: $STATE/dockerd.log)"
  # setsid + redirected fds: the daemon must not hold our caller's terminal or pipes open.
  setsid dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
  STARTED_DOCKERD_PID=$!
  echo "$STARTED_DOCKERD_PID" >"$STATE/dockerd.pid"
  for i in $(seq 1 60); do
    docker_answers && { log "docker: dockerd (pid $STARTED_DOCKERD_PID) answers"; return; }
    kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  tail -n 30 "$STATE/dockerd.log" >&2 || true
  die "dockerd did not answer on $DOCKER_SOCK (log above, full log in $STATE/dockerd.log).
  Common causes: another dockerd owns /var/run/docker.pid, no cgroups or iptables in this machine.
  Fix the cause and run 'tools/setup.sh docker' again."
}

stop_started_dockerd() {
  [ -n "$STARTED_DOCKERD_PID" ] || return 0
  log "docker: stopping the dockerd we started (pid $STARTED_DOCKERD_PID)"
  kill -TERM "$STARTED_DOCKERD_PID" 2>/dev/null || return 0
  local i
  for i in $(seq 1 30); do
    kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || { rm -f "$STATE/dockerd.pid"; return 0; }
    sleep 1
  done
  log "docker: dockerd (pid $STARTED_DOCKERD_PID) still running after 30 s; leaving it"
}

port_listens() {  # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

do_registry() {
  local host=${REGISTRY_ADDR%:*} port=${REGISTRY_ADDR##*:}
  if port_listens "$host" "$port"; then
    log "registry: something already listens on $REGISTRY_ADDR; using it as the default push target"
    return
  fi
  command -v docker-registry >/dev/null || die "docker-registry not found: run 'tools/setup.sh deps' first"
  local storage="$STATE/registry" config="$STATE/registry.yml"
  mkdir -p "$storage"
  sed -e "s|@STORAGE@|$storage|" -e "s|@ADDR@|$REGISTRY_ADDR|" \
    "$REPO/config/registry/config.yml" >"$config"
  log "registry: starting docker-registry on $REGISTRY_ADDR (config: $config, log: $STATE/registry.log)"
  setsid docker-registry serve "$config" >"$STATE/registry.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$STATE/registry.pid"
  local i
  for i in $(seq 1 50); do
    port_listens "$host" "$port" && { log "registry: pid $pid answers on $REGISTRY_ADDR"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$STATE/registry.log" >&2 || true
  die "docker-registry did not start on $REGISTRY_ADDR (full log in $STATE/registry.log)"
}

source_devel() {
  [ -f "$WS/devel/setup.bash" ] || die "$WS/devel/setup.bash missing: run 'tools/setup.sh build' first"
  # setup.bash reads unset variables; relax -u while sourcing it.
  set +u
  # shellcheck disable=SC1091
  source "$WS/devel/setup.bash"
  set -u
}

find_py38() {
  local candidate
  for candidate in "${DIM_PY38:-}" "$(command -v python3.8 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.8*/bin/python \
      /root/.pyenv/versions/3.8*/bin/python; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 8))' 2>/dev/null || continue
    echo "$candidate"
    return 0
  done
  return 1
}

# make_venv NAME PYTHON DEBIAN_PATH UPGRADE REQUIREMENTS...: $VENVS/NAME made with PYTHON, or reused when it was made
# with the same PYTHON and REQUIREMENTS. DEBIAN_PATH=yes appends Debian's dist-packages (rospy, actionlib, ...) to
# its sys.path, after its own packages, so the venv's pytest and docker win. UPGRADE=yes upgrades every time.
make_venv() {
  local name=$1 python=$2 debian=$3 upgrade=$4; shift 4
  local dir="$VENVS/$name" spec
  spec="$python|$debian|$*"
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.dim-spec" 2>/dev/null)" != "$spec" ]; then
    log "venv: making $dir ($*)"
    rm -rf "$dir"
    mkdir -p "$VENVS"
    "$python" -m venv "$dir" || die "could not make a venv with $python (Debian: apt-get install python3-venv)"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" </dev/null \
      || { rm -rf "$dir"; die "pip could not install $* into $dir"; }
    if [ "$debian" = yes ]; then
      local site
      site=$("$dir/bin/python" -c 'import site; print(site.getsitepackages()[0])')
      echo /usr/lib/python3/dist-packages >"$site/zz_debian_dist_packages.pth"
    fi
    echo "$spec" >"$dir/.dim-spec"
  elif [ "$upgrade" = yes ]; then
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$@" </dev/null \
      || die "pip could not upgrade $* in $dir"
  fi
}

venv_py38() {
  local py38
  py38=$(find_py38) || die "no Python 3.8 found for the Python 3.8 run: set DIM_PY38=/path/to/python3.8
  (this machine kind ships one in pyenv: /root/.pyenv/versions/3.8.*/bin/python)"
  make_venv py38-sdk41 "$py38" yes no "${PY38_REQUIREMENTS[@]}"
}
venv_sdk_latest() { make_venv sdk-latest /usr/bin/python3 no yes "${SDK_LATEST_REQUIREMENTS[@]}"; }
venv_lint() { make_venv lint /usr/bin/python3 no no "${LINT_REQUIREMENTS[@]}"; }

do_venvs() {
  venv_lint; venv_py38; venv_sdk_latest
  local name
  for name in lint py38-sdk41 sdk-latest; do
    log "venv: $VENVS/$name: $("$VENVS/$name/bin/python" -c 'import sys; print(sys.version.split()[0])') \
$("$VENVS/$name/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null \
  | grep -iE '^(docker|pytest|ruff|vermin)==' | tr '\n' ' ')"
  done
}

do_lint() {
  venv_lint
  local rc=0 bin="$VENVS/lint/bin"
  log "lint: vermin --target=3.8- over src scripts"
  (cd "$REPO" && "$bin/vermin" --target=3.8- --no-tips --violations --eval-annotations src scripts) || rc=1
  log "lint: ruff check src scripts test/install"
  (cd "$REPO" && "$bin/ruff" check --no-cache src scripts test/install) || rc=1
  if [ $rc -eq 0 ]; then log "lint: clean"; else log "lint: FAILED (findings above)"; fi
  return $rc
}

do_run() {
  do_deps; do_build; do_docker; do_registry
  source_devel
  log "run: roslaunch docker_image_manager image_manager.launch $*"
  exec roslaunch docker_image_manager image_manager.launch "$@"
}

do_test() {
  do_deps; do_build; do_docker
  trap stop_started_dockerd EXIT
  source_devel
  local rc=0 path paths=()
  # A suite another change has not added yet is left out, not an error.
  for path in ${DIM_TEST_PATHS:-test}; do
    if [ -e "$REPO/$path" ]; then paths+=("$path"); else log "test: $path does not exist; left out"; fi
  done
  [ ${#paths[@]} -gt 0 ] || die "test: none of '${DIM_TEST_PATHS:-test}' exists"
  # SIGINT on timeout lets pytest run its fixture teardowns (stopping registries, roscore, nodes).
  (cd "$REPO" && timeout --foreground --signal=INT --kill-after=60 "${DIM_TEST_TIMEOUT:-3600}" \
    "$PYTHON" -m pytest "${paths[@]}" -v -ra --durations=10 --timeout="${DIM_TEST_TIMEOUT_PER_TEST:-600}" "$@") || rc=$?
  local what="$PYTHON: ${DIM_TEST_PATHS:-test}"
  case $rc in
    0) log "test: passed ($what)" ;;
    5) log "test: FAILED: pytest collected no test"; rc=1 ;;
    124) log "test: FAILED: timed out after ${DIM_TEST_TIMEOUT:-3600} s" ;;
    *) log "test: FAILED (pytest exit $rc; $what)" ;;
  esac
  return $rc
}

cmd=${1:-all}
[ $# -gt 0 ] && shift
case $cmd in
  all) do_deps; do_build; do_docker ;;
  deps) do_deps ;;
  build) do_build ;;
  docker) do_docker ;;
  registry) do_registry ;;
  run) do_run "$@" ;;
  test) do_test "$@" ;;
  test-py38)
    do_deps; venv_py38
    # The node too: start_node passes DIM_NODE_PYTHON to the launch file's launch_prefix.
    PYTHON=$VENVS/py38-sdk41/bin/python DIM_NODE_PYTHON=$VENVS/py38-sdk41/bin/python DIM_EXPECT_PYTHON=3.8 \
      DIM_TEST_PATHS=$PY38_TEST_PATHS do_test "$@" ;;
  test-sdk-latest)
    do_deps; venv_sdk_latest
    PYTHON=$VENVS/sdk-latest/bin/python DIM_TEST_PATHS=test/core do_test "$@" ;;
  lint) do_deps; do_lint ;;
  venvs) do_deps; do_venvs ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$cmd' (try: tools/setup.sh help)" ;;
esac
