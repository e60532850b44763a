#!/usr/bin/env bash
# Runs every case of compat/cases through Kafka Streams' TopologyTestDriver
# and writes what it printed to compat/golden (and each topology's
# describe() to compat/golden/describe). Needs Java 17 and Maven; fetches
# Kafka Streams from Maven Central on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
rm -rf ../golden
mkdir -p ../golden
java -cp "target/classes:$(cat target/classpath.txt)" brook.compat.Runner ../cases ../golden
