#!/usr/bin/env bash
# broker.sh runs one Apache Kafka broker (KRaft, combined broker and
# controller) on loopback for brook's tests.
#
#   broker.sh fetch        fetch kafka_2.13 and its runtime jars from Maven
#                          Central into the cache (once; later calls reuse it)
#   broker.sh start DIR    start a broker whose config, data and log live in
#                          DIR; a new DIR is formatted and given free ports, an
#                          existing one restarts on its data and its ports.
#                          Waits until the broker serves, prints host:port.
#   broker.sh stop DIR     stop it by the PID in DIR/pid (SIGTERM, then
#                          SIGKILL after 30 s)
#
# Environment: BROOK_KAFKA_CACHE (default ~/.cache/brook/kafka) holds the jars,
# JAVA (default java) runs them. Needs Java 17+ and Maven.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
cache="${BROOK_KAFKA_CACHE:-$HOME/.cache/brook/kafka}/$version"
java="${JAVA:-java}"

die() { echo "broker.sh: $*" >&2; exit 1; }

fetch() {
	if [ -f "$cache/.complete" ]; then return; fi
	mkdir -p "$cache"
	mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$cache/libs" >&2 ||
		die "maven could not fetch org.apache.kafka:kafka_2.13:$version"
	touch "$cache/.complete"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

configure() {
	local dir="$1" port cport
	port="$(free_port)"
	cport="$(free_port)"
	[ "$port" != "$cport" ] || cport="$(free_port)"
	mkdir -p "$dir/data"
	# Single-node settings: replication factor 1 and min ISR 1 everywhere,
	# no delay before the first rebalance, sessions as short as 1 s allowed,
	# few partitions for the internal topics so they are created quickly.
	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.max.size=1000
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
	echo "127.0.0.1:$port" >"$dir/addr"
	local id
	id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
	"$java" -cp "$cache/libs/*" kafka.tools.StorageTool format \
		-t "$id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
		{ cat "$dir/format.log" >&2; die "format of $dir failed"; }
}

start() {
	local dir="$1"
	[ -n "$dir" ] || die "start needs a directory"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	fetch
	if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a broker already runs on $dir (pid $(cat "$dir/pid"))"
	fi
	[ -f "$dir/server.properties" ] || configure "$dir"
	local log="$dir/broker.log"
	[ ! -f "$log" ] || cat "$log" >>"$dir/broker.old.log"
	: >"$log"
	# exec: the PID in DIR/pid is the JVM's own, so SIGKILL hits the broker.
	(exec "$java" -Xms256m -Xmx768m -XX:+UseG1GC -XX:TieredStopAtLevel=1 \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=info \
		-Dorg.slf4j.simpleLogger.showDateTime=true \
		-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
		-Dorg.slf4j.simpleLogger.log.state.change.logger=warn \
		-cp "$cache/libs/*" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$log" 2>&1) &
	local pid=$!
	echo "$pid" >"$dir/pid"
	local deadline=$((SECONDS + 120))
	until grep -q 'Kafka Server started' "$log"; do
		kill -0 "$pid" 2>/dev/null || { tail -50 "$log" >&2; die "broker exited during start"; }
		[ $SECONDS -lt $deadline ] || { tail -50 "$log" >&2; die "broker not started after 120 s"; }
		sleep 0.2
	done
	cat "$dir/addr"
}

stop() {
	local dir="$1" pid
	[ -f "$dir/pid" ] || return 0
	pid="$(cat "$dir/pid")"
	rm -f "$dir/pid"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
fetch) fetch ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: broker.sh fetch | start DIR | stop DIR" ;;
esac
