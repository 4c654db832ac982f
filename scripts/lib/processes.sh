# Processes started by a test run, found by the run's id (TERRACE_TEST_RUN)
# in their environment. Sourced by scripts/test; tested by
# crates/testkit/tests/cleanup.rs.
#   run_survivors       PIDs (other than the calling shell) carrying the id
#   stop_survivors      TERM them, then KILL what is left after 2 s
#   check_no_survivors  wait up to TERRACE_SURVIVOR_GRACE seconds (30) for them
#                       to end; if some remain, name them, stop them, return 1

# PIDs (other than this script) whose environment carries this run's id.
run_survivors() {
  local env_file pid
  for env_file in /proc/[0-9]*/environ; do
    pid=${env_file#/proc/}
    pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if grep -qzxF "TERRACE_TEST_RUN=$TERRACE_TEST_RUN" "$env_file" 2>/dev/null; then
      echo "$pid"
    fi
  done
}

stop_survivors() {
  local pids
  pids=$(run_survivors)
  [[ -z $pids ]] && return 0
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  sleep 2
  pids=$(run_survivors)
  # shellcheck disable=SC2086
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
}

# Fails (after stopping them) when processes started by the tests are still
# alive; servers stop by themselves within seconds of their test binary's end.
check_no_survivors() {
  local pids pid
  for _ in $(seq 1 "${TERRACE_SURVIVOR_GRACE:-30}"); do
    pids=$(run_survivors)
    [[ -z $pids ]] && return 0
    sleep 1
  done
  echo "error: processes started by the tests are still running after them:" >&2
  for pid in $pids; do
    echo "  pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
  done
  echo "every process a test starts must stop when its test binary ends (see crates/testkit)" >&2
  stop_survivors
  return 1
}
