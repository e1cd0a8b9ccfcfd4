#!/usr/bin/env bash
# Prints the path of an executable that runs Temporal's time-skipping test server (the workflow
# unit tests' TestWorkflowEnvironment.createTimeSkipping), building it once if needed. The SDK would
# download it from temporal.download, which these machines cannot reach; the same server is the
# Java artifact io.temporal:temporal-test-server on Maven Central, which they can.
#
# Order, as scripts/ensure-temporal.sh does for the CLI: $TEMPORAL_TEST_SERVER, then
# <project>/.tools/bin/temporal-test-server (when built for this version and this JVM), else resolve
# the artifact and its runtime classpath with Maven into .tools/temporal-test-server-<version>/ and
# write the wrapper. The SDK runs `<executable> <port> [extra args]` and gives the server 5 seconds
# to answer: the wrapper execs `java ... io.temporal.testserver.TestServer "$@"` (same arguments;
# exec, so the SDK's kill reaches the JVM) with a class-data-sharing archive made here once, which
# brings the JVM's start from ~2.5 s to under 1 s on a loaded machine.
set -euo pipefail

TEST_SERVER_VERSION=1.38.0 # Java SDK release of 2026-08; the newest on Maven Central at the time
SLF4J_VERSION=1.7.36       # the test server's slf4j-api; slf4j-nop silences its "no binding" warning
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$project_root/.tools"
tools_bin="$tools/bin"
wrapper="$tools_bin/temporal-test-server"
home="$tools/temporal-test-server-$TEST_SERVER_VERSION"

fail() {
  echo "ensure-test-server: $*" >&2
  exit 1
}

if [[ -n "${TEMPORAL_TEST_SERVER:-}" ]]; then
  [[ -x "$TEMPORAL_TEST_SERVER" ]] || fail "TEMPORAL_TEST_SERVER=$TEMPORAL_TEST_SERVER is not an executable file"
  echo "$TEMPORAL_TEST_SERVER"
  exit 0
fi

# Installs Debian packages when a tool is missing (as scripts/ensure-postgres.sh does).
apt_install() {
  local what="$1"
  shift
  [[ "$(id -u)" -eq 0 ]] ||
    fail "$what is missing and installing it needs root: apt-get install $*, or set TEMPORAL_TEST_SERVER"
  command -v apt-get >/dev/null 2>&1 ||
    fail "$what is missing and there is no apt-get: install it, or set TEMPORAL_TEST_SERVER"
  export DEBIAN_FRONTEND=noninteractive
  echo "ensure-test-server: installing $* with apt-get..." >&2
  if ! apt-get install -y --no-install-recommends "$@" >&2; then
    apt-get update >&2 || fail "apt-get update failed"
    apt-get install -y --no-install-recommends "$@" >&2 || fail "apt-get install $* failed"
  fi
}

command -v java >/dev/null 2>&1 || apt_install Java openjdk-17-jre-headless
java_bin="$(readlink -f "$(command -v java)")"
# The archive only fits the JVM that made it: a different JVM means a rebuild of the archive.
jvm_stamp="$java_bin $("$java_bin" -version 2>&1 | tr '\n' ' ')"

if [[ -x "$wrapper" && -f "$home/jvm.stamp" && "$(cat "$home/jvm.stamp")" == "$jvm_stamp" ]]; then
  echo "$wrapper"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || apt_install Maven maven
echo "ensure-test-server: resolving io.temporal:temporal-test-server:$TEST_SERVER_VERSION with Maven into $home (once)..." >&2
mkdir -p "$home" "$tools_bin"
cat >"$home/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ovirt-tasks</groupId>
  <artifactId>temporal-test-server-classpath</artifactId>
  <version>0</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEST_SERVER_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-nop</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
# The jars are copied next to the wrapper (nothing reads ~/.m2 afterwards); the classpath file
# names them in Maven's order.
rm -rf "$home/lib"
mvn -B -q -f "$home/pom.xml" -Dmdep.includeScope=runtime \
  dependency:copy-dependencies -DoutputDirectory="$home/lib" \
  dependency:build-classpath -Dmdep.prefix="$home/lib" -Dmdep.outputFile="$home/classpath.txt" >&2 ||
  fail "Maven could not resolve io.temporal:temporal-test-server:$TEST_SERVER_VERSION (is Maven Central reachable?)"
[[ -s "$home/classpath.txt" ]] || fail "Maven wrote no classpath to $home/classpath.txt"

jvm_opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k)
classpath="$(cat "$home/classpath.txt")"

# Class-data-sharing archive: run the server once, let it answer, stop it; the JVM writes the
# classes it loaded at exit. Best effort: without the archive the wrapper still works, only slower.
rm -f "$home/classes.jsa"
free_port="$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")"
"$java_bin" "${jvm_opts[@]}" -XX:ArchiveClassesAtExit="$home/classes.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off \
  -cp "$classpath" io.temporal.testserver.TestServer "$free_port" >"$home/archive.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  (: >"/dev/tcp/127.0.0.1/$free_port") 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 1 # let it load what serving a first connection needs
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
[[ -s "$home/classes.jsa" ]] || echo "ensure-test-server: no class-data archive (see $home/archive.log); the server starts slower" >&2

cat >"$wrapper.tmp" <<EOF
#!/usr/bin/env bash
# Temporal's time-skipping test server $TEST_SERVER_VERSION (Java), written by scripts/ensure-test-server.sh.
# Usage: temporal-test-server <port> [--enable-time-skipping]
share=()
[[ -f '$home/classes.jsa' ]] && share=(-XX:SharedArchiveFile='$home/classes.jsa' -Xlog:cds=off -Xlog:cds+dynamic=off)
exec '$java_bin' ${jvm_opts[*]} "\${share[@]}" -cp '$classpath' io.temporal.testserver.TestServer "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"
echo "$jvm_stamp" >"$home/jvm.stamp"
echo "$wrapper"
