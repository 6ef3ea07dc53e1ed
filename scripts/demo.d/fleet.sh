# Sourced by scripts/demo.sh --fleet: the same scan through the fleet. A coordinator and a worker (the real
# binaries) on the machine's RabbitMQ and Redis (scripts/setup.sh starts them), with the demo's own queue
# and Redis key prefix so they never take another fleet's jobs; both stop when the demo ends. The layer
# results stay cached in Redis under the demo's prefix (30 days), so a second run analyses no layer again.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() { # PORT PID NAME LOG
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { say "$3 exited:"; tail -20 "$4" >&2; exit 2; }
    sleep 0.1
  done
  say "$3 did not listen on 127.0.0.1:$1 in 30 s:"; tail -20 "$4" >&2; exit 2
}

fleet_scan() {
  export STRATA_QUEUE=strata-demo.layers STRATA_KEY_PREFIX=strata-demo RUST_LOG=${RUST_LOG:-info}
  # The fleet contacts only registries it is told it may (docs/security.md): here, the demo's own.
  export STRATA_ALLOWED_REGISTRIES="127.0.0.1:$port"
  local grpc ops out id
  grpc=$(free_port) ops=$(free_port)
  "$bindir/strata-coordinator" --listen "127.0.0.1:$grpc" --db "$db" >"$work/coordinator.log" 2>&1 &
  pids+=($!)
  wait_port "$grpc" "${pids[-1]}" coordinator "$work/coordinator.log"
  STRATA_OPS_LISTEN="127.0.0.1:$ops" STRATA_PREFETCH=2 "$bindir/strata-worker" >"$work/worker.log" 2>&1 &
  pids+=($!)
  # The worker serves its ops endpoint once it is connected to RabbitMQ and Redis.
  wait_port "$ops" "${pids[-1]}" worker "$work/worker.log"
  export STRATA_COORDINATOR="http://127.0.0.1:$grpc"
  say "fleet: coordinator on 127.0.0.1:$grpc and one worker (queue $STRATA_QUEUE, Redis prefix" \
      "$STRATA_KEY_PREFIX; logs in $work); strata submit --wait $ref"
  out=$("$strata" submit --wait "$ref") || { echo "$out" >&2; say "the fleet scan did not finish"; exit 2; }
  echo "$out" >&2
  id=$(echo "$out" | head -1 | cut -f1)
  say "strata results $id"
  "$strata" results "$id" "$@"
}
