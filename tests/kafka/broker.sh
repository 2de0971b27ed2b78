#!/usr/bin/env bash
# broker.sh - a throw-away single-node Apache Kafka broker for the tests.
#
# Kafka version: $KAFKA_VERSION (default 3.9.2), passed to pom.xml as
# -Dkafka.version; each version has its own jar cache. CI runs the
# real-broker tier on 3.9.x and 4.1.x. The worker links Debian's librdkafka
# 2.0.2; Kafka 4.0 removed old protocol versions (KIP-896), and a client
# that old, when a version it relies on is gone, disables the feature built
# on it instead of failing: on 4.0.0 it logs "Disabling feature
# BrokerBalancedConsumer" and "... Sasl" (with debug=feature; JoinGroup v0
# is gone). 4.1 restored those versions; 3.9.x and 4.1.x are tested, 4.0.x
# is not supported (README). The broker runs in KRaft mode, without
# ZooKeeper; the jars come from Maven Central through pom.xml next to this
# script.
#
# Usage:
#   broker.sh start        --dir DIR [--cache JARDIR] [--owner-pid PID]
#   broker.sh stop         --dir DIR
#   broker.sh restart      --dir DIR [--owner-pid PID]
#   broker.sh create-topic --dir DIR NAME PARTITIONS
#   broker.sh describe-group --dir DIR GROUP   (state, strategy, members)
#   broker.sh fetch        [--cache JARDIR]       (only download the jars)
#
# start     On an empty DIR: picks two free loopback ports (client listener
#           and KRaft controller), writes DIR/server.properties (combined
#           broker+controller, node.id=1), formats DIR/data with StorageTool
#           and starts kafka.Kafka in the background. On a DIR that already
#           holds a formatted broker it starts that broker again with the same
#           storage and ports. Log: DIR/broker.log (appended), pid:
#           DIR/broker.pid, bootstrap "127.0.0.1:PORT": DIR/bootstrap and
#           stdout. Returns once the broker answers metadata requests
#           (bounded by $BROKER_START_TIMEOUT, default 90 s); on failure
#           prints the tail of DIR/broker.log to stderr and exits non-zero.
#           --owner-pid PID: also stop the broker when PID exits, so a test
#           run that dies cannot leak a JVM.
# stop      SIGTERM, wait up to 30 s, then SIGKILL. Exits 0 if not running.
# restart   stop, then start with the same storage and ports (no re-format).
# create-topic
#           Creates NAME with PARTITIONS partitions, replication factor 1.
#
# Jar cache: --cache DIR, else $ERASURE_BUILD_DIR/kafka-jars-VERSION, else
# <repo>/build/kafka-jars-VERSION. It is (re)filled with
# `mvn -B -q dependency:copy-dependencies` only when missing or when pom.xml
# or the version changed; Maven's own repository stays the default (~/.m2),
# so a re-fill is offline-fast too.
#
# Missing java or mvn are installed with apt-get (openjdk-17-jre-headless,
# maven), through sudo when not root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/pom.xml"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
START_TIMEOUT="${BROKER_START_TIMEOUT:-90}"
STOP_TIMEOUT=30
# Startup speed matters more than peak throughput for a test broker on a
# two-core machine: C1 only, serial GC, small heap.
JAVA_OPTS_DEFAULT="-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m -Djava.awt.headless=true"
JAVA_OPTS="${BROKER_JAVA_OPTS:-$JAVA_OPTS_DEFAULT}"

die() {
	echo "broker.sh: $*" >&2
	exit 1
}
note() {
	echo "broker.sh: $*" >&2
}
now() {
	echo "${EPOCHREALTIME:-$(date +%s.%N)}"
}
elapsed() { # elapsed START -> seconds with one decimal
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}
python() {
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 "$@"
	else
		python3 "$@"
	fi
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# --- tools ---------------------------------------------------------------

ensure_tools() {
	local missing=()
	command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
	command -v mvn >/dev/null 2>&1 || missing+=(maven)
	[ "${#missing[@]}" -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	note "installing ${missing[*]}"
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >&2
}

default_cache() {
	if [ -n "${ERASURE_BUILD_DIR:-}" ]; then
		echo "$ERASURE_BUILD_DIR/kafka-jars-$KAFKA_VERSION"
	else
		echo "$REPO/build/kafka-jars-$KAFKA_VERSION"
	fi
}

# fetch_jars CACHE: make CACHE hold the jars pom.xml lists.
fetch_jars() {
	local cache="$1" want have
	want="$( (cat "$POM" && echo "kafka.version=$KAFKA_VERSION") |
		sha256sum | cut -d' ' -f1)"
	have="$(cat "$cache/.pom.sha256" 2>/dev/null || true)"
	[ "$want" = "$have" ] && return 0

	mkdir -p "$(dirname "$cache")"
	# One download at a time per cache; the loser of the race reuses it.
	exec 9>"$cache.lock"
	flock 9
	have="$(cat "$cache/.pom.sha256" 2>/dev/null || true)"
	if [ "$want" != "$have" ]; then
		local t0 tmp
		t0="$(now)"
		tmp="$(mktemp -d "$cache.tmp.XXXXXX")"
		note "fetching Kafka $KAFKA_VERSION jars into $cache (mvn)"
		if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
			-Dkafka.version="$KAFKA_VERSION" \
			-DoutputDirectory="$tmp" -Dmdep.useRepositoryLayout=false \
			>"$tmp.log" 2>&1; then
			tail -n 50 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			die "mvn could not resolve the Kafka jars"
		fi
		rm -f "$tmp.log"
		echo "$want" >"$tmp/.pom.sha256"
		rm -rf "$cache"
		mv "$tmp" "$cache"
		note "jars fetched in $(elapsed "$t0")s"
	fi
	flock -u 9
	exec 9>&-
}

classpath() { # classpath CACHE
	local cp
	cp="$(printf '%s:' "$1"/*.jar)"
	echo "${cp%:}"
}

# Class-data sharing: the first broker started from a jar cache records the
# classes it loaded into a dynamic CDS archive when it exits
# (-XX:ArchiveClassesAtExit); later JVMs on the same jars map that archive
# and start about a second faster. The archive lives in the jar cache, so a
# re-fetch drops it, and its name carries the JVM's identity. BROKER_CDS=0
# turns this off.
cds_archive() { # cds_archive CACHE -> path of the archive for this java
	[ "${BROKER_CDS:-1}" = 1 ] || return 1
	local java_bin major key
	java_bin="$(readlink -f "$(command -v java)")" || return 1
	major="$(java -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
	[ -n "$major" ] && [ "$major" -ge 13 ] || return 1
	key="$(echo "$java_bin $(stat -c %Y "$java_bin")" | sha256sum | cut -c1-12)"
	echo "$1/cds-$key.jsa"
}

# --- state in DIR --------------------------------------------------------

# Two distinct free TCP ports on 127.0.0.1, below the kernel's ephemeral
# range so that client sockets cannot take them while a broker restarts.
pick_ports() {
	python - <<'EOF'
import random, socket
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except OSError:
    low = 32768
hi = max(low, 12000)
found, held = [], []
for _ in range(500):
    port = random.randrange(10000, hi)
    if port in found:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    found.append(port)
    if len(found) == 2:
        break
for s in held:
    s.close()
if len(found) != 2:
    raise SystemExit("no free ports")
print(found[0], found[1])
EOF
}

# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not
# starting with '-' (Kafka's own rule, it confuses command lines).
cluster_id() {
	python -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

write_config() { # write_config DIR PORT CPORT
	local dir="$1" port="$2" cport="$3"
	cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/broker.sh. Single node, KRaft combined mode.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# Tests create their topics explicitly.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# Lets tests use short session timeouts for fast failover.
group.min.session.timeout.ms=1000
auto.leader.rebalance.enable=false
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
EOF
	cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
# Each start would otherwise dump every config value (~400 lines).
log4j.logger.kafka.server.KafkaConfig=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
EOF
}

config_value() { # config_value DIR KEY
	sed -n "s/^$2=//p" "$1/server.properties" | head -n 1
}

# The broker is started detached, so once it exits it is a zombie until
# whatever adopted it reaps it, which can take a second or more. kill -0 and
# `tail --pid` count zombies as alive; this does not.
alive() { # alive PID
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# wait_gone PID SECONDS: succeeds once PID is gone, fails on timeout.
wait_gone() {
	local deadline=$((SECONDS + $2))
	while alive "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# The pid in DIR/broker.pid if that process is alive and is this DIR's broker.
running_pid() {
	local dir="$1" pid
	pid="$(cat "$dir/broker.pid" 2>/dev/null || true)"
	[ -n "$pid" ] || return 1
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
		grep -qF "$dir/server.properties" || return 1
	echo "$pid"
}

# The errors of the latest run (shutdown chatter tends to push them out of
# the tail), then the tail itself.
log_tail() {
	local dir="$1"
	echo "----- errors of this run in $dir/broker.log -----" >&2
	# Each ERROR/FATAL line, and the exception line that follows it.
	awk '/^===== broker.sh start/ { n = 0; delete e; next }
	     after && !/^\[/ && n < 40 { e[n++] = $0 }
	     { after = 0 }
	     /^\[[^]]*\] (ERROR|FATAL) / && n < 40 { e[n++] = $0; after = 1 }
	     END { for (i = 0; i < n; i++) print e[i] }' \
		"$dir/broker.log" 2>/dev/null | cut -c1-2000 >&2 || true
	echo "----- last 50 lines of $dir/broker.log -----" >&2
	tail -n 50 "$dir/broker.log" >&2 2>/dev/null || true
	echo "-----" >&2
}

# --- readiness -----------------------------------------------------------

KCAT=""
if command -v kcat >/dev/null 2>&1; then
	KCAT=kcat
elif command -v kafkacat >/dev/null 2>&1; then
	KCAT=kafkacat
fi

# Succeeds when the broker answers a metadata request and lists itself.
# A plain TCP connect comes first: it fails at once while nothing listens,
# whereas librdkafka would keep retrying for its whole metadata timeout.
probe() { # probe BOOTSTRAP
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null || return 1
	if [ -n "$KCAT" ]; then
		local md
		md="$("$KCAT" -L -b "$1" -m 5 -q 2>/dev/null)" || return 1
		[[ "$md" == *"broker 1 at"* ]]
	else
		python - "$1" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=2)
sys.exit(0 if 1 in md.brokers else 1)
EOF
	fi
}

# --- commands ------------------------------------------------------------

start_watchdog() { # start_watchdog DIR OWNERPID
	# Own session and process group, so `stop` can end it and its tail.
	setsid "${BASH_SOURCE[0]}" _watchdog --dir "$1" --owner-pid "$2" \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$1/watchdog.pid"
}

# Runs detached: stops DIR's broker once OWNERPID has exited.
cmd_watchdog() { # cmd_watchdog DIR OWNERPID
	tail --pid="$2" -f /dev/null
	rm -f "$1/watchdog.pid"
	cmd_stop "$1" >/dev/null 2>&1
}

stop_watchdog() {
	local dir="$1" wpid
	wpid="$(cat "$dir/watchdog.pid" 2>/dev/null || true)"
	rm -f "$dir/watchdog.pid"
	[ -n "$wpid" ] || return 0
	tr '\0' ' ' <"/proc/$wpid/cmdline" 2>/dev/null | grep -q _watchdog ||
		return 0
	kill -TERM -- "-$wpid" 2>/dev/null || true
}

cmd_start() {
	local dir="$1" cache="$2" owner="$3"
	local t0 port cport bootstrap cp pid
	t0="$(now)"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	if pid="$(running_pid "$dir")"; then
		die "a broker is already running in $dir (pid $pid)"
	fi
	ensure_tools
	if [ -f "$dir/jars" ] && [ -z "$cache" ]; then
		cache="$(cat "$dir/jars")"
	fi
	[ -n "$cache" ] || cache="$(default_cache)"
	mkdir -p "$(dirname "$cache")"
	cache="$(cd "$(dirname "$cache")" && pwd)/$(basename "$cache")"
	fetch_jars "$cache"
	echo "$cache" >"$dir/jars"
	cp="$(classpath "$cache")"
	local jsa cds=() cds_dump=()
	rm -f "$dir/cds-pending"
	if jsa="$(cds_archive "$cache")"; then
		if [ -s "$jsa" ]; then
			cds=(-XX:SharedArchiveFile="$jsa")
			cds_dump=("${cds[@]}")
		else
			cds_dump=(-XX:ArchiveClassesAtExit="$jsa.tmp.$$"
				"-Xlog:cds=error,cds+dynamic=error")
			echo "$jsa.tmp.$$ $jsa" >"$dir/cds-pending"
		fi
	fi

	if [ -f "$dir/server.properties" ] && [ -f "$dir/data/meta.properties" ]; then
		port="$(config_value "$dir" advertised.listeners)"
		port="${port##*:}"
		note "reusing the formatted broker in $dir (port $port)"
	else
		rm -rf "$dir/data"
		read -r port cport < <(pick_ports)
		write_config "$dir" "$port" "$cport"
		# shellcheck disable=SC2086
		if ! java $JAVA_OPTS "${cds[@]}" \
			-Dlog4j.configuration="file:$dir/log4j.properties" \
			-cp "$cp" kafka.tools.StorageTool format \
			-t "$(cluster_id)" -c "$dir/server.properties" \
			>"$dir/format.log" 2>&1; then
			cat "$dir/format.log" >&2
			die "StorageTool format failed"
		fi
	fi
	bootstrap="127.0.0.1:$port"
	echo "$bootstrap" >"$dir/bootstrap"

	echo "===== broker.sh start $(date -Is) =====" >>"$dir/broker.log"
	# shellcheck disable=SC2086
	setsid java $JAVA_OPTS "${cds_dump[@]}" \
		-Dlog4j.configuration="file:$dir/log4j.properties" \
		-Dkafka.logs.dir="$dir" \
		-cp "$cp" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/broker.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/broker.pid"
	[ -n "$owner" ] && start_watchdog "$dir" "$owner"

	local deadline=$((SECONDS + START_TIMEOUT))
	until probe "$bootstrap"; do
		if ! alive "$pid"; then
			log_tail "$dir"
			stop_watchdog "$dir"
			cds_finish "$dir" no
			rm -f "$dir/broker.pid"
			die "broker exited during startup (see $dir/broker.log)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail "$dir"
			cmd_stop "$dir"
			die "broker not ready after ${START_TIMEOUT}s (see $dir/broker.log)"
		fi
		sleep 0.1
	done
	note "broker ready at $bootstrap in $(elapsed "$t0")s (pid $pid)"
	echo "$bootstrap"
}

# cds_finish DIR yes|no: after the broker exited, keep (yes) or drop (no)
# the archive it dumped.
cds_finish() {
	local tmp jsa
	[ -f "$1/cds-pending" ] || return 0
	read -r tmp jsa <"$1/cds-pending" || return 0
	rm -f "$1/cds-pending"
	if [ "$2" = yes ] && [ -s "$tmp" ]; then
		mv -f "$tmp" "$jsa"
	else
		rm -f "$tmp"
	fi
}

cmd_stop() {
	local dir="$1" pid t0
	dir="$(cd "$dir" 2>/dev/null && pwd)" || return 0
	t0="$(now)"
	stop_watchdog "$dir"
	if ! pid="$(running_pid "$dir")"; then
		cds_finish "$dir" no
		rm -f "$dir/broker.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	if wait_gone "$pid" "$STOP_TIMEOUT"; then
		cds_finish "$dir" yes
	else
		note "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, killing"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || true
		cds_finish "$dir" no
	fi
	rm -f "$dir/broker.pid"
	note "broker stopped in $(elapsed "$t0")s"
}

cmd_create_topic() {
	local dir="$1" name="$2" parts="$3" bootstrap
	bootstrap="$(cat "$dir/bootstrap" 2>/dev/null)" ||
		die "no broker in $dir (missing $dir/bootstrap)"
	# The Python client answers in a fraction of a second; the JVM tool
	# needs a couple of seconds to start, so it is only the fallback.
	if python -c 'import confluent_kafka' 2>/dev/null; then
		python - "$bootstrap" "$name" "$parts" <<'EOF'
import sys, time
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
boot, name, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": boot})
fut = admin.create_topics([NewTopic(name, parts, 1)],
                          operation_timeout=30, request_timeout=30)[name]
try:
    fut.result(timeout=60)
except KafkaException as e:
    sys.exit(f"broker.sh: create-topic {name}: {e.args[0].str()}")
# Return once every partition has a leader, as the broker sees it.
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    t = admin.list_topics(topic=name, timeout=5).topics.get(name)
    if t and t.error is None and len(t.partitions) == parts and \
            all(p.leader >= 0 for p in t.partitions.values()):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(f"broker.sh: create-topic {name}: partitions have no leader")
EOF
	else
		local cp
		cp="$(classpath "$(cat "$dir/jars")")"
		# shellcheck disable=SC2086
		java $JAVA_OPTS -Dlog4j.configuration="file:$dir/log4j.properties" \
			-cp "$cp" org.apache.kafka.tools.TopicCommand \
			--bootstrap-server "$bootstrap" --create --topic "$name" \
			--partitions "$parts" --replication-factor 1 >&2
	fi
}

# The group as the broker's coordinator sees it: state, assignment
# strategy, and each member's group.instance.id (static membership).
cmd_describe_group() {
	local dir="$1" group="$2" bootstrap cp
	bootstrap="$(cat "$dir/bootstrap" 2>/dev/null)" ||
		die "no broker in $dir (missing $dir/bootstrap)"
	cp="$(classpath "$(cat "$dir/jars")")"
	# shellcheck disable=SC2086
	java $JAVA_OPTS -Dlog4j.configuration="file:$dir/log4j.properties" \
		-cp "$cp" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
		--bootstrap-server "$bootstrap" --describe --group "$group" --state
	# shellcheck disable=SC2086
	java $JAVA_OPTS -Dlog4j.configuration="file:$dir/log4j.properties" \
		-cp "$cp" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
		--bootstrap-server "$bootstrap" --describe --group "$group" --members
}

# --- main ----------------------------------------------------------------

[[ "$KAFKA_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
	die "KAFKA_VERSION must be MAJOR.MINOR.PATCH, not '$KAFKA_VERSION'"
[ $# -ge 1 ] || usage
command="$1"
shift
dir=""
cache=""
owner=""
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--dir)
		dir="$2"
		shift 2
		;;
	--cache)
		cache="$2"
		shift 2
		;;
	--owner-pid)
		owner="$2"
		shift 2
		;;
	-h | --help) usage ;;
	*)
		args+=("$1")
		shift
		;;
	esac
done

case "$command" in
start | stop | restart | create-topic | describe-group)
	[ -n "$dir" ] || die "$command needs --dir DIR"
	;;
esac

case "$command" in
start)
	cmd_start "$dir" "$cache" "$owner"
	;;
stop)
	cmd_stop "$dir"
	;;
restart)
	[ -f "$dir/data/meta.properties" ] || die "no formatted broker in $dir"
	cmd_stop "$dir"
	cmd_start "$dir" "$cache" "$owner"
	;;
create-topic)
	[ "${#args[@]}" -eq 2 ] || die "usage: create-topic --dir DIR NAME PARTITIONS"
	cmd_create_topic "$dir" "${args[0]}" "${args[1]}"
	;;
describe-group)
	[ "${#args[@]}" -eq 1 ] || die "usage: describe-group --dir DIR GROUP"
	cmd_describe_group "$dir" "${args[0]}"
	;;
fetch)
	ensure_tools
	[ -n "$cache" ] || cache="$(default_cache)"
	fetch_jars "$cache"
	echo "$cache"
	;;
_watchdog)
	cmd_watchdog "$dir" "$owner"
	;;
-h | --help | help) usage ;;
*)
	usage
	;;
esac
